//! `flotilla lab quorum`: Flotilla over a 3-member etcd cluster. Lose one member: writes go
//! on. Lose two: writes are refused (the error a client gets, what kubectl shows for reads).
//! Restore both: writes are accepted again and every write acknowledged before is still
//! there. Swarm's managers keep their own Raft log inside dockerd; a single engine cannot show
//! a manager set losing quorum, so its side is explained in docs/lessons/raft-quorum.md from
//! Docker's documented behaviour.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams, PostParams};
use tokio::time::Instant;

use super::flotilla::{free_port, Flotilla};
use super::leader::kubectl_get;
use super::report::Report;
use super::Params;
use crate::up::setup::serving;
use crate::up::Procs;

const WRITE_PATIENCE: Duration = Duration::from_secs(20);

/// Three etcd members on loopback, `m1`…`m3`, serving; started again on other ports when a
/// port was taken between being picked and being bound.
async fn start_etcd(procs: &mut Procs, dir: &Path) -> anyhow::Result<String> {
    const ATTEMPTS: usize = 5;
    for attempt in 1..=ATTEMPTS {
        let (urls, ports) = spawn_members(procs, dir)?;
        match serving(procs, &ports).await {
            Ok(()) => return Ok(urls),
            Err(log) if attempt < ATTEMPTS && log.contains("address already in use") => {
                println!("  an etcd port was taken before etcd bound it; trying other ports");
                procs.kill_all();
                for m in ["m1", "m2", "m3"] {
                    let _ = std::fs::remove_dir_all(dir.join(m));
                }
            }
            Err(log) => anyhow::bail!("etcd did not start:\n{log}"),
        }
    }
    unreachable!("the last attempt returns")
}

/// Spawns the members on fresh ports: the client URLs and the client ports.
fn spawn_members(procs: &mut Procs, dir: &Path) -> anyhow::Result<(String, Vec<u16>)> {
    let ports: Vec<(u16, u16)> = (0..3)
        .map(|_| Ok((free_port()?, free_port()?)))
        .collect::<anyhow::Result<_>>()?;
    let cluster: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("m{}=http://127.0.0.1:{peer}", i + 1))
        .collect();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    for (i, (client, peer)) in ports.iter().enumerate() {
        let name = format!("m{}", i + 1);
        let args = vec![
            format!("--name={name}"),
            format!("--data-dir={}", dir.join(&name).display()),
            format!("--listen-client-urls=http://127.0.0.1:{client}"),
            format!("--advertise-client-urls=http://127.0.0.1:{client}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-cluster={}", cluster.join(",")),
            "--initial-cluster-state=new".into(),
            "--log-level=warn".into(),
        ];
        procs.spawn(&format!("etcd-{name}"), Path::new("etcd"), &args, &logs)?;
    }
    let urls: Vec<String> = ports
        .iter()
        .map(|(c, _)| format!("http://127.0.0.1:{c}"))
        .collect();
    Ok((urls.join(","), ports.iter().map(|(c, _)| *c).collect()))
}

