//! End to end with the real binaries (etcd, flotilla-api-server, flotilla-scheduler,
//! flotilla-controller-manager, three flotilla-node-agent processes on 127.0.0.2/3/4) and the
//! Docker engine, started as `flotilla up` starts them. Skips with a printed reason when no
//! Docker engine answers.

mod e2e_support;

use std::time::Duration;

use e2e_support::secrets::*;
use e2e_support::*;
use flotilla_api::node::NodeState;
use flotilla_api::{SwarmSecret, SwarmSecretSpec, TaskState};
use flotilla_cli::up::image::WEB_IMAGE;
use flotilla_cli::up::{AgentSpec, Runtime};
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::Api;

const CONVERGE: Duration = Duration::from_secs(120);
const WHOLE_TEST: Duration = Duration::from_secs(420);

fn node_prefix() -> String {
    format!("e2e{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread")]
async fn replicated_service_serves_on_every_node_survives_a_killed_container_and_keeps_its_secret_off_disk(
) {
    let Some(_image) = web_image() else { return };
    // Bounded on its own (a cold build is slow); the scenario's bound excludes it.
    flotilla_tests::bins::workspace_bins()
        .await
        .expect("the workspace binaries");
    tokio::time::timeout(WHOLE_TEST, replicated_scenario())
        .await
        .expect("the scenario finishes in time");
}

