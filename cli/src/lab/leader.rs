//! `flotilla lab leader`: failover of Flotilla's split control plane. Two replicas each of the
//! scheduler and the controller-manager run with `--leader-elect` (lease 15 s, retry 2 s: the
//! shipped defaults); the lease holders are killed (SIGKILL, a crash that releases nothing);
//! measured: time until each Lease has a new holder, and until a service created right after
//! the kill has its first task bound and running. Then the api-server is killed and started
//! again: what kubectl prints meanwhile, and how long until clients and control loops work.
//! Swarm has no separate leader processes on one engine: its Raft leader is the manager
//! daemon itself (see docs/lessons/raft-quorum.md).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flotilla_api::{SwarmService, TaskState};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::time::Instant;

use super::flotilla::Flotilla;
use super::report::Report;
use super::system::{remove_and_wait, wait_running, wait_until, ServiceSpec, System};
use super::Params;

const LEASES: [(&str, &str); 2] = [
    ("scheduler", "flotilla-scheduler"),
    ("controller-manager", "flotilla-controller-manager"),
];
const TIMEOUT: Duration = Duration::from_secs(60);

async fn holder(client: &kube::Client, lease: &str) -> anyhow::Result<Option<String>> {
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    Ok(api
        .get_opt(lease)
        .await?
        .and_then(|l| l.spec?.holder_identity))
}

/// The process whose log says it became leader as `identity`.
fn process_of(f: &mut Flotilla, component: &str, identity: &str) -> anyhow::Result<String> {
    let cluster = f.cluster()?;
    let prefix = format!("flotilla-{component}");
    cluster
        .pids()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with(&prefix))
        .find(|name| std::fs::read_to_string(cluster.log(name)).is_ok_and(|l| l.contains(identity)))
        .ok_or_else(|| anyhow::anyhow!("no {component} process logged identity {identity}"))
}

/// One failover: (new scheduler holder, new controller-manager holder, first binding,
/// first task running), seconds from the kill.
async fn failover(f: &mut Flotilla, i: usize) -> anyhow::Result<[f64; 4]> {
    let client = f.client();
    let mut old = Vec::new();
    for (component, lease) in LEASES {
        let start = Instant::now();
        let who = wait_until(
            f,
            "a lease holder",
            start,
            TIMEOUT,
            async |_: &mut Flotilla| Ok(holder(&client, lease).await?.is_some()),
        );
        who.await?;
        let id = holder(&client, lease).await?.unwrap_or_default();
        let name = process_of(f, component, &id)?;
        old.push((lease, id, name));
    }
    let start = Instant::now();
    let mut killed = Vec::new();
    for (_, _, name) in &old {
        killed.push(f.cluster()?.kill(name)?);
    }
    let spec = ServiceSpec::new(&format!("lab-leader-{i}"), 1);
    f.create(&spec).await?;
    let mut times = [0.0; 4];
    for (k, (lease, id, _)) in old.iter().enumerate() {
        times[k] = wait_until(
            f,
            "a new lease holder",
            start,
            TIMEOUT,
            async |_: &mut Flotilla| Ok(holder(&client, lease).await?.is_some_and(|h| &h != id)),
        )
        .await?;
    }
    let name = spec.name.clone();
    times[2] = wait_until(
        f,
        "the first task bound",
        start,
        TIMEOUT,
        async |f: &mut Flotilla| {
            Ok(f.tasks(&name)
                .await?
                .iter()
                .any(|t| t.spec.node_name.is_some()))
        },
    )
    .await?;
    times[3] = wait_running(f, &spec.name, 1, start, TIMEOUT).await?;
    for k in &killed {
        f.cluster()?.respawn(k)?;
    }
    remove_and_wait(f, &spec.name).await?;
    Ok(times)
}

/// `kubectl` on PATH, else the newest google-cloud-sdk one.
pub fn kubectl() -> Option<std::path::PathBuf> {
    let sdk = Path::new("/usr/lib/google-cloud-sdk/bin");
    let found = (27..=33)
        .rev()
        .map(|m| sdk.join(format!("kubectl.1.{m}")))
        .find(|p| p.exists());
    let on_path = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok();
    if on_path {
        Some("kubectl".into())
    } else {
        found
    }
}

