//! `flotilla lab update N`: a rolling update of N replicas (default 6, three batches) with
//! parallelism 2 and delay 1 s
//! (stop-first, both systems' default order): total time from the change to the update
//! completed with N running, and the longest stretch with fewer than N − 2 tasks running.

use std::time::Duration;

use tokio::time::Instant;

use super::report::Report;
use super::stats::{fewest_running, longest_gap_below, Sample};
use super::system::{remove_and_wait, wait_running, ServiceSpec, System, POLL};
use super::{timeout_for, Params};

pub const PARALLELISM: usize = 2;
pub const DELAY: Duration = Duration::from_secs(1);

/// One repeat's figures.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub total: f64,
    pub gap: f64,
    pub fewest: usize,
}

/// Changes the environment of `service` (running N) to `value` and samples the running count
/// until the update completed: N running, none of them a container from before the change.
/// (Checking the containers as well as the update status keeps a status left `completed` by
/// the previous repeat from ending this one early.)
pub async fn once<S: System>(
    sys: &mut S,
    service: &str,
    n: usize,
    value: &str,
) -> anyhow::Result<Outcome> {
    let old = sys.containers(service)?;
    let start = Instant::now();
    sys.update_env(service, value).await?;
    let mut samples = Vec::new();
    let total = loop {
        let running = sys.running(service).await?;
        let at = start.elapsed().as_secs_f64();
        samples.push(Sample { at, running });
        if running >= n
            && !sys.containers(service)?.iter().any(|c| old.contains(c))
            && sys.update_completed(service).await?
        {
            break at;
        }
        anyhow::ensure!(
            start.elapsed() < timeout_for(n) * 2,
            "{}: the update of {service} did not complete",
            sys.name(),
        );
        tokio::time::sleep(POLL).await;
    };
    let threshold = n.saturating_sub(PARALLELISM);
    Ok(Outcome {
        total,
        gap: longest_gap_below(&samples, threshold),
        fewest: fewest_running(&samples).unwrap_or(0),
    })
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let n = p.n.unwrap_or(6);
    let mut report = Report::new(&format!("update {n}"));
    let gap_metric = format!(
        "longest gap below {} running",
        n.saturating_sub(PARALLELISM)
    );
    p.on_swarm(&mut report, async |swarm, r| {
        record(r, "swarm", &gap_metric, repeat(swarm, n, p.repeat).await?);
        Ok(())
    })
    .await?;
    p.on_flotilla(&mut report, 1, async |f, r| {
        record(r, "flotilla", &gap_metric, repeat(f, n, p.repeat).await?);
        Ok(())
    })
    .await?;
    report.note(format!(
        "parallelism {PARALLELISM}, delay {DELAY:?}, order stop-first; the change: an environment variable"
    ));
    Ok(report)
}

/// One service, converged once, then `repeat` rolling updates of it (each a new value): every
/// repeat measures the same thing, a rolling update from N running, without a service to
/// create, converge and remove around each.
async fn repeat<S: System>(sys: &mut S, n: usize, repeat: usize) -> anyhow::Result<Vec<Outcome>> {
    let mut spec = ServiceSpec::new("lab-update", n);
    spec.update = Some((PARALLELISM, DELAY));
    sys.create(&spec).await?;
    wait_running(sys, &spec.name, n, Instant::now(), timeout_for(n)).await?;
    let mut out = Vec::new();
    for i in 0..repeat {
        let o = once(sys, &spec.name, n, &(i + 2).to_string()).await?;
        println!(
            "  {} repeat {}: {:.2}s, longest gap {:.2}s, fewest running {}",
            sys.name(),
            i + 1,
            o.total,
            o.gap,
            o.fewest
        );
        out.push(o);
    }
    remove_and_wait(sys, &spec.name).await?;
    Ok(out)
}

fn record(r: &mut Report, system: &str, gap_metric: &str, outcomes: Vec<Outcome>) {
    r.add(
        system,
        "update total",
        "s",
        outcomes.iter().map(|o| o.total).collect(),
    );
    r.add(
        system,
        gap_metric,
        "s",
        outcomes.iter().map(|o| o.gap).collect(),
    );
    r.add(
        system,
        "fewest running",
        "tasks",
        outcomes.iter().map(|o| o.fewest as f64).collect(),
    );
}
