//! The run: a cluster of release processes, the simulated nodes, then each phase timed with
//! the writes it made and the CPU each process spent in it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use flotilla_api::node::NodeState;
use flotilla_api::SwarmService;
use flotilla_cli::up::{Cluster, ClusterSpec};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::agents::{self, Agent, AgentSettings};
use crate::etcd::{raw_puts, WriteCounter};
use crate::procstat::{self, Watched};
use crate::tracker::{self, Seen, Tracker};
use crate::E2eArgs;

pub(crate) const SERVICE: &str = "bench";
const GLOBAL: &str = "bench-global";
const PHASE_TIMEOUT: Duration = Duration::from_secs(900);

pub struct Phase {
    pub name: &'static str,
    pub outcome: String,
    pub time: Duration,
    /// Writes per resource (leases: heartbeats and leader election, not the pipeline's).
    pub writes: BTreeMap<String, u64>,
    /// Event creates per reason.
    pub event_reasons: BTreeMap<String, u64>,
    pub note: String,
    pub cpu: BTreeMap<&'static str, f64>,
}

impl Phase {
    /// The pipeline's writes: every write but Lease renewals.
    pub fn pipeline_writes(&self) -> u64 {
        self.writes
            .iter()
            .filter(|(k, _)| !k.starts_with("leases"))
            .map(|(_, n)| n)
            .sum()
    }
}

pub struct ProcessTotal {
    pub name: &'static str,
    pub count: usize,
    pub cpu: f64,
    pub peak_rss_mib: f64,
}

pub struct Report {
    pub args: E2eArgs,
    pub setup: Duration,
    pub raw_rate: f64,
    pub phases: Vec<Phase>,
    pub processes: Vec<ProcessTotal>,
    pub load: String,
}

/// CPU per process name, including processes already killed (their last reading).
struct Cpu {
    procs: Vec<Watched>,
    retired: BTreeMap<&'static str, f64>,
    retired_rss: Vec<(&'static str, f64)>,
}

impl Cpu {
    fn now(&self) -> BTreeMap<&'static str, f64> {
        let mut cpu = procstat::cpu_by_name(&self.procs);
        for (name, s) in &self.retired {
            *cpu.entry(name).or_default() += s;
        }
        cpu
    }

    fn retire(&mut self, pid: u32) {
        if let Some(i) = self.procs.iter().position(|p| p.pid == pid) {
            let p = self.procs.remove(i);
            *self.retired.entry(p.name).or_default() += procstat::cpu_seconds(pid);
            self.retired_rss.push((p.name, procstat::peak_rss_mib(pid)));
        }
    }

