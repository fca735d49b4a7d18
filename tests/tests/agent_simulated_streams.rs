//! One `flotilla-node-agent --simulate-nodes N` process (the binary, over its one HTTP/2
//! connection) with N above every concurrent-stream limit on the way: the api-server's per
//! connection limit, and hyper's default of 200. When each simulated node held a watch stream of
//! its own, the watches beyond the limit queued forever in front of every other request of the
//! connection (heartbeats, status writes), so no task on any node ever ran (issue 27).

#[allow(unused_imports)]
mod e2e_support;

use std::time::Duration;

use e2e_support::{replicated, E2e};
use flotilla_api::node::NodeState;
use flotilla_api::SwarmNode;
use flotilla_cli::up::{AgentSpec, Runtime};
use flotilla_tests::probe::wait_for;
use kube::api::PostParams;
use kube::Api;

/// Above the api-server's streams per connection (1,000) and hyper's default (200).
const NODES: usize = 1_100;
const REPLICAS: usize = 30;
const READY: Duration = Duration::from_secs(420);
const RUNNING: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_process_simulating_more_nodes_than_streams_runs_their_tasks() {
    let agent = AgentSpec {
        name: "sim".into(),
        address: "127.0.0.1".into(),
        runtime: Runtime::Simulated,
        simulate_nodes: Some(NODES),
        extra_args: vec!["--simulated-latency=10ms".into()],
    };
    let mut e2e = E2e::start(vec![agent], &[])
        .await
        .expect("the cluster starts");
    let nodes: Api<SwarmNode> = Api::all(e2e.cluster.client());
    let started = tokio::time::Instant::now();
    wait_for(&format!("{NODES} nodes ready"), READY, || async {
        let list = nodes.list(&Default::default()).await.ok()?;
        let ready = list
            .items
            .iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(NodeState::Ready));
        (ready.count() == NODES).then_some(())
    })
    .await;
    println!("{NODES} nodes ready after {:?}", started.elapsed());

    let web = replicated("web", "busybox", REPLICAS as i64, None, None);
    e2e.services()
        .create(&PostParams::default(), &web)
        .await
        .expect("create web");
    let started = tokio::time::Instant::now();
    let running = e2e.wait_running("web", REPLICAS, RUNNING).await;
    println!(
        "{REPLICAS}/{REPLICAS} running after {:?}",
        started.elapsed()
    );
    // Spread: the replicas sit on as many nodes, so nodes of every part of the range ran one.
    let on = e2e_support::nodes_of(&running);
    let mut distinct = on.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), REPLICAS, "one replica per node: {on:?}");
    e2e.cluster.shutdown().await;
}
