//! `flotilla lab replace`: kill one task's container (`docker kill`, exit 137); time until a
//! replacement runs and the service is back to N/N. Once with each system's default restart
//! delay (5 s in both: Flotilla copies Swarm's default) and once with delay 0.

use std::time::Duration;

use tokio::time::Instant;

use super::report::Report;
use super::system::{docker, remove_and_wait, wait_running, wait_until, ServiceSpec, System};
use super::{timeout_for, Params};

const REPLICAS: usize = 3;

/// Seconds from the kill until another container of the service runs and the system reports
/// N running again, per repeat.
pub async fn measure<S: System>(
    sys: &mut S,
    delay: Option<Duration>,
    repeat: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut spec = ServiceSpec::new("lab-replace", REPLICAS);
    spec.restart_delay = delay;
    sys.create(&spec).await?;
    wait_running(
        sys,
        &spec.name,
        REPLICAS,
        Instant::now(),
        timeout_for(REPLICAS),
    )
    .await?;
    let mut times = Vec::new();
    for i in 0..repeat {
        let before = sys.containers(&spec.name)?;
        let victim = before
            .first()
            .ok_or_else(|| anyhow::anyhow!("{}: no running container to kill", sys.name()))?
            .clone();
        let start = Instant::now();
        docker(&["kill", &victim])?;
        let name = spec.name.clone();
        let t = wait_until(
            sys,
            "a replacement running",
            start,
            Duration::from_secs(60),
            async |s: &mut S| {
                let now = s.containers(&name)?;
                let replaced = !now.contains(&victim) && now.len() >= REPLICAS;
                Ok(replaced && s.running(&name).await? >= REPLICAS)
            },
        )
        .await?;
        println!("  {} repeat {}: replaced after {t:.2}s", sys.name(), i + 1);
        times.push(t);
    }
    remove_and_wait(sys, &spec.name).await?;
    Ok(times)
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let mut report = Report::new("replace");
    let cases = [
        ("replacement running, default delay (5s)", None),
        ("replacement running, delay 0", Some(Duration::ZERO)),
    ];
    p.on_swarm(&mut report, async |swarm, r| {
        for (metric, delay) in cases {
            r.add("swarm", metric, "s", measure(swarm, delay, p.repeat).await?);
        }
        Ok(())
    })
    .await?;
    p.on_flotilla(&mut report, 1, async |f, r| {
        for (metric, delay) in cases {
            r.add("flotilla", metric, "s", measure(f, delay, p.repeat).await?);
        }
        Ok(())
    })
    .await?;
    report.note(format!(
        "{REPLICAS} replicas; one container killed per repeat; done when another container runs and the system reports {REPLICAS}/{REPLICAS}"
    ));
    Ok(report)
}
