//! Leader failover between two real `flotilla-scheduler --leader-elect` processes, over the real
//! api-server on real etcd, as the scheduler identity: the leader binds; after it is SIGKILLed
//! (no chance to release the Lease) the standby takes the Lease once it expires and binds new
//! tasks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::probe::wait_for;
use flotilla_tests::swarm::{create_node, create_web_tasks, lease_holder, wait_assigned};
use serde_json::json;
use tokio::process::{Child, Command};

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

/// Waits until the Lease holder is a replica that says it leads; returns its index and identity.
async fn leader(admin: &kube::Client, replicas: &[Replica]) -> (usize, String) {
    wait_for("a replica to lead", WAIT, || async {
        let id = lease_holder(admin, "flotilla-scheduler").await?;
        let i = replicas.iter().position(|r| r.leads_as(&id))?;
        Some((i, id))
    })
    .await
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

    create_web_tasks(&admin, 1..=3).await;
    wait_assigned(&admin, 3, WAIT).await;
    let (index, old) = leader(&admin, &replicas).await;

    let mut killed = replicas.remove(index);
    killed.child.start_kill().unwrap(); // SIGKILL: the Lease is left to expire
    let status = killed.child.wait().await.unwrap();
    assert!(!status.success(), "the leader was killed: {status}");
    assert_eq!(
        lease_holder(&admin, "flotilla-scheduler").await.as_deref(),
        Some(old.as_str())
    );

    create_web_tasks(&admin, 4..=6).await;
    wait_assigned(&admin, 6, WAIT).await;
    let (_, new) = leader(&admin, &replicas).await;
    assert_ne!(new, old, "the standby holds the Lease now");
    assert!(
        replicas[0].child.try_wait().unwrap().is_none(),
        "the new leader keeps running"
    );
}
