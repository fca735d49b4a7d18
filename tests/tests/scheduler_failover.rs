//! Two schedulers with `--leader-elect` semantics (in-process, scheduler identity): only the
//! leader binds; when it stops, the standby takes over and binds new tasks.

use std::time::Duration;

use flotilla_api::{Task, TaskState};
use flotilla_runtime::leader::LeaderElectionConfig;
use flotilla_scheduler::{LeaderElection, Options};
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::swarm::{create_node, create_pending, task};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams};
use serde_json::json;
use tokio::sync::oneshot;

fn options(identity: &str) -> Options {
    Options {
        leader_election: Some(LeaderElection {
            namespace: "kube-system".into(),
            lease_name: "flotilla-scheduler".into(),
            identity: identity.into(),
            config: LeaderElectionConfig {
                lease_duration: Duration::from_secs(3),
                renew_deadline: Duration::from_secs(2),
                renew_period: Duration::from_millis(300),
                retry_period: Duration::from_millis(200),
            },
        }),
        ..Options::default()
    }
}

async fn holder(client: &kube::Client) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let lease = leases.get_opt("flotilla-scheduler").await.unwrap()?;
    lease.spec?.holder_identity
}

async fn wait_assigned(api: &Api<Task>, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let tasks = api.list(&ListParams::default()).await.unwrap().items;
        let done = tasks
            .iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::Assigned))
            .count();
        if done == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{done}/{n} assigned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
        let client = flotilla_runtime::client_from_kubeconfig(Some(&kubeconfig))
            .await
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(flotilla_scheduler::run(client, options(id), stopped));
        replicas.push((id, stop, handle));
    }
    let tasks: Api<Task> = Api::namespaced(admin.clone(), "default");
    for slot in 1..=3 {
        let t = task("web", slot, json!({}), None).unwrap();
        create_pending(&admin, "default", &t).await.unwrap();
    }
    wait_assigned(&tasks, 3).await;
    let leader = holder(&admin).await.expect("a leader holds the lease");

    let index = replicas
        .iter()
        .position(|(id, _, _)| *id == leader)
        .unwrap();
    let (_, stop, handle) = replicas.remove(index);
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();

    for slot in 4..=6 {
        let t = task("web", slot, json!({}), None).unwrap();
        create_pending(&admin, "default", &t).await.unwrap();
    }
    wait_assigned(&tasks, 6).await;
    let standby = replicas[0].0;
    assert_eq!(holder(&admin).await.as_deref(), Some(standby));
    let (_, stop, handle) = replicas.remove(0);
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
}
