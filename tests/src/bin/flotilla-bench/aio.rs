//! `flotilla-bench aio`: the one-daemon mode's footprint and write path. It starts the release
//! `flotilla all-in-one` over a fresh data dir on the disk of `--dir` and reports
//! 1. its resident memory idle (no nodes, no objects) after `--idle` seconds,
//! 2. create throughput through it (kube-rs, `--concurrency` in flight, SwarmConfigs of about
//!    1 KiB) against the raw write rate of the same store (`SqliteStore::create`, same
//!    concurrency, values of the stored size) in the same run: the ratio is what the api-server
//!    costs on top of its store,
//! 3. its resident memory with `--nodes` simulated nodes (in `--agents` separate
//!    `flotilla-node-agent` processes, so the figure is the control plane's) running
//!    `--replicas` tasks, and how long those took to be Running.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flotilla_api::node::NodeState;
use flotilla_api::{SwarmConfig, SwarmService};
use flotilla_api_server::storage::{SqliteStore, Store};
use kube::api::{Api, PostParams};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::agents::{Agent, AgentSettings};
use crate::phases::{apply_replicated, bin_dir, free_port};
use crate::tracker::Tracker;

#[derive(clap::Args, Debug, Clone)]
pub struct AioArgs {
    #[arg(long, default_value_t = 1_000)]
    pub nodes: usize,
    #[arg(long, default_value_t = 10_000)]
    pub replicas: usize,
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Creates through the api-server (and raw store writes).
    #[arg(long, default_value_t = 3_000)]
    pub creates: usize,
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds to let the fresh process settle before reading its idle RSS.
    #[arg(long, default_value_t = 10)]
    pub idle: u64,
    #[arg(long, default_value = "50ms", value_parser = flotilla_api::duration::parse_duration)]
    pub latency: Duration,
    /// A directory on the disk to measure (not a tmpfs).
    #[arg(long, default_value = "/var/tmp")]
    pub dir: PathBuf,
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Keep the data dir and the logs (all-in-one's `aio/aio.log`, the agents' `logs/`) after the
    /// run, and print where they are.
    #[arg(long)]
    pub keep: bool,
}

/// What the resident set is made of: anonymous memory (heap, stacks) and file pages (mostly the
/// binary's own code and data, read in as it runs).
fn rss_split(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mib = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    format!(
        "anon {:.1}, file {:.1} MiB, {threads} threads",
        mib("RssAnon:"),
        mib("RssFile:")
    )
}

/// Current and peak resident set of a process, MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> f64 {
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn start_aio(
    bin_dir: &Path,
    data: &Path,
    port: u16,
) -> anyhow::Result<(Child, kube::Client)> {
    let log = std::fs::File::create(data.join("aio.log"))?;
    let child = Command::new(bin_dir.join("flotilla"))
        .args(["all-in-one", "--port", &port.to_string(), "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()?;
    let kubeconfig = data.join("kubeconfig");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if kubeconfig.exists() {
            if let Ok(client) = flotilla_component::client_from_kubeconfig(Some(&kubeconfig)).await
            {
                let api: Api<SwarmConfig> = Api::default_namespaced(client.clone());
                if api.list(&Default::default()).await.is_ok() {
                    return Ok((child, client));
                }
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "all-in-one did not serve in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn config(name: &str) -> SwarmConfig {
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 700]);
    serde_json::from_value(serde_json::json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmConfig",
        "metadata": {"name": name}, "spec": {"data": data}
    }))
    .expect("a SwarmConfig")
}

