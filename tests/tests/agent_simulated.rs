//! The node agent with the simulated runtime against the real api-server over real etcd: it
//! registers and heartbeats, runs the Tasks bound to it through Swarm's states, honours desired
//! state, and 100 simulated nodes run in one process.

mod agent_common;

use std::sync::Arc;
use std::time::Duration;

use agent_common::*;
use flotilla_api::node::NodeState;
use flotilla_api::{SwarmNode, Task, TaskState};
use flotilla_node_agent::runtime::simulated::{Simulated, SimulatedConfig};
use flotilla_node_agent::{run, run_simulated_nodes, AgentConfig};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::PostParams;
use kube::runtime::watcher;
use kube::Api;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(20);

fn sim_config() -> SimulatedConfig {
    SimulatedConfig {
        latency: Duration::from_millis(10),
        reject_images: vec!["sim/missing".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn simulated_node_registers_heartbeats_and_runs_its_tasks() -> anyhow::Result<()> {
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    // The agent runs with a node identity: the api-server's node rules apply to everything it does.
    let node_client =
        client_from(&server.kubeconfig_for("system:node:sim-1", &["system:nodes"])?).await?;
    let mut config = AgentConfig::new("sim-1");
    config.heartbeat = Duration::from_millis(500);
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(run(
        node_client,
        config,
        Arc::new(Simulated::new(sim_config())),
        async {
            let _ = stopped.await;
        },
    ));

    let nodes: Api<SwarmNode> = Api::all(admin.clone());
    let node = wait_for("SwarmNode sim-1 ready", WAIT, || async {
        let n = nodes.get_opt("sim-1").await.ok()??;
        (n.status.as_ref()?.state == Some(NodeState::Ready)).then_some(n)
    })
    .await;
    let status = node.status.unwrap();
    assert_eq!(status.hostname.as_deref(), Some("sim-1"));
    assert_eq!(status.addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(status.resources.unwrap().nano_cpus, Some(4_000_000_000));
    assert_eq!(
        status.engine.unwrap().labels["flotilla.dev/runtime"],
        "simulated"
    );

    let leases: Api<Lease> = Api::namespaced(admin.clone(), "flotilla-node-lease");
    let first = leases.get("sim-1").await?.spec.unwrap().renew_time.unwrap();
    wait_for("the Lease to be renewed", WAIT, || async {
        let renewed = leases.get("sim-1").await.ok()?.spec?.renew_time?;
        (renewed.0 > first.0).then_some(())
    })
    .await;

    // Record every state web.1 goes through.
    let tasks: Api<Task> = Api::namespaced(admin.clone(), "default");
    let mut events = watcher::watcher(
        tasks.clone(),
        watcher::Config::default().fields("metadata.name=web.1"),
    )
    .boxed();
    let seen = tokio::spawn(async move {
        let mut states: Vec<TaskState> = Vec::new();
        let mut starting_container = None;
        while let Ok(Some(e)) = events.try_next().await {
            if let watcher::Event::Apply(t) | watcher::Event::InitApply(t) = e {
                let s = state_of(&t);
                if states.last() != Some(&s) {
                    states.push(s);
                }
                if s == TaskState::Starting {
                    starting_container = (t.status.as_ref())
                        .and_then(|st| st.container_status.as_ref())
                        .and_then(|c| c.container_id.clone());
                }
                if s == TaskState::Shutdown {
                    break;
                }
            }
        }
        (states, starting_container)
    });

    create_assigned(
        &admin,
        &bound_task("web.1", "web", "sim-1", template("busybox")),
    )
    .await?;
    let running = wait_state(&admin, "web.1", TaskState::Running, WAIT).await;
    let st = running.status.unwrap();
    assert_eq!(st.message.as_deref(), Some("started"));
    assert_eq!(st.applied_by.as_deref(), Some("sim-1"));
    assert!(st
        .container_status
        .unwrap()
        .container_id
        .unwrap()
        .starts_with("sim-web.1."));

    // Rejected before starting, with the runtime's error.
    create_assigned(
        &admin,
        &bound_task("bad.1", "bad", "sim-1", template("sim/missing")),
    )
    .await?;
    let rejected = wait_state(&admin, "bad.1", TaskState::Rejected, WAIT).await;
    assert_eq!(
        rejected.status.unwrap().err.as_deref(),
        Some("No such image: sim/missing (simulated)")
    );

    // Non-zero exit → Failed with Swarm's error and the exit code.
    let mut exits = template("busybox");
    exits.container_spec.env = vec![
        "FLOTILLA_SIM_RUN_FOR=200ms".into(),
        "FLOTILLA_SIM_EXIT_CODE=3".into(),
    ];
    create_assigned(&admin, &bound_task("job.1", "job", "sim-1", exits)).await?;
    let failed = wait_state(&admin, "job.1", TaskState::Failed, WAIT)
        .await
        .status
        .unwrap();
    assert_eq!(failed.err.as_deref(), Some("task: non-zero exit (3)"));
    assert_eq!(failed.container_status.unwrap().exit_code, Some(3));

    // Desired Ready: prepared, not started.
    let mut ready = bound_task("slow.1", "slow", "sim-1", template("busybox"));
    ready.spec.desired_state = TaskState::Ready;
    create_assigned(&admin, &ready).await?;
    wait_state(&admin, "slow.1", TaskState::Ready, WAIT).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(state_of(&tasks.get("slow.1").await?), TaskState::Ready);
    set_desired(&admin, "slow.1", TaskState::Running).await?;
    wait_state(&admin, "slow.1", TaskState::Running, WAIT).await;

    // A task bound to another node is not this agent's business.
    create_assigned(
        &admin,
        &bound_task("other.1", "other", "sim-2", template("busybox")),
    )
    .await?;

    set_desired(&admin, "web.1", TaskState::Shutdown).await?;
    let shut = wait_state(&admin, "web.1", TaskState::Shutdown, WAIT).await;
    assert_eq!(shut.status.unwrap().message.as_deref(), Some("shutdown"));
    use TaskState::*;
    // Accepted and Ready are passed through; the task is written Starting with its container.
    let (states, starting_container) = seen.await?;
    assert_eq!(
        states,
        vec![New, Assigned, Preparing, Starting, Running, Shutdown]
    );
    assert!(
        starting_container.is_some_and(|id| id.starts_with("sim-web.1.")),
        "the Starting status names the prepared container"
    );
    assert_eq!(state_of(&tasks.get("other.1").await?), Assigned);

    let _ = stop.send(());
    agent.await??;
    let down = nodes.get("sim-1").await?.status.unwrap();
    assert_eq!(down.state, Some(NodeState::Down));
    Ok(())
}

#[tokio::test]
async fn node_identity_cannot_touch_another_nodes_task_status() -> anyhow::Result<()> {
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    create_assigned(
        &admin,
        &bound_task("x.1", "x", "sim-2", template("busybox")),
    )
    .await?;
    let as_node =
        client_from(&server.kubeconfig_for("system:node:sim-1", &["system:nodes"])?).await?;
    let api: Api<Task> = Api::namespaced(as_node, "default");
    let mut task = Api::<Task>::namespaced(admin, "default").get("x.1").await?;
    task.status.as_mut().unwrap().state = Some(TaskState::Running);
    let err = api
        .replace_status("x.1", &PostParams::default(), &task)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(e) if e.code == 403),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn hundred_simulated_nodes_in_one_process() -> anyhow::Result<()> {
    const NODES: usize = 100;
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let started = tokio::time::Instant::now();
    let (stop, stopped) = oneshot::channel::<()>();
    let agents = tokio::spawn(run_simulated_nodes(
        admin.clone(),
        AgentConfig::new("sim"),
        NODES,
        sim_config(),
        async {
            let _ = stopped.await;
        },
    ));
    let nodes: Api<SwarmNode> = Api::all(admin.clone());
    wait_for("100 SwarmNodes ready", Duration::from_secs(60), || async {
        let list = nodes.list(&Default::default()).await.ok()?;
        let ready = list
            .items
            .iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(NodeState::Ready))
            .count();
        (ready == NODES).then_some(())
    })
    .await;
    let registered = started.elapsed();

    let t0 = tokio::time::Instant::now();
    for i in 0..NODES {
        let name = format!("web.{}", i + 1);
        create_assigned(
            &admin,
            &bound_task(&name, "web", &format!("sim-{i}"), template("busybox")),
        )
        .await?;
    }
    let created = t0.elapsed();
    let tasks: Api<Task> = Api::namespaced(admin.clone(), "default");
    wait_for("100 tasks running", Duration::from_secs(90), || async {
        let list = tasks.list(&Default::default()).await.ok()?;
        let running = list
            .items
            .iter()
            .filter(|t| state_of(t) == TaskState::Running)
            .count();
        (running == NODES).then_some(())
    })
    .await;
    println!(
        "{NODES} simulated nodes registered in {registered:?}; {NODES} tasks (one per node) created (2 requests each) in {created:?}, all Running after {:?}",
        t0.elapsed()
    );
    let list = tasks.list(&Default::default()).await?;
    for t in &list.items {
        let st = t.status.as_ref().unwrap();
        assert_eq!(
            st.applied_by.as_ref(),
            t.spec.node_name.as_ref(),
            "task ran on its own node"
        );
    }
    let _ = stop.send(());
    agents.await??;
    Ok(())
}