async fn replicated_scenario() {
    let agents = AgentSpec::numbered(&node_prefix(), 3, Runtime::Docker);
    let mut e2e = E2e::start(agents.clone(), &[])
        .await
        .expect("cluster starts");
    let secret = format!("e2e-secret-{}-{}", std::process::id(), rand_suffix());
    create_secret(&e2e, "db-pass", &secret).await;
    let port = free_port_on_nodes(3);
    let svc = replicated("web", WEB_IMAGE, 3, Some(port), Some("db-pass"));
    e2e.services()
        .create(&PostParams::default(), &svc)
        .await
        .expect("service created");
    let tasks = e2e.wait_running("web", 3, CONVERGE).await;
    let mut nodes: Vec<_> = tasks
        .iter()
        .filter_map(|t| t.spec.node_name.clone())
        .collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "one task per node (spread): {nodes:?}");

    // a. The routing mesh answers on every node's address.
    for agent in &agents {
        let addr = format!("{}:{port}", agent.address);
        let body = wait_for(&format!("the mesh on {addr}"), CONVERGE, || http_get(&addr)).await;
        assert!(
            body.contains("Hello from a Flotilla task"),
            "{addr}: {body}"
        );
    }

    // c. The secret is inside the container, on a tmpfs on the host, nowhere on disk.
    let victim = &tasks[0];
    let container = container_of(victim).expect("a running task has a container");
    let inside = docker(&[
        "exec",
        &container,
        "/bin/busybox",
        "cat",
        "/run/secrets/db-pass",
    ]);
    assert_eq!(inside.as_deref(), Some(secret.as_str()));
    assert_secret_only_on_tmpfs(&container, &secret);
    assert_files_lack(e2e.cluster.data_dir(), &secret);
    assert_etcd_has_ciphertext(e2e.cluster.etcd_url(), "db-pass", &secret).await;

    // b. A killed container fails its task; the orchestrator replaces it.
    let victim_name = victim.metadata.name.clone().unwrap();
    docker(&["kill", &container]).expect("docker kill");
    let tasks_api = e2e.tasks();
    wait_for("the killed task to fail", CONVERGE, || async {
        let t = tasks_api.get(&victim_name).await.ok()?;
        (state_of(&t) == TaskState::Failed).then_some(())
    })
    .await;
    let after = e2e.wait_running("web", 3, CONVERGE).await;
    let replacement = after
        .iter()
        .find(|t| t.spec.slot == victim.spec.slot)
        .expect("the slot runs again");
    assert_ne!(replacement.metadata.name, victim.metadata.name);
    assert_ne!(
        container_of(replacement).as_deref(),
        Some(container.as_str())
    );

    let E2e { cluster, .. } = e2e;
    cluster.shutdown().await;
    for agent in &agents {
        let filter = format!("label=flotilla.dev/node={}", agent.name);
        let left = docker(&["ps", "-aq", "--filter", &filter]).unwrap_or_default();
        assert!(left.is_empty(), "containers of {} left: {left}", agent.name);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

async fn create_secret(e2e: &E2e, name: &str, value: &str) {
    let secret = SwarmSecret::new(
        name,
        SwarmSecretSpec {
            data: ByteString(value.as_bytes().to_vec()),
            templating: None,
        },
    );
    Api::<SwarmSecret>::namespaced(e2e.cluster.client(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
}

#[tokio::test(flavor = "multi_thread")]
async fn global_service_runs_on_every_agent_and_a_stopped_agents_tasks_move() {
    let Some(_image) = web_image() else { return };
    // Bounded on its own (a cold build is slow); the scenario's bound excludes it.
    flotilla_tests::bins::workspace_bins()
        .await
        .expect("the workspace binaries");
    tokio::time::timeout(WHOLE_TEST, global_and_node_down_scenario())
        .await
        .expect("the scenario finishes in time");
}

async fn global_and_node_down_scenario() {
    let agents = AgentSpec::numbered(&node_prefix(), 3, Runtime::Docker);
    let mut e2e = E2e::start(agents.clone(), &[])
        .await
        .expect("cluster starts");
    let port = free_port_on_nodes(3);
    let create = PostParams::default();
    let web = replicated("web", WEB_IMAGE, 3, Some(port), None);
    e2e.services()
        .create(&create, &web)
        .await
        .expect("web created");
    let monitor = global("monitor", WEB_IMAGE);
    e2e.services()
        .create(&create, &monitor)
        .await
        .expect("monitor created");
    e2e.wait_running("web", 3, CONVERGE).await;

    // d. One task, and one container, of the global service on every agent.
    let global_tasks = e2e.wait_running("monitor", 3, CONVERGE).await;
    let names: Vec<String> = agents.iter().map(|a| a.name.clone()).collect();
    assert_eq!(nodes_of(&global_tasks), names);
    for agent in &agents {
        let filter_node = format!("label=flotilla.dev/node={}", agent.name);
        let filter_svc = "label=flotilla.dev/service=monitor";
        let ids = docker(&["ps", "-q", "--filter", &filter_node, "--filter", filter_svc]);
        let count = ids.unwrap_or_default().split_whitespace().count();
        assert_eq!(count, 1, "containers of monitor on {}", agent.name);
    }

    // e. Stopping an agent marks its node down; its replicated task moves to the others and
    // its global task is shut down, while its containers keep running (as Swarm leaves them:
    // the exiting agent stops acting on its tasks before the node is marked down).
    let gone = &agents[2];
    let before = containers_on(&gone.name);
    assert!(!before.is_empty(), "containers on {}", gone.name);
    e2e.cluster
        .stop_agent(&gone.name)
        .await
        .expect("agent stops");
    wait_for("the stopped agent's node to be down", CONVERGE, || async {
        (node_state(&e2e, &gone.name).await == Some(NodeState::Down)).then_some(())
    })
    .await;
    let moved = wait_for("web's tasks to leave the down node", CONVERGE, || async {
        let running = e2e.running_tasks("web").await;
        let off = running
            .iter()
            .all(|t| t.spec.node_name.as_deref() != Some(&gone.name));
        (running.len() == 3 && off).then_some(running)
    })
    .await;
    assert!(nodes_of(&moved).iter().all(|n| n != &gone.name));
    let left = wait_for(
        "the global service to shrink to the live nodes",
        CONVERGE,
        || async {
            let running = e2e.running_tasks("monitor").await;
            (running.len() == 2).then_some(running)
        },
    )
    .await;
    assert_eq!(nodes_of(&left), names[..2].to_vec());
    assert_eq!(
        containers_on(&gone.name),
        before,
        "the stopped agent's containers"
    );
    let body = http_get(&format!("{}:{port}", agents[0].address)).await;
    assert!(body
        .unwrap_or_default()
        .contains("Hello from a Flotilla task"));

    let E2e { cluster, .. } = e2e;
    cluster.shutdown().await;
}

/// Ids of the running containers the agent `node` started.
fn containers_on(node: &str) -> Vec<String> {
    let filter = format!("label=flotilla.dev/node={node}");
    let ids = docker(&["ps", "-q", "--no-trunc", "--filter", &filter]).unwrap_or_default();
    let mut ids: Vec<String> = ids.split_whitespace().map(str::to_string).collect();
    ids.sort();
    ids
}