/// `n` SwarmConfig creates with `inflight` at once; elapsed time.
async fn api_creates(client: kube::Client, n: usize, inflight: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..inflight {
        let api: Api<SwarmConfig> = Api::default_namespaced(client.clone());
        set.spawn(async move {
            for i in (w..n).step_by(inflight) {
                api.create(&PostParams::default(), &config(&format!("c{i:06}")))
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(start.elapsed())
}

/// `n` raw store creates of `bytes` each with `inflight` at once; elapsed time.
async fn raw_creates(
    dir: &Path,
    n: usize,
    inflight: usize,
    bytes: usize,
) -> anyhow::Result<Duration> {
    let store = Arc::new(SqliteStore::open(dir)?);
    let value = Bytes::from(vec![b'x'; bytes]);
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..inflight {
        let (store, value) = (store.clone(), value.clone());
        set.spawn(async move {
            for i in (w..n).step_by(inflight) {
                let key = format!("/registry/flotilla.dev/swarmconfigs/default/c{i:06}");
                store.create(&key, value.clone()).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(start.elapsed())
}

pub async fn run(args: AioArgs) -> anyhow::Result<()> {
    let bin_dir = bin_dir(args.bin_dir.as_deref())?;
    let mut root = tempfile::tempdir_in(&args.dir)?;
    if args.keep {
        root.disable_cleanup(true);
        println!("data dir and logs kept in {}", root.path().display());
    }
    let data = root.path().join("aio");
    std::fs::create_dir_all(&data)?;
    let (mut aio, client) = start_aio(&bin_dir, &data, free_port()).await?;
    let pid = aio.id().unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let (idle, _) = rss_mib(pid);
    println!(
        "idle: all-in-one RSS {idle:.1} MiB ({}) after {} s",
        rss_split(pid),
        args.idle
    );

    let n = args.creates;
    let through = api_creates(client.clone(), n, args.concurrency).await?;
    let stored = serde_json::to_vec(&config("c000000"))?.len() + 300; // + metadata the server adds
    let raw = raw_creates(&root.path().join("raw"), n, args.concurrency, stored).await?;
    let (per_api, per_raw) = (
        n as f64 / through.as_secs_f64(),
        n as f64 / raw.as_secs_f64(),
    );
    println!(
        "creates ({n}, {} in flight): through all-in-one {per_api:.0}/s, raw SqliteStore {per_raw:.0}/s, ratio {:.2}",
        args.concurrency,
        per_api / per_raw
    );
    let (after_creates, _) = rss_mib(pid);
    println!("after {n} creates: all-in-one RSS {after_creates:.1} MiB");

    let logs = root.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let kubeconfig = data.join("kubeconfig");
    let settings = AgentSettings {
        bin_dir: &bin_dir,
        kubeconfig: &kubeconfig,
        logs: &logs,
        latency: args.latency,
    };
    let mut agents = Vec::new();
    for i in 0..args.agents {
        let share = args.nodes / args.agents + usize::from(i < args.nodes % args.agents);
        agents.push(Agent::start(&format!("n{i}"), share, &settings)?);
    }
    let tracker = Tracker::start(client.clone()).await?;
    let limit = Duration::from_secs(600);
    tracker
        .wait_nodes(NodeState::Ready, args.nodes, None, limit)
        .await?;
    let (with_nodes, _) = rss_mib(pid);
    println!(
        "{} nodes Ready: all-in-one RSS {with_nodes:.1} MiB",
        args.nodes
    );
    let services: Api<SwarmService> = Api::default_namespaced(client.clone());
    let r = args.replicas;
    let took = apply_replicated(&services, &tracker, args.replicas, limit).await?;
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let (loaded, peak) = rss_mib(pid);
    let agents_rss: f64 = agents.iter().map(|a| rss_mib(a.pid).0).sum();
    let db = std::fs::metadata(data.join("store/store.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let wal = std::fs::metadata(data.join("store/store.db-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "{} nodes, {r} tasks Running after {took:.1?}: all-in-one RSS {loaded:.1} MiB (peak {peak:.1}; {}), \
         agents {agents_rss:.1} MiB in all; store.db {:.1} MiB + WAL {:.1} MiB",
        args.nodes,
        rss_split(pid),
        db as f64 / 1048576.0,
        wal as f64 / 1048576.0
    );
    drop(tracker);
    for agent in &mut agents {
        agent.kill().await;
    }
    let _ = aio.kill().await;
    Ok(())
}
