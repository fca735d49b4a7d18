//! A stopping node agent stops acting on its Tasks first and leaves its containers running (as
//! Swarm's agent does): the Shutdown that the orchestrators decide once the node is down is for
//! the next agent to carry out, never for the exiting one.

mod agent_common;

use std::sync::Arc;
use std::time::Duration;

use agent_common::*;
use flotilla_api::node::NodeState;
use flotilla_api::{SwarmNode, Task, TaskState};
use flotilla_node_agent::runtime::simulated::{Simulated, SimulatedConfig};
use flotilla_node_agent::{run, AgentConfig};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::Api;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(20);
const TASKS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_agent_leaves_its_containers_running_whatever_the_tasks_then_ask(
) -> anyhow::Result<()> {
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let node_client =
        client_from(&server.kubeconfig_for("system:node:sim-1", &["system:nodes"])?).await?;
    let mut config = AgentConfig::new("sim-1");
    config.heartbeat = Duration::from_millis(500);
    let engine = Arc::new(Simulated::new(SimulatedConfig {
        latency: Duration::from_millis(10),
        ..Default::default()
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(run(node_client, config, engine.clone(), async {
        let _ = stopped.await;
    }));

    let names: Vec<String> = (1..=TASKS).map(|i| format!("web.{i}")).collect();
    for name in &names {
        create_assigned(
            &admin,
            &bound_task(name, "web", "sim-1", template("busybox")),
        )
        .await?;
    }
    for name in &names {
        wait_state(&admin, name, TaskState::Running, WAIT).await;
    }
    assert_eq!(engine.running_count(), TASKS);

    let _ = stop.send(());
    tokio::time::timeout(WAIT, agent).await???;
    let nodes: Api<SwarmNode> = Api::all(admin.clone());
    let node = nodes.get("sim-1").await?.status.unwrap();
    assert_eq!(node.state, Some(NodeState::Down));
    assert_eq!(
        engine.running_count(),
        TASKS,
        "containers after the agent stopped"
    );

    // What the orchestrators do once the node is down: the exiting agent must not carry it out.
    for name in &names {
        set_desired(&admin, name, TaskState::Shutdown).await?;
    }
    // Several poll intervals of the simulated runtime (500 ms) and of any watch.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        engine.running_count(),
        TASKS,
        "containers after desired Shutdown"
    );
    assert_eq!(engine.container_count(), TASKS, "no container removed");
    let tasks: Api<Task> = Api::namespaced(admin, "default");
    for name in &names {
        assert_eq!(
            state_of(&tasks.get(name).await?),
            TaskState::Running,
            "{name}"
        );
    }
    Ok(())
}

/// Stopped while its workers are busy preparing and starting containers: the steps in flight end,
/// no further step runs, and nothing is stopped or removed afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_stopped_mid_start_stops_acting_before_it_returns() -> anyhow::Result<()> {
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let engine = Arc::new(Simulated::new(SimulatedConfig {
        latency: Duration::from_millis(300),
        ..Default::default()
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(run(
        admin.clone(),
        AgentConfig::new("sim-2"),
        engine.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let names: Vec<String> = (1..=TASKS).map(|i| format!("job.{i}")).collect();
    for name in &names {
        create_assigned(
            &admin,
            &bound_task(name, "job", "sim-2", template("busybox")),
        )
        .await?;
    }
    let tasks: Api<Task> = Api::namespaced(admin.clone(), "default");
    wait_for("every task accepted and being prepared", WAIT, || async {
        let list = tasks.list(&Default::default()).await.ok()?;
        let busy = list
            .items
            .iter()
            .filter(|t| state_of(t) >= TaskState::Preparing);
        (busy.count() == TASKS).then_some(())
    })
    .await;
    let _ = stop.send(());
    tokio::time::timeout(WAIT, agent).await???;
    let (created, running) = (engine.container_count(), engine.running_count());
    for name in &names {
        set_desired(&admin, name, TaskState::Shutdown).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        engine.container_count(),
        created,
        "containers created or removed after the stop"
    );
    assert_eq!(
        engine.running_count(),
        running,
        "containers started or stopped after the stop"
    );
    Ok(())
}
