//! `flotilla lab footprint [N]`: processes, resident memory and CPU of each control plane,
//! idle and running a service of N replicas (default 100). Swarm's control plane lives in
//! dockerd (with containerd under it); Flotilla's split plane is etcd, api-server, scheduler,
//! controller-manager and its agent; the all-in-one is one process plus the agent. Both
//! Flotilla variants run their containers on the same dockerd, measured as its own row.

use std::time::Duration;

use tokio::time::Instant;

use super::flotilla::Flotilla;
use super::procstat::{cpu_ticks, engine_pids, pids_named, rss_kib, ticks_per_sec};
use super::report::Report;
use super::stats::cpu_percent;
use super::system::{wait_running, ServiceSpec, System};
use super::{timeout_for, Params};

/// How long one CPU reading lasts.
const WINDOW: Duration = Duration::from_secs(2);

/// One reading of a set of processes.
#[derive(Debug, Clone, Copy)]
struct Reading {
    processes: usize,
    rss_mib: f64,
    cpu_percent: f64,
}

/// Reads each set of processes' CPU over the same [`WINDOW`], then its RSS.
async fn read(sets: &[&[u32]]) -> Vec<Reading> {
    let ticks = |pids: &[u32]| pids.iter().filter_map(|&p| cpu_ticks(p)).sum::<u64>();
    let before: Vec<u64> = sets.iter().map(|pids| ticks(pids)).collect();
    let start = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let seconds = start.elapsed().as_secs_f64();
    sets.iter()
        .zip(before)
        .map(|(pids, before)| Reading {
            processes: pids.len(),
            rss_mib: pids.iter().filter_map(|&p| rss_kib(p)).sum::<u64>() as f64 / 1024.0,
            cpu_percent: cpu_percent(before, ticks(pids), ticks_per_sec(), seconds),
        })
        .collect()
}

/// `repeat` readings of each `(system, pids)`, taken in the same windows (so a system and
/// the engine under it are read at the same moments), added to the report as
/// `<what>: processes / RSS / CPU`.
async fn record(r: &mut Report, what: &str, sets: &[(&str, &[u32])], repeat: usize) {
    let pids: Vec<&[u32]> = sets.iter().map(|(_, p)| *p).collect();
    let mut readings: Vec<Vec<Reading>> = Vec::new();
    for _ in 0..repeat {
        readings.push(read(&pids).await);
    }
    for (k, (system, _)) in sets.iter().enumerate() {
        let col = |f: fn(&Reading) -> f64| readings.iter().map(|x| f(&x[k])).collect::<Vec<f64>>();
        r.add(
            system,
            &format!("{what}: processes"),
            "count",
            col(|x| x.processes as f64),
        );
        r.add(system, &format!("{what}: RSS"), "MiB", col(|x| x.rss_mib));
        r.add(
            system,
            &format!("{what}: CPU"),
            "% core",
            col(|x| x.cpu_percent),
        );
    }
}

/// Idle, then N replicas: readings of `pids()` (and of the engine under Flotilla).
async fn idle_and_loaded<S: System>(
    sys: &mut S,
    r: &mut Report,
    label: &str,
    pids: &dyn Fn(&S) -> Vec<u32>,
    n: usize,
    repeat: usize,
) -> anyhow::Result<()> {
    record(r, "idle", &[(label, &pids(sys))], repeat).await;
    let spec = ServiceSpec::new("lab-footprint", n);
    let start = Instant::now();
    sys.create(&spec).await?;
    let t = wait_running(sys, &spec.name, n, start, timeout_for(n)).await?;
    println!("  {label}: {n}/{n} after {t:.1}s");
    r.add(
        label,
        &format!("{n} replicas: time to {n}/{n}"),
        "s",
        vec![t],
    );
    let what = format!("{n} replicas");
    let (own, engine) = (pids(sys), engine_pids());
    if label == "swarm" {
        record(r, &what, &[(label, &own)], repeat).await;
    } else {
        let engine_label = format!("{label}: dockerd+containerd");
        record(r, &what, &[(label, &own), (&engine_label, &engine)], repeat).await;
    }
    let shims: Vec<u32> = pids_named("containerd-shim", true);
    let shim_rss: u64 = shims.iter().filter_map(|&p| rss_kib(p)).sum();
    r.note(format!(
        "{label}: {} containerd-shim processes ({:.0} MiB) with {n} replicas: one per container on this engine (other users' included), the same for both systems, not counted above",
        shims.len(),
        shim_rss as f64 / 1024.0
    ));
    // No removal wait: `docker swarm leave --force` removes the swarm's containers, and a
    // Flotilla cluster's shutdown `docker rm -f`s its agents' containers.
    Ok(())
}

fn flotilla_pids(f: &Flotilla) -> Vec<u32> {
    f.pids().into_iter().map(|(_, pid)| pid).collect()
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let n = p.n.unwrap_or(100);
    let mut report = Report::new(&format!("footprint {n}"));
    if p.only.as_deref() != Some("flotilla") {
        let engine = engine_pids();
        record(
            &mut report,
            "swarm inactive",
            &[("docker engine", &engine)],
            p.repeat,
        )
        .await;
    }
    p.on_swarm(&mut report, async |swarm, r| {
        idle_and_loaded(swarm, r, "swarm", &|_| engine_pids(), n, p.repeat).await
    })
    .await?;
    p.on_flotilla(&mut report, 1, async |f, r| {
        idle_and_loaded(f, r, "flotilla", &flotilla_pids, n, p.repeat).await
    })
    .await?;
    if p.only.as_deref() != Some("swarm") {
        println!("-- flotilla all-in-one");
        let mut aio = Flotilla::start_all_in_one().await?;
        let result = idle_and_loaded(
            &mut aio,
            &mut report,
            "flotilla-aio",
            &flotilla_pids,
            n,
            p.repeat,
        )
        .await;
        aio.shutdown().await;
        result?;
    }
    report.note(format!(
        "CPU in % of one core over {WINDOW:?} windows; one node each; the swarm rows are dockerd+containerd, which also run Flotilla's containers (the `dockerd+containerd` rows under flotilla)"
    ));
    Ok(report)
}
