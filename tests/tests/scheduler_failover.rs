//! Two schedulers with `--leader-elect` semantics (in-process, scheduler identity, under
//! `run_elected` as the binary runs): only the leader binds; when it stops, the standby takes
//! over and binds new tasks.

use std::time::Duration;

use flotilla_component::leader::{run_elected, LeaderElection, LeaderElectionConfig};
use flotilla_scheduler::{Options, SchedulerError};
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::swarm::{create_node, create_web_tasks, lease_holder, wait_assigned};
use serde_json::json;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(20);

fn election(identity: &str) -> Option<LeaderElection> {
    Some(LeaderElection {
        namespace: "kube-system".into(),
        lease_name: "flotilla-scheduler".into(),
        identity: identity.into(),
        config: LeaderElectionConfig {
            lease_duration: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            renew_period: Duration::from_millis(300),
            retry_period: Duration::from_millis(200),
        },
    })
}

async fn replica(
    client: kube::Client,
    identity: &str,
    stopped: oneshot::Receiver<()>,
) -> Result<(), SchedulerError> {
    let work = |stop| flotilla_scheduler::run(client.clone(), Options::default(), stop);
    run_elected(client.clone(), election(identity), stopped, work).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_when_the_leader_stops() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let admin = server.client().await.unwrap();
    create_node(&admin, "node-1", json!({})).await.unwrap();
    let kubeconfig = server
        .kubeconfig_for("system:flotilla-scheduler", &[])
        .unwrap();
    let mut replicas = Vec::new();
    for id in ["one", "two"] {
        let client = flotilla_component::client_from_kubeconfig(Some(&kubeconfig))
            .await
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(replica(client, id, stopped));
        replicas.push((id, stop, handle));
    }
    create_web_tasks(&admin, 1..=3).await;
    wait_assigned(&admin, 3, WAIT).await;
    let leader = lease_holder(&admin, "flotilla-scheduler")
        .await
        .expect("a leader holds the lease");

    let index = replicas
        .iter()
        .position(|(id, _, _)| *id == leader)
        .unwrap();
    let (_, stop, handle) = replicas.remove(index);
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();

    create_web_tasks(&admin, 4..=6).await;
    wait_assigned(&admin, 6, WAIT).await;
    let standby = replicas[0].0;
    assert_eq!(
        lease_holder(&admin, "flotilla-scheduler").await.as_deref(),
        Some(standby)
    );
    let (_, stop, handle) = replicas.remove(0);
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
}
