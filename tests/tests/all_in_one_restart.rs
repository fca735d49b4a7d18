//! A restart of `flotilla all-in-one` (the real binary, killed with SIGKILL as a crashed daemon
//! would be) with running nodes: two simulated nodes inside the process and two in a separate
//! `flotilla-node-agent` that keeps running through the restart. Afterwards every node is Ready
//! again; the tasks on the outside agent are the same objects (names, UIDs, nodes) and the agent
//! adopted their containers (same container IDs) instead of recreating them. The simulated
//! containers of the nodes inside the process died with it, as a dockerd crash without
//! live-restore takes its containers along: Swarm replaces such a task with a new one in the
//! same slot, and so does Flotilla, once per slot and with nothing else added.

mod aio_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use aio_support::{converged, create_service, desired_running, free_port, AioProcess};
use flotilla_api::node::NodeState;
use flotilla_api::SwarmNode;
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
                let state = n.status.as_ref().and_then(|s| s.state);
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
    let started = tokio::time::Instant::now();
    let before = converged(aio.client().await, "web", REPLICAS).await;
    println!("converged in {:?}", started.elapsed());
    let on_ext = before.values().filter(|t| t.1.starts_with("ext-")).count();
    assert!(
        on_ext > 0,
        "some tasks run on the outside agent: {before:?}"
    );

    aio.kill9();
    let started = tokio::time::Instant::now();
    let aio = AioProcess::start(&bins, dir.path(), port, &extra).await;
    nodes_ready(aio.client().await, 4).await;
    println!("restarted, 4 nodes ready after {:?}", started.elapsed());
    // The nodes inside the process come back with no containers: their tasks fail and are
    // replaced; wait for that, then compare.
    let dead: Vec<&String> = before
        .iter()
        .filter(|(_, t)| !t.1.starts_with("ext-"))
        .map(|(name, _)| name)
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let after = loop {
        let after = converged(aio.client().await, "web", REPLICAS).await;
        if dead.iter().all(|name| !after.contains_key(*name)) {
            break after;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tasks of the dead containers were not replaced: {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!("converged again after {:?}", started.elapsed());
    for (name, (uid, node, container, _)) in before.iter().filter(|(_, t)| t.1.starts_with("ext-"))
    {
        let Some((uid2, node2, container2, _)) = after.get(name) else {
            panic!("task {name} on the outside agent was replaced: {before:?} → {after:?}")
        };
        assert_eq!(
            (uid, node),
            (uid2, node2),
            "task {name}: same object, same node"
        );
        assert_eq!(
            container, container2,
            "task {name}: container adopted, not recreated"
        );
    }
    for name in &dead {
        let slot = name.rsplit_once('.').map(|(slot, _)| slot).unwrap();
        let successors = after.keys().filter(|n| n.starts_with(&format!("{slot}.")));
        assert_eq!(successors.count(), 1, "one new task for {slot}: {after:?}");
    }
    // Nothing changes once converged, and nothing was added beside the replacements.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = desired_running(aio.client().await, "web").await;
    assert_eq!(settled, after, "the service stays as it converged");
    let all: Api<flotilla_api::Task> = Api::namespaced(aio.client().await, "default");
    let total = all.list(&ListParams::default()).await.unwrap().items.len();
    assert_eq!(
        total,
        REPLICAS + dead.len(),
        "only the dead containers' tasks were replaced"
    );
    aio.stop().await;
    println!("stopped after {:?}", started.elapsed());
}
