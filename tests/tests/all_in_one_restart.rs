//! A restart of `flotilla all-in-one` (the real binary, killed with SIGKILL as a crashed daemon
//! would be) with running nodes: two simulated nodes inside the process and two in a separate
//! `flotilla-node-agent` that keeps running through the restart. Afterwards the service and all
//! its tasks are the same objects (names and UIDs), on the same nodes; every node is Ready
//! again; the outside agent adopted its containers (same container IDs) instead of recreating
//! them; and no task was added.

mod aio_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use aio_support::{converged, create_service, desired_running, free_port, AioProcess};
use flotilla_api::node::NodeState;
use flotilla_api::{SwarmNode, TaskState};
use kube::api::{Api, ListParams};

const REPLICAS: usize = 8;

struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn nodes_ready(client: kube::Client, expected: usize) {
    let api: Api<SwarmNode> = Api::all(client);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let nodes = api.list(&ListParams::default()).await.unwrap().items;
        let ready = nodes
            .iter()
            .filter(|n| {
                let state = n.status.as_ref().and_then(|s| s.state.clone());
                state == Some(NodeState::Ready)
            })
            .count();
        if ready == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ready} of {expected} nodes ready: {:?}",
            nodes
                .iter()
                .map(|n| (&n.metadata.name, &n.status))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_tasks_and_nodes_rejoin_and_adopt_their_containers() {
    let bins = flotilla_tests::bins::workspace_bins().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let extra = ["--simulate-nodes", "2", "--simulated-latency", "10ms"];
    let aio = AioProcess::start(&bins, dir.path(), port, &extra).await;
    let log = std::fs::File::create(dir.path().join("agent.log")).unwrap();
    let agent = Command::new(bins.join("flotilla-node-agent"))
        .arg("--kubeconfig")
        .arg(&aio.kubeconfig)
        .args([
            "--node-name",
            "ext",
            "--runtime",
            "simulated",
            "--simulate-nodes",
            "2",
        ])
        .args(["--no-mesh", "--simulated-latency", "10ms"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let _agent = Agent(agent);
    nodes_ready(aio.client().await, 4).await;
    create_service(aio.client().await, "web", REPLICAS as i64).await;
    let before = converged(aio.client().await, "web", REPLICAS).await;
    let on_ext = before.values().filter(|t| t.1.starts_with("ext-")).count();
    assert!(
        on_ext > 0,
        "some tasks run on the outside agent: {before:?}"
    );

    aio.kill9();
    let aio = AioProcess::start(&bins, dir.path(), port, &extra).await;
    nodes_ready(aio.client().await, 4).await;
    let after = converged(aio.client().await, "web", REPLICAS).await;
    for (name, (uid, node, container, _)) in &before {
        let Some((uid2, node2, container2, _)) = after.get(name) else {
            panic!("task {name} was replaced: before {before:?}, after {after:?}")
        };
        assert_eq!(
            (uid, node),
            (uid2, node2),
            "task {name} is the same object on the same node"
        );
        if node.starts_with("ext-") {
            assert_eq!(
                container, container2,
                "task {name}'s container was adopted, not recreated"
            );
        }
    }
    // Nothing was added beside them, not even a task that was shut down again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = desired_running(aio.client().await, "web").await;
    assert_eq!(
        settled.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(settled.values().all(|t| t.3 == TaskState::Running));
    let all: Api<flotilla_api::Task> = Api::namespaced(aio.client().await, "default");
    let total = all.list(&ListParams::default()).await.unwrap().items.len();
    assert_eq!(
        total, REPLICAS,
        "no task was created beside the original ones"
    );
    aio.stop().await;
}