    fn since(&self, before: &BTreeMap<&'static str, f64>) -> BTreeMap<&'static str, f64> {
        self.now()
            .into_iter()
            .map(|(k, v)| (k, v - before.get(k).copied().unwrap_or(0.0)))
            .collect()
    }

    fn totals(&self) -> Vec<ProcessTotal> {
        let mut out: Vec<ProcessTotal> = Vec::new();
        let cpu = self.now();
        let rss = self
            .procs
            .iter()
            .map(|p| (p.name, procstat::peak_rss_mib(p.pid)))
            .chain(self.retired_rss.iter().copied());
        for (name, mib) in rss {
            match out.iter_mut().find(|t| t.name == name) {
                Some(t) => {
                    t.count += 1;
                    t.peak_rss_mib += mib;
                }
                None => out.push(ProcessTotal {
                    name,
                    count: 1,
                    cpu: cpu.get(name).copied().unwrap_or(0.0),
                    peak_rss_mib: mib,
                }),
            }
        }
        out
    }
}

pub async fn run(args: E2eArgs) -> anyhow::Result<Report> {
    let bin_dir = bin_dir(args.bin_dir.as_deref())?;
    let mut dir = tempfile::tempdir()?;
    if args.keep {
        dir.disable_cleanup(true);
        println!("data dir and logs kept in {}", dir.path().display());
    }
    let spec = ClusterSpec {
        bin_dir: bin_dir.clone(),
        data_dir: dir.path().to_path_buf(),
        port: free_port(),
        agents: vec![],
        controller_manager_args: vec![format!(
            "--node-monitor-grace-period={}s",
            args.grace.as_secs()
        )],
    };
    let started = Instant::now();
    let cluster = Cluster::start(spec).await?;
    let outcome = run_phases(&args, &cluster, &bin_dir, started).await;
    cluster.shutdown().await;
    outcome
}

async fn run_phases(
    args: &E2eArgs,
    cluster: &Cluster,
    bin_dir: &std::path::Path,
    started: Instant,
) -> anyhow::Result<Report> {
    let client = cluster.client();
    let mut cpu = Cpu {
        procs: procstat::control_plane(),
        retired: BTreeMap::new(),
        retired_rss: Vec::new(),
    };
    let logs = cluster.data_dir().join("logs");
    let settings = AgentSettings {
        bin_dir,
        kubeconfig: cluster.kubeconfig(),
        logs: &logs,
        latency: args.latency,
    };
    let mut agents = Vec::new();
    let shares = agents::shares(args.nodes, args.agents, args.lost_nodes);
    for (i, share) in shares.into_iter().filter(|n| *n > 0).enumerate() {
        let agent = Agent::start(&format!("n{i}"), share, &settings)?;
        cpu.procs.push(agent.watched());
        agents.push(agent);
    }
    let tracker = Tracker::start(client.clone()).await?;
    tracker
        .wait_nodes(NodeState::Ready, args.nodes, None, PHASE_TIMEOUT)
        .await?;
    let setup = started.elapsed();
    println!("setup: {} nodes Ready after {setup:.1?}", args.nodes);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let etcd = cluster.etcd_url().to_string();
    let raw_n = args.replicas.max(2_000);
    let raw_before = raw_puts(&etcd, "before", raw_n / 2, args.concurrency).await?;
    let want = |phase: &str| args.phases.split(',').any(|p| p.trim() == phase);
    let mut phases = Vec::new();
    let services: Api<SwarmService> = Api::namespaced(client.clone(), "default");

    if want("apply") {
        let phase = timed(&etcd, &cpu, "apply", async {
            let n = args.replicas;
            let time = apply_replicated(&services, &tracker, n, PHASE_TIMEOUT).await?;
            Ok((time, format!("{n}/{n} Running"), String::new()))
        })
        .await?;
        phases.push(phase);
    }
    if want("update") {
        let phase = timed(&etcd, &cpu, "update", async {
            let patch = json!({"spec": {"taskTemplate": {"containerSpec": {"image": "bench:2"}}}});
            services
                .patch(SERVICE, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            let since = Instant::now();
            let n = args.replicas;
            let time = tracker
                .wait(
                    "update",
                    since,
                    PHASE_TIMEOUT,
                    |t| tracker::up(t, SERVICE, Some("bench:2")) == n,
                    |t| progress(t, SERVICE),
                )
                .await?;
            Ok((time, format!("{n}/{n} on bench:2"), String::new()))
        })
        .await?;
        phases.push(phase);
    }
    if want("loss") {
        let lost = agents[0].node_names();
        let pid = agents[0].pid;
        let before = cpu.now();
        cpu.retire(pid);
        // Retiring read its CPU; keep the phase's baseline consistent.
        let phase = timed_from(&etcd, &cpu, before, "node loss", async {
            agents[0].kill().await;
            let since = Instant::now();
            let down = tracker
                .wait_nodes(NodeState::Down, lost.len(), Some(&lost), PHASE_TIMEOUT)
                .await?;
            let n = args.replicas;
            let time = tracker
                .wait(
                    "node loss",
                    since,
                    PHASE_TIMEOUT,
                    |t| {
                        tracker::up(t, SERVICE, None) == n
                            && !t.values().any(|s| s.up() && lost.contains(&s.node))
                    },
                    |t| progress(t, SERVICE),
                )
                .await?;
            let note = format!(
                "{} nodes killed; grace {:.0?}; all down after {down:.1?}; then Running elsewhere \
                 after {:.1?} more",
                lost.len(),
                args.grace,
                time.saturating_sub(down)
            );
            Ok((time, format!("{n}/{n} Running"), note))
        })
        .await?;
        phases.push(phase);
        // The machine comes back, so the global phase has every node.
        let agent = Agent::start(&agents[0].prefix, agents[0].nodes, &settings)?;
        cpu.procs.push(agent.watched());
        agents[0] = agent;
        tracker
            .wait_nodes(NodeState::Ready, args.nodes, None, PHASE_TIMEOUT)
            .await?;
    }
    if want("global") {
        let phase = timed(&etcd, &cpu, "global", async {
            services.create(&PostParams::default(), &global()).await?;
            let since = Instant::now();
            let n = args.nodes;
            let time = tracker
                .wait(
                    "global",
                    since,
                    PHASE_TIMEOUT,
                    |t| tracker::up(t, GLOBAL, None) == n,
                    |t| progress(t, GLOBAL),
                )
                .await?;
            Ok((time, format!("{n}/{n} Running"), String::new()))
        })
        .await?;
        phases.push(phase);
    }

    let raw_after = raw_puts(&etcd, "after", raw_n - raw_n / 2, args.concurrency).await?;
    let raw_rate = raw_n as f64 / (raw_before + raw_after).as_secs_f64();
    Ok(Report {
        args: args.clone(),
        setup,
        raw_rate,
        phases,
        processes: cpu.totals(),
        load,
    })
}

type Outcome = anyhow::Result<(Duration, String, String)>;

async fn timed(
    etcd: &str,
    cpu: &Cpu,
    name: &'static str,
    body: impl std::future::Future<Output = Outcome>,
) -> anyhow::Result<Phase> {
    timed_from(etcd, cpu, cpu.now(), name, body).await
}

/// Runs one phase: counts its writes and the CPU each process spent from `before`.
async fn timed_from(
    etcd: &str,
    cpu: &Cpu,
    before: BTreeMap<&'static str, f64>,
    name: &'static str,
    body: impl std::future::Future<Output = Outcome>,
) -> anyhow::Result<Phase> {
    println!("{name}…");
    let counter = WriteCounter::start(etcd).await?;
    let (time, outcome, note) = body.await?;
    let used = cpu.since(&before);
    let writes = counter.finish().await;
    println!("{name}: {outcome} after {time:.2?} {note}");
    Ok(Phase {
        name,
        outcome,
        time,
        writes: writes.by_resource,
        event_reasons: writes.event_reasons,
        note,
        cpu: used,
    })
}

/// Creates the benchmark's replicated service of `replicas` and waits until all run: the time
/// from the create's answer to the last task Running.
pub(crate) async fn apply_replicated(
    services: &Api<SwarmService>,
    tracker: &Tracker,
    replicas: usize,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    services
        .create(&PostParams::default(), &replicated(replicas))
        .await?;
    let since = Instant::now();
    tracker
        .wait(
            "apply",
            since,
            timeout,
            |t| tracker::up(t, SERVICE, None) == replicas,
            |t| progress(t, SERVICE),
        )
        .await
}

pub(crate) fn progress(tasks: &HashMap<String, Seen>, service: &str) -> String {
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks.values().filter(|t| t.service == service) {
        *by_state
            .entry(format!("{}→{}", t.state, t.desired))
            .or_default() += 1;
    }
    format!("tasks by observed→desired state: {by_state:?}")
}

pub(crate) fn replicated(replicas: usize) -> SwarmService {
    service(
        SERVICE,
        json!({ "replicated": { "replicas": replicas } }),
        json!({ "parallelism": 100, "delay": "0s" }),
    )
}

fn global() -> SwarmService {
    service(GLOBAL, json!({ "global": {} }), json!({}))
}

fn service(name: &str, mode: Value, update: Value) -> SwarmService {
    serde_json::from_value(json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "SwarmService",
        "metadata": { "name": name, "namespace": "default" },
        "spec": {
            "mode": mode,
            "taskTemplate": { "containerSpec": { "image": "bench:1" } },
            "updateConfig": update,
        }
    }))
    .expect("a valid SwarmService")
}

/// Where the binaries are: `--bin-dir`, or the directory this bench was built into.
pub(crate) fn bin_dir(flag: Option<&std::path::Path>) -> std::io::Result<std::path::PathBuf> {
    match flag {
        Some(dir) => Ok(dir.to_path_buf()),
        None => Ok(std::env::current_exe()?
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default()),
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
