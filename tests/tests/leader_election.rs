//! Lease-based leader election (flotilla-component) against the real api-server over real etcd:
//! one leader at a time, a released lease is taken over at once, a dead leader after expiry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flotilla_component::leader::LeaderElectionConfig;
use flotilla_component::{LeaderElector, Outcome};
use flotilla_tests::apiserver::TestApiServer;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn fast() -> LeaderElectionConfig {
    LeaderElectionConfig {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        renew_period: Duration::from_millis(300),
        retry_period: Duration::from_millis(200),
    }
}

/// Counts replicas currently running their work; remembers the highest count ever seen.
#[derive(Default)]
struct Leaders {
    now: AtomicUsize,
    max: AtomicUsize,
    who: std::sync::Mutex<Option<String>>,
}

struct Working(Arc<Leaders>);

impl Drop for Working {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        *self.0.who.lock().unwrap() = None;
    }
}

struct Replica {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Outcome<()>>,
}

fn replica(client: kube::Client, id: &str, leaders: Arc<Leaders>) -> Replica {
    let (stop, stopped) = oneshot::channel::<()>();
    let elector = LeaderElector::new(client, "kube-system", "test-lock", id, fast());
    let id = id.to_string();
    let task = tokio::spawn(elector.run_when_leader(
        move || async move {
            let n = leaders.now.fetch_add(1, Ordering::SeqCst) + 1;
            leaders.max.fetch_max(n, Ordering::SeqCst);
            *leaders.who.lock().unwrap() = Some(id);
            let _working = Working(leaders);
            futures::future::pending::<()>().await
        },
        stopped,
    ));
    Replica { stop, task }
}

async fn wait_for_leader(leaders: &Leaders, not: Option<&str>, within: Duration) -> String {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let who = leaders.who.lock().unwrap().clone();
        if let Some(who) = who.filter(|w| Some(w.as_str()) != not) {
            return who;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new leader within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_failover() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let leaders = Arc::new(Leaders::default());
    let mut a = Some(replica(client.clone(), "a", leaders.clone()));
    let mut b = Some(replica(client.clone(), "b", leaders.clone()));

    let first = wait_for_leader(&leaders, None, Duration::from_secs(10)).await;
    // Both keep competing for a while: never two leaders.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(leaders.max.load(Ordering::SeqCst), 1);
    assert_eq!(leaders.who.lock().unwrap().as_deref(), Some(first.as_str()));

    let lease = Api::<Lease>::namespaced(client.clone(), "kube-system")
        .get("test-lock")
        .await
        .unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(first.as_str()));
    assert_eq!(spec.lease_duration_seconds, Some(3));

    // Graceful stop releases the lease: the standby takes over well before expiry.
    let leader = if first == "a" { a.take() } else { b.take() }.unwrap();
    leader.stop.send(()).unwrap();
    assert_eq!(leader.task.await.unwrap(), Outcome::Shutdown);
    let second = wait_for_leader(&leaders, Some(&first), Duration::from_secs(2)).await;
    assert_ne!(second, first);
    assert_eq!(leaders.max.load(Ordering::SeqCst), 1);

    // A crashed leader (no release) is replaced once its lease expires.
    let third_id = "c";
    let c = replica(client.clone(), third_id, leaders.clone());
    let crashed = if second == "a" { a.take() } else { b.take() }.unwrap();
    crashed.task.abort();
    let _ = crashed.task.await;
    let started = tokio::time::Instant::now();
    let third = wait_for_leader(&leaders, Some(&second), Duration::from_secs(8)).await;
    assert_eq!(third, third_id);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "took over a crashed leader's lease before it expired ({:?})",
        started.elapsed()
    );
    assert_eq!(leaders.max.load(Ordering::SeqCst), 1);
    let lease = Api::<Lease>::namespaced(client, "kube-system")
        .get("test-lock")
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(2));
    c.stop.send(()).unwrap();
    assert_eq!(c.task.await.unwrap(), Outcome::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_whose_lease_is_taken_stops_working() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let leaders = Arc::new(Leaders::default());
    let a = replica(client.clone(), "a", leaders.clone());
    wait_for_leader(&leaders, None, Duration::from_secs(10)).await;

    // An administrator (or a split-brain peer) hands the lease to someone else.
    let api = Api::<Lease>::namespaced(client, "kube-system");
    let mut lease = api.get("test-lock").await.unwrap();
    lease.spec.as_mut().unwrap().holder_identity = Some("intruder".into());
    api.replace("test-lock", &Default::default(), &lease)
        .await
        .unwrap();

    let outcome = tokio::time::timeout(Duration::from_secs(5), a.task)
        .await
        .expect("the leader notices within a renew period")
        .unwrap();
    assert_eq!(outcome, Outcome::Lost);
    assert_eq!(leaders.now.load(Ordering::SeqCst), 0, "work was cancelled");
}