/// Creates Lease `default/<name>`: Ok(seconds) when acknowledged, Err(message) when refused
/// or unanswered within [`WRITE_PATIENCE`].
async fn write(client: &kube::Client, name: &str) -> (f64, Result<(), String>) {
    let api: Api<Lease> = Api::namespaced(client.clone(), "default");
    let mut lease = Lease::default();
    lease.metadata.name = Some(name.into());
    let start = Instant::now();
    let result = match tokio::time::timeout(
        WRITE_PATIENCE,
        api.create(&PostParams::default(), &lease),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(kube::Error::Api(status))) => Err(format!(
            "{} {}: {}",
            status.code, status.reason, status.message
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {WRITE_PATIENCE:?}")),
    };
    (start.elapsed().as_secs_f64(), result)
}

/// Retries a write until one is acknowledged; seconds from `start`.
async fn write_until_accepted(
    client: &kube::Client,
    prefix: &str,
    start: Instant,
) -> anyhow::Result<f64> {
    for attempt in 0..60 {
        if write(client, &format!("{prefix}-{attempt}"))
            .await
            .1
            .is_ok()
        {
            return Ok(start.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("no write accepted within 60 attempts after restoring quorum")
}

struct Cycle {
    lose_one_write: f64,
    lose_two_refusal: f64,
    restore_accepted: f64,
}

async fn cycle(
    f: &mut Flotilla,
    etcd: &mut Procs,
    logs: &Path,
    r: &mut Report,
    i: usize,
    acked: &mut Vec<String>,
) -> anyhow::Result<Cycle> {
    let client = f.client();
    let kubeconfig = f.cluster()?.kubeconfig().to_path_buf();
    let m3 = etcd
        .kill("etcd-m3")
        .ok_or_else(|| anyhow::anyhow!("no etcd-m3"))?;
    // A client retries: the api-server's etcd client may have been talking to the member just
    // killed, and its first request can fail before it moves to another.
    let start = Instant::now();
    let mut failed = Vec::new();
    let name = loop {
        let name = format!("lab-q{i}-one-{}", failed.len());
        match write(&client, &name).await.1 {
            Ok(()) => break name,
            Err(e) if start.elapsed() < WRITE_PATIENCE => failed.push(e),
            Err(e) => anyhow::bail!("no write accepted with 2 of 3 members: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let lose_one_write = start.elapsed().as_secs_f64();
    for e in &failed {
        r.note(format!(
            "2 of 3 members, cycle {}: a write failed before a retry succeeded: «{e}»",
            i + 1
        ));
    }
    acked.push(name);
    let m2 = etcd
        .kill("etcd-m2")
        .ok_or_else(|| anyhow::anyhow!("no etcd-m2"))?;
    let (lose_two_refusal, res) = write(&client, &format!("lab-q{i}-two")).await;
    let (read_ok, read_said) = kubectl_get(&kubeconfig, &["leases"]);
    match &res {
        Err(e) => r.note(format!(
            "1 of 3 members, cycle {}: the write was refused after {lose_two_refusal:.1}s: «{e}»",
            i + 1
        )),
        Ok(()) => r.note("1 of 3 members: a write was ACCEPTED (unexpected)"),
    }
    if i == 0 {
        r.note(format!(
            "1 of 3 members: kubectl get leases {} «{read_said}»",
            if read_ok { "answered" } else { "failed:" }
        ));
    }
    anyhow::ensure!(res.is_err(), "a write without quorum was acknowledged");
    let start = Instant::now();
    etcd.respawn(&m2, logs)?;
    etcd.respawn(&m3, logs)?;
    let restore_accepted = write_until_accepted(&client, &format!("lab-q{i}-back"), start).await?;
    acked.push(format!("lab-q{i}-back-ok"));
    Ok(Cycle {
        lose_one_write,
        lose_two_refusal,
        restore_accepted,
    })
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let mut report = Report::new("quorum");
    if p.only.as_deref() == Some("swarm") {
        return Ok(report);
    }
    println!("-- flotilla over 3 etcd members");
    let dir = tempfile::Builder::new()
        .prefix("flotilla-lab-etcd")
        .tempdir()?;
    let mut etcd = Procs::default();
    let urls = start_etcd(&mut etcd, dir.path()).await?;
    let mut f = Flotilla::start(1, Some(urls)).await?;
    let logs = dir.path().join("logs");
    let mut acked = Vec::new();
    let mut cycles = Vec::new();
    let mut result = Ok(());
    for i in 0..p.repeat {
        match cycle(&mut f, &mut etcd, &logs, &mut report, i, &mut acked).await {
            Ok(c) => cycles.push(c),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if result.is_ok() {
        let api: Api<Lease> = Api::namespaced(f.client(), "default");
        let names: Vec<String> = api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|l| l.metadata.name)
            .collect();
        let lost: Vec<&String> = acked
            .iter()
            .filter(|a| !a.ends_with("-ok") && !names.contains(a))
            .collect();
        let refused_kept = names.iter().filter(|n| n.ends_with("-two")).count();
        let checked = acked.iter().filter(|a| !a.ends_with("-ok")).count();
        report.note(format!(
            "after restore: {checked} acknowledged writes checked, {} lost",
            lost.len()
        ));
        report.note(format!(
            "{refused_kept} of {} writes refused without quorum were applied once it returned: a timeout is an unknown outcome, not a rejection (etcd had already proposed them)",
            cycles.len()
        ));
        if !lost.is_empty() {
            result = Err(anyhow::anyhow!("acknowledged writes lost: {lost:?}"));
        }
    }
    f.shutdown().await;
    etcd.stop_all(Duration::from_secs(5)).await;
    result?;
    report.add(
        "flotilla",
        "2 of 3 members: write acknowledged in",
        "s",
        cycles.iter().map(|c| c.lose_one_write).collect(),
    );
    report.add(
        "flotilla",
        "1 of 3 members: write refused after",
        "s",
        cycles.iter().map(|c| c.lose_two_refusal).collect(),
    );
    report.add(
        "flotilla",
        "members restored → write accepted",
        "s",
        cycles.iter().map(|c| c.restore_accepted).collect(),
    );
    report.note("Swarm: a manager set keeps working with a majority; without one it refuses changes (services, nodes, secrets) while running tasks keep running (docs/lessons/raft-quorum.md)");
    Ok(report)
}
