//! `flotilla lab drain [N]`: drain a node running tasks of an N-replica service (default 6).
//! Flotilla runs three agents, so the drained node's tasks move: time until they stopped there
//! and until N run on the other nodes. This machine has one Docker engine, so the swarm has
//! one node: draining it stops its tasks, which stay Pending ("no suitable node") until it is
//! active again; compared are the time to stop the tasks and, for Swarm, the time back to N/N
//! after `--availability active`.

use std::time::Duration;

use flotilla_api::TaskState;
use tokio::time::Instant;

use super::flotilla::Flotilla;
use super::report::Report;
use super::swarm::Swarm;
use super::system::{docker_ps, remove_and_wait, wait_running, wait_until, ServiceSpec, System};
use super::{timeout_for, Params};

const DRAINED: &str = "lab-1";
const TIMEOUT: Duration = Duration::from_secs(90);

/// Per repeat: (drained node's tasks stopped, N running elsewhere).
async fn flotilla_once(f: &mut Flotilla, n: usize, i: usize) -> anyhow::Result<(f64, f64)> {
    let spec = ServiceSpec::new(&format!("lab-drain-{i}"), n);
    f.create(&spec).await?;
    wait_running(f, &spec.name, n, Instant::now(), timeout_for(n)).await?;
    let on_node = format!("flotilla.dev/node={DRAINED}");
    let service_label = f.container_label(&spec.name);
    let node_has = |label: &str| -> anyhow::Result<usize> {
        let service: Vec<String> = docker_ps(label)?;
        Ok(docker_ps(&on_node)?
            .iter()
            .filter(|c| service.contains(c))
            .count())
    };
    anyhow::ensure!(
        node_has(&service_label)? > 0,
        "the scheduler put no task of {} on {DRAINED}",
        spec.name
    );
    let start = Instant::now();
    f.set_availability(DRAINED, "drain").await?;
    let stopped = wait_until(
        f,
        "drained node's tasks stopped",
        start,
        TIMEOUT,
        async |_: &mut Flotilla| Ok(node_has(&service_label)? == 0),
    )
    .await?;
    let name = spec.name.clone();
    let moved = wait_until(
        f,
        "N running on the other nodes",
        start,
        TIMEOUT,
        async |f: &mut Flotilla| {
            let tasks = f.tasks(&name).await?;
            let elsewhere = tasks
                .iter()
                .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::Running))
                .filter(|t| t.spec.desired_state == TaskState::Running)
                .filter(|t| t.spec.node_name.as_deref() != Some(DRAINED))
                .count();
            Ok(elsewhere >= n)
        },
    )
    .await?;
    f.set_availability(DRAINED, "active").await?;
    remove_and_wait(f, &spec.name).await?;
    Ok((stopped, moved))
}

/// Per repeat: (tasks stopped after drain, N running after active).
async fn swarm_once(s: &mut Swarm, n: usize, i: usize) -> anyhow::Result<(f64, f64)> {
    let spec = ServiceSpec::new(&format!("lab-drain-{i}"), n);
    s.create(&spec).await?;
    wait_running(s, &spec.name, n, Instant::now(), timeout_for(n)).await?;
    let start = Instant::now();
    s.set_availability("drain")?;
    let name = spec.name.clone();
    let stopped = wait_until(
        s,
        "drained node's tasks stopped",
        start,
        TIMEOUT,
        async |s: &mut Swarm| Ok(s.containers(&name)?.is_empty()),
    )
    .await?;
    let start = Instant::now();
    s.set_availability("active")?;
    let back = wait_running(s, &spec.name, n, start, TIMEOUT).await?;
    remove_and_wait(s, &spec.name).await?;
    Ok((stopped, back))
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let n = p.n.unwrap_or(6);
    let mut report = Report::new(&format!("drain {n}"));
    p.on_swarm(&mut report, async |s, r| {
        let mut out = Vec::new();
        for i in 0..p.repeat {
            out.push(swarm_once(s, n, i).await?);
        }
        r.add(
            "swarm",
            "drain → node's tasks stopped",
            "s",
            out.iter().map(|o| o.0).collect(),
        );
        r.add(
            "swarm",
            &format!("active again → {n}/{n}"),
            "s",
            out.iter().map(|o| o.1).collect(),
        );
        Ok(())
    })
    .await?;
    p.on_flotilla(&mut report, 3, async |f, r| {
        let mut out = Vec::new();
        for i in 0..p.repeat {
            out.push(flotilla_once(f, n, i).await?);
        }
        r.add(
            "flotilla",
            "drain → node's tasks stopped",
            "s",
            out.iter().map(|o| o.0).collect(),
        );
        r.add(
            "flotilla",
            &format!("drain → {n}/{n} on other nodes"),
            "s",
            out.iter().map(|o| o.1).collect(),
        );
        Ok(())
    })
    .await?;
    report.note("Swarm here has one node (one engine on this machine): its drained tasks wait Pending for a node; Flotilla has three agents and reschedules them");
    Ok(report)
}
