//! Leader failover between two real `flotilla-scheduler --leader-elect` processes, over the real
//! api-server on real etcd, as the scheduler identity: the leader binds; after it is SIGKILLed
//! (no chance to release the Lease) the standby takes the Lease once it expires and binds new
//! tasks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use flotilla_api::{Task, TaskState};
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::swarm::{create_node, create_pending, task};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams};
use serde_json::json;
use tokio::process::{Child, Command};
use tokio::time::{sleep, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// One scheduler process, its output going to `log`. Killed when dropped.
struct Replica {
    child: Child,
    log: PathBuf,
}

impl Replica {
    fn start(kubeconfig: &Path, log: PathBuf) -> Replica {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_flotilla-scheduler"))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(["--leader-elect", "--leader-elect-lease-duration=3s"])
            .args([
                "--leader-elect-renew-deadline=2s",
                "--leader-elect-retry-period=250ms",
            ])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .expect("starting flotilla-scheduler");
        Replica { child, log }
    }

    /// Whether this process logged that it became leader as `identity`.
    fn leads_as(&self, identity: &str) -> bool {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .any(|l| l.contains("became leader") && l.contains(identity))
    }
}

async fn holder(client: &kube::Client) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let lease = leases.get_opt("flotilla-scheduler").await.unwrap()?;
    lease.spec?.holder_identity
}

/// Waits until the Lease holder is a replica that says it leads; returns its index and identity.
async fn leader(admin: &kube::Client, replicas: &[Replica]) -> (usize, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(id) = holder(admin).await {
            if let Some(i) = replicas.iter().position(|r| r.leads_as(&id)) {
                return (i, id);
            }
        }
        assert!(Instant::now() < deadline, "no replica became leader");
        sleep(Duration::from_millis(100)).await;
    }
}

async fn create_tasks(admin: &kube::Client, slots: std::ops::RangeInclusive<i64>) {
    for slot in slots {
        let t = task("web", slot, json!({}), None).unwrap();
        create_pending(admin, "default", &t).await.unwrap();
    }
}

async fn wait_assigned(api: &Api<Task>, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let tasks = api.list(&ListParams::default()).await.unwrap().items;
        let assigned = tasks
            .iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::Assigned))
            .filter(|t| t.spec.node_name.as_deref() == Some("node-1"))
            .count();
        if assigned == n {
            return;
        }
        assert!(Instant::now() < deadline, "{assigned}/{n} assigned");
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_process_takes_over_after_the_leader_is_killed() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let admin = server.client().await.unwrap();
    create_node(&admin, "node-1", json!({})).await.unwrap();
    let kubeconfig = server
        .kubeconfig_for("system:flotilla-scheduler", &[])
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let mut replicas: Vec<Replica> = (0..2)
        .map(|i| Replica::start(&kubeconfig, logs.path().join(format!("scheduler-{i}.log"))))
        .collect();

    let tasks: Api<Task> = Api::namespaced(admin.clone(), "default");
    create_tasks(&admin, 1..=3).await;
    wait_assigned(&tasks, 3).await;
    let (index, old) = leader(&admin, &replicas).await;

    let mut killed = replicas.remove(index);
    killed.child.start_kill().unwrap(); // SIGKILL: the Lease is left to expire
    let status = killed.child.wait().await.unwrap();
    assert!(!status.success(), "the leader was killed: {status}");
    assert_eq!(holder(&admin).await.as_deref(), Some(old.as_str()));

    create_tasks(&admin, 4..=6).await;
    wait_assigned(&tasks, 6).await;
    let (_, new) = leader(&admin, &replicas).await;
    assert_ne!(new, old, "the standby holds the Lease now");
    assert!(
        replicas[0].child.try_wait().unwrap().is_none(),
        "the new leader keeps running"
    );
}
