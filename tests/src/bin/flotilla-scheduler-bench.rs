//! Scheduler benchmark (not a test): real etcd + the api-server in-process, N SwarmNodes and M
//! Pending tasks created directly, then the release `flotilla-scheduler` binary as a separate
//! process. Prints time until all Assigned, tasks/s, the raw etcd put rate at the same
//! concurrency (same etcd, same run), their ratio, and the scheduler's CPU time and peak RSS.
//!
//! `cargo build --release -p flotilla-scheduler -p flotilla-tests --bin flotilla-scheduler --bin
//! flotilla-scheduler-bench` then `target/release/flotilla-scheduler-bench [nodes] [tasks]
//! [concurrency]` (defaults 1000, 10000, 64). See docs/benchmark.md.

use std::time::Duration;

use flotilla_api::TaskState;
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::swarm::{create_node, create_pending, task};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher;
use kube::Api;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use tokio::time::Instant;

// As in the api-server binary (docs/benchmark.md): the api-server runs in this process.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (nodes, tasks, concurrency) = (arg(1, 1_000), arg(2, 10_000), arg(3, 64));
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let setup = Instant::now();
    futures::stream::iter(0..nodes)
        .map(|i| {
            let admin = admin.clone();
            async move { create_node(&admin, &format!("node-{i:04}"), json!({})).await }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    futures::stream::iter(1..=tasks as i64)
        .map(|slot| {
            let admin = admin.clone();
            async move {
                create_pending(&admin, "default", &task("bench", slot, json!({}), None)?).await
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    println!(
        "setup: {nodes} nodes, {tasks} Pending tasks in {:.1?}",
        setup.elapsed()
    );

    // Half of the raw etcd puts run just before scheduling and half just after, so a change in
    // the machine's speed during the run falls on both sides of the ratio.
    let raw_before = raw_etcd_time(&server, "before", tasks / 2, concurrency).await?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let etcd_pid = server.etcd.as_ref().map(|e| e.pid()).unwrap_or(0);
    let before = (cpu_seconds("self")?, cpu_seconds(&etcd_pid.to_string())?);
    let run = schedule(&server, &admin, tasks, concurrency).await?;
    let used = (
        cpu_seconds("self")? - before.0,
        cpu_seconds(&etcd_pid.to_string())? - before.1,
    );
    let rate = tasks as f64 / run.all.as_secs_f64();
    let binding_rate = tasks as f64 / (run.all - run.first).as_secs_f64();
    let raw_after = raw_etcd_time(&server, "after", tasks - tasks / 2, concurrency).await?;
    let etcd_rate = tasks as f64 / (raw_before + raw_after).as_secs_f64();
    println!(
        "scheduled: {tasks} tasks Assigned in {:.2?} → {rate:.0} tasks/s \
         (first after {:.2?}: start-up, initial lists, first pass; then {binding_rate:.0} tasks/s)",
        run.all, run.first
    );
    println!(
        "raw etcd: {etcd_rate:.0} puts/s at concurrency {concurrency} (same etcd; {tasks} puts, \
         half before and half after scheduling)"
    );
    println!("ratio: {:.2} × raw etcd", rate / etcd_rate);
    println!(
        "scheduler process: CPU {:.2} s, peak RSS {} MiB",
        run.cpu,
        run.rss_kib / 1024
    );
    println!(
        "CPU while scheduling: scheduler {:.2} s, api-server (in this process, with the bench's \
         watch) {:.2} s, etcd {:.2} s, over {:.2} s wall",
        run.cpu,
        used.0,
        used.1,
        run.all.as_secs_f64()
    );
    println!("load average before: {}", load.trim());
    Ok(())
}

struct Run {
    first: Duration,
    all: Duration,
    cpu: f64,
    rss_kib: u64,
}

/// Starts the scheduler binary, waits (bounded) until every task is Assigned; returns when the
/// first and the last were, the scheduler's CPU seconds and its peak RSS.
async fn schedule(
    server: &TestApiServer,
    admin: &kube::Client,
    tasks: usize,
    concurrency: usize,
) -> anyhow::Result<Run> {
    // This watch shares the cores with the api-server and the scheduler, so it decodes only
    // what it counts.
    let api: Api<Probe> = Api::namespaced(admin.clone(), "default");
    let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
    // The initial list: every task is Pending.
    while let Some(event) = events.next().await {
        if let watcher::Event::InitDone = event? {
            break;
        }
    }
    let mut assigned = std::collections::HashSet::new();
    let kubeconfig = server.kubeconfig_for("system:flotilla-scheduler", &[])?;
    let binary = std::env::current_exe()?.with_file_name("flotilla-scheduler");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&binary)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--concurrency={concurrency}"))
        // SCHEDULER_LOG (a RUST_LOG filter) shows the scheduler's own log, e.g. its passes.
        .env(
            "RUST_LOG",
            std::env::var("SCHEDULER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting {}: {e}", binary.display()))?;
    let pid = child.id().unwrap_or(0);
    let deadline = started + Duration::from_secs(300);
    let mut first = None;
    while assigned.len() < tasks {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .map_err(|_| {
                anyhow::anyhow!("only {} of {tasks} Assigned after 300 s", assigned.len())
            })?;
        if let Some(Ok(watcher::Event::Apply(t))) = event {
            if t.state == Some(TaskState::Assigned) {
                first.get_or_insert_with(|| started.elapsed());
                assigned.insert(t.meta.name.unwrap_or_default());
            }
        }
    }
    let all = started.elapsed();
    let cpu = cpu_seconds(&pid.to_string())?;
    let rss_kib = peak_rss_kib(pid)?;
    child.kill().await?;
    Ok(Run {
        first: first.unwrap_or(all),
        all,
        cpu,
        rss_kib,
    })
}

/// CPU seconds (utime + stime) of a process (`self` or a pid), from /proc.
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .unwrap_or("")
        .split(' ')
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // USER_HZ is 100 on Linux.
    Ok(ticks / 100.0)
}

/// VmHWM (peak resident set) of a process in KiB.
fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0))
}

/// How long `n` raw etcd puts of task-sized values take at `concurrency`, on the same etcd.
async fn raw_etcd_time(
    server: &TestApiServer,
    tag: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let etcd = server.etcd.as_ref().expect("etcd-backed server");
    flotilla_tests::bench::raw_etcd_puts(etcd.endpoint(), tag, n, concurrency).await
}

/// What the bench reads of a watched Task: its name, resourceVersion (the watcher resumes from
/// it) and state; serde skips the rest without allocating.
#[derive(Clone, Debug)]
struct Probe {
    meta: ObjectMeta,
    state: Option<TaskState>,
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Meta {
            name: Option<String>,
            resource_version: Option<String>,
        }
        #[derive(Deserialize)]
        struct Status {
            state: Option<TaskState>,
        }
        #[derive(Deserialize)]
        struct Wire {
            metadata: Meta,
            status: Option<Status>,
        }
        let Wire { metadata, status } = Wire::deserialize(deserializer)?;
        Ok(Probe {
            meta: ObjectMeta {
                name: metadata.name,
                resource_version: metadata.resource_version,
                ..ObjectMeta::default()
            },
            state: status.and_then(|s| s.state),
        })
    }
}

flotilla_scheduler::task_resource!(Probe, probe => probe.meta);
