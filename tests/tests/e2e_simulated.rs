//! Scenario f at scale, in one process: the real api-server over etcd, the scheduler and the
//! controller-manager, and two simulated node agents hosting 50 nodes each. A replicated service
//! of 200 spreads 2 per node, a global service runs once on each of the 100 nodes; stopping one
//! agent marks its 50 nodes down and its replicated tasks move to the 50 that remain.

mod agent_common;

use std::collections::BTreeMap;
use std::time::Duration;

use agent_common::wait_for;
use flotilla_api::node::NodeState;
use flotilla_api::{SwarmNode, SwarmService, Task, TaskState};
use flotilla_node_agent::runtime::simulated::SimulatedConfig;
use flotilla_node_agent::{run_simulated_nodes, AgentConfig, AgentError};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PER_AGENT: usize = 50;
const NODES: usize = 2 * PER_AGENT;
const REPLICAS: usize = 200;
const CONVERGE: Duration = Duration::from_secs(120);
const WHOLE_TEST: Duration = Duration::from_secs(420);

struct Agent {
    stop: oneshot::Sender<()>,
    done: JoinHandle<Result<(), AgentError>>,
}

fn start_agent(client: &Client, prefix: &str) -> Agent {
    let (stop, stopped) = oneshot::channel::<()>();
    let mut config = AgentConfig::new(prefix);
    config.heartbeat = Duration::from_secs(1);
    let sim = SimulatedConfig {
        latency: Duration::from_millis(10),
        ..Default::default()
    };
    let done = tokio::spawn(run_simulated_nodes(
        client.clone(),
        config,
        PER_AGENT,
        sim,
        async {
            let _ = stopped.await;
        },
    ));
    Agent { stop, done }
}

/// Starts the scheduler and the controller-manager (short node grace period) in-process.
async fn start_control_loops(server: &TestApiServer) -> anyhow::Result<()> {
    let cm =
        client_from(&server.kubeconfig_for("system:flotilla-controller-manager", &[])?).await?;
    let sched = client_from(&server.kubeconfig_for("system:flotilla-scheduler", &[])?).await?;
    let opts = flotilla_controller_manager::Options {
        node_monitor_grace_period: Duration::from_secs(3),
        ..Default::default()
    };
    tokio::spawn(flotilla_controller_manager::run(
        cm,
        opts,
        std::future::pending(),
    ));
    let sched_opts = flotilla_scheduler::Options::default();
    tokio::spawn(flotilla_scheduler::run(
        sched,
        sched_opts,
        std::future::pending::<()>(),
    ));
    Ok(())
}

fn service(name: &str, mode: serde_json::Value) -> SwarmService {
    serde_json::from_value(json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "SwarmService",
        "metadata": { "name": name, "namespace": "default" },
        "spec": { "mode": mode, "taskTemplate": { "containerSpec": { "image": "busybox" } } },
    }))
    .expect("a valid SwarmService")
}

/// Node → number of the service's tasks running there and meant to.
async fn running_per_node(admin: &Client, svc: &str) -> BTreeMap<String, usize> {
    let tasks: Api<Task> = Api::namespaced(admin.clone(), "default");
    let lp = ListParams::default().labels(&format!("{}={svc}", flotilla_api::SERVICE_LABEL));
    let mut per_node = BTreeMap::new();
    for t in tasks.list(&lp).await.map(|l| l.items).unwrap_or_default() {
        let observed = t.status.as_ref().and_then(|s| s.state);
        if observed == Some(TaskState::Running) && t.spec.desired_state == TaskState::Running {
            *per_node
                .entry(t.spec.node_name.unwrap_or_default())
                .or_default() += 1;
        }
    }
    per_node
}

async fn wait_spread(admin: &Client, svc: &str, nodes: usize, each: usize) {
    let what = format!("{svc}: {each} running on each of {nodes} nodes");
    let started = tokio::time::Instant::now();
    wait_for(&what, CONVERGE, || async {
        let per_node = running_per_node(admin, svc).await;
        (per_node.len() == nodes && per_node.values().all(|n| *n == each)).then_some(())
    })
    .await;
    println!("{what} after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_simulated_nodes_spread_replicate_run_global_and_fail_over() {
    tokio::time::timeout(WHOLE_TEST, scenario())
        .await
        .expect("the scenario finishes in time")
        .expect("the scenario");
}

async fn scenario() -> anyhow::Result<()> {
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    start_control_loops(&server).await?;
    let first = start_agent(&admin, "a");
    let second = start_agent(&admin, "b");
    let nodes: Api<SwarmNode> = Api::all(admin.clone());
    let ready_nodes = || async {
        let list = nodes.list(&Default::default()).await.ok()?;
        let ready = list
            .items
            .iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(NodeState::Ready));
        Some(ready.count())
    };
    wait_for("100 nodes ready", CONVERGE, || async {
        (ready_nodes().await? == NODES).then_some(())
    })
    .await;

    let services: Api<SwarmService> = Api::namespaced(admin.clone(), "default");
    let web = service("web", json!({ "replicated": { "replicas": REPLICAS } }));
    services.create(&PostParams::default(), &web).await?;
    services
        .create(
            &PostParams::default(),
            &service("mon", json!({ "global": {} })),
        )
        .await?;
    wait_spread(&admin, "web", NODES, REPLICAS / NODES).await;
    wait_spread(&admin, "mon", NODES, 1).await;

    // Stop the agent hosting a-0 … a-49: its nodes go down, web moves to b-*, mon shrinks.
    let _ = first.stop.send(());
    tokio::time::timeout(CONVERGE, first.done).await???;
    wait_for("50 nodes ready, 50 down", CONVERGE, || async {
        (ready_nodes().await? == PER_AGENT).then_some(())
    })
    .await;
    wait_spread(&admin, "web", PER_AGENT, REPLICAS / PER_AGENT).await;
    wait_spread(&admin, "mon", PER_AGENT, 1).await;
    for node in running_per_node(&admin, "web").await.keys() {
        assert!(node.starts_with("b-"), "web runs on {node}, a stopped node");
    }
    let _ = second.stop.send(());
    tokio::time::timeout(CONVERGE, second.done).await???;
    Ok(())
}
