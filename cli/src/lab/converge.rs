//! `flotilla lab converge N`: create a service of N replicas; time until the first task and
//! until all N run, as each system reports it.

use tokio::time::Instant;

use super::report::Report;
use super::system::{remove_and_wait, wait_running, ServiceSpec, System};
use super::{timeout_for, Params};

/// Seconds to the first running task and to N/N, per repeat.
pub async fn measure<S: System>(
    sys: &mut S,
    n: usize,
    repeat: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut first, mut all) = (Vec::new(), Vec::new());
    for i in 0..repeat {
        let spec = ServiceSpec::new(&format!("lab-converge-{i}"), n);
        let start = Instant::now();
        sys.create(&spec).await?;
        first.push(wait_running(sys, &spec.name, 1, start, timeout_for(n)).await?);
        all.push(wait_running(sys, &spec.name, n, start, timeout_for(n)).await?);
        println!(
            "  {} repeat {}: {n}/{n} after {:.2}s",
            sys.name(),
            i + 1,
            all[i]
        );
        remove_and_wait(sys, &spec.name).await?;
    }
    Ok((first, all))
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let n = p.n.unwrap_or(10);
    let mut report = Report::new(&format!("converge {n}"));
    let add = |r: &mut Report, sys: &str, (first, all): (Vec<f64>, Vec<f64>)| {
        r.add(sys, "first task running", "s", first);
        r.add(sys, &format!("{n}/{n} running"), "s", all);
    };
    p.on_swarm(&mut report, async |swarm, r| {
        add(r, "swarm", measure(swarm, n, p.repeat).await?);
        Ok(())
    })
    .await?;
    p.on_flotilla(&mut report, 1, async |f, r| {
        add(r, "flotilla", measure(f, n, p.repeat).await?);
        Ok(())
    })
    .await?;
    report.note("one node each: Swarm's single engine; Flotilla one Docker-runtime agent on the same engine");
    Ok(report)
}