/// `kubectl get <what>` with the cluster's admin kubeconfig: (success, first line of output).
pub fn kubectl_get(kubeconfig: &Path, what: &[&str]) -> (bool, String) {
    let Some(bin) = kubectl() else {
        return (false, "no kubectl installed".into());
    };
    let out = Command::new(bin)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--request-timeout=5s")
        .arg("get")
        .args(what)
        .output();
    match out {
        Ok(o) => {
            let text = if o.status.success() {
                o.stdout
            } else {
                o.stderr
            };
            let text = String::from_utf8_lossy(&text);
            (
                o.status.success(),
                text.lines().last().unwrap_or("").trim().to_string(),
            )
        }
        Err(e) => (false, e.to_string()),
    }
}

/// The api-server killed for `down`, then started again: (kubectl answers again, a scale-up
/// from 1 to 2 running), seconds from the restart.
async fn api_restart(
    f: &mut Flotilla,
    r: &mut Report,
    i: usize,
    down: Duration,
) -> anyhow::Result<(f64, f64)> {
    let spec = ServiceSpec::new(&format!("lab-api-{i}"), 1);
    f.create(&spec).await?;
    wait_running(f, &spec.name, 1, Instant::now(), TIMEOUT).await?;
    let kubeconfig = f.cluster()?.kubeconfig().to_path_buf();
    let stopped = f.cluster()?.kill("flotilla-api-server")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, said) = kubectl_get(&kubeconfig, &["ssvc"]);
    if i == 0 {
        r.note(format!(
            "api-server down: kubectl get ssvc {} «{said}»",
            if ok { "answered" } else { "failed:" }
        ));
    }
    tokio::time::sleep(down).await;
    f.cluster()?.respawn(&stopped)?;
    let start = Instant::now();
    wait_until(
        f,
        "kubectl answers",
        start,
        TIMEOUT,
        async |_: &mut Flotilla| Ok(kubectl_get(&kubeconfig, &["ssvc"]).0),
    )
    .await?;
    let answered = start.elapsed().as_secs_f64();
    let api: Api<SwarmService> = Api::namespaced(f.client(), "default");
    let scale = json!({"spec": {"mode": {"replicated": {"replicas": 2}}}});
    api.patch(&spec.name, &PatchParams::default(), &Patch::Merge(&scale))
        .await?;
    let scaled = wait_running(f, &spec.name, 2, start, TIMEOUT).await?;
    let tasks = f.tasks(&spec.name).await?;
    let running = tasks
        .iter()
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::Running))
        .count();
    anyhow::ensure!(
        running >= 2,
        "scale-up after the restart: {running} running"
    );
    remove_and_wait(f, &spec.name).await?;
    Ok((answered, scaled))
}

pub async fn run(p: &Params) -> anyhow::Result<Report> {
    let mut report = Report::new("leader");
    if p.only.as_deref() == Some("swarm") {
        return Ok(report);
    }
    p.on_flotilla(&mut report, 1, async |f, r| {
        for (component, _) in LEASES {
            f.cluster()?
                .start_replica(component, &format!("flotilla-{component}-2"), &[])?;
        }
        let mut fo = Vec::new();
        for i in 0..p.repeat {
            let t = failover(f, i).await?;
            println!(
                "  failover {}: leases {:.1}s / {:.1}s, bound {:.1}s, running {:.1}s",
                i + 1,
                t[0],
                t[1],
                t[2],
                t[3]
            );
            fo.push(t);
        }
        let col = |k: usize| fo.iter().map(|t| t[k]).collect::<Vec<f64>>();
        r.add(
            "flotilla",
            "kill leaders → new scheduler lease holder",
            "s",
            col(0),
        );
        r.add(
            "flotilla",
            "kill leaders → new controller-manager holder",
            "s",
            col(1),
        );
        r.add("flotilla", "kill leaders → first new binding", "s", col(2));
        r.add("flotilla", "kill leaders → new task running", "s", col(3));
        let mut api = Vec::new();
        for i in 0..p.repeat {
            api.push(api_restart(f, r, i, Duration::from_secs(1)).await?);
        }
        r.add(
            "flotilla",
            "api-server restart → kubectl answers",
            "s",
            api.iter().map(|a| a.0).collect(),
        );
        r.add(
            "flotilla",
            "api-server restart → scale-up running",
            "s",
            api.iter().map(|a| a.1).collect(),
        );
        Ok(())
    })
    .await?;
    report.note("lease 15s, renew deadline 10s, retry 2s (the components' defaults); leaders killed with SIGKILL, so the lease must expire");
    report.note("Swarm: the scheduler, orchestrators and Raft run inside the manager's dockerd; on one engine there is no standby to fail over to (docs/lessons/raft-quorum.md)");
    Ok(report)
}
