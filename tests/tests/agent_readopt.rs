//! A restarted Docker node agent adopts the containers its predecessor left running (Swarm's
//! agent does the same across restarts): the same container ids stay Running, no duplicate is
//! started, and the adopted containers are still stopped and removed when the managers ask —
//! both for a Shutdown decided while no agent ran and for a scale-down after the restart. The
//! container of a Task deleted while no agent ran is removed.

mod agent_common;

use std::sync::Arc;
use std::time::Duration;

use agent_common::docker::{busybox_image, docker, node_containers, RemoveOnDrop, IMAGE};
use agent_common::*;
use flotilla_api::{SwarmNode, Task, TaskState};
use flotilla_node_agent::mesh::ENDPOINTS_ANNOTATION;
use flotilla_node_agent::runtime::docker::Docker;
use flotilla_node_agent::AgentConfig;
use flotilla_tests::agent::RunningAgent;
use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// A Docker agent for `node` publishing its endpoints (the signal that it tracks a task).
async fn start_agent(client: Client, node: &str) -> anyhow::Result<RunningAgent> {
    let mut config = AgentConfig::new(node);
    config.node_address = "127.0.0.6".into();
    config.mesh = true;
    let runtime = Arc::new(Docker::connect(node).await?);
    Ok(RunningAgent::spawn(client, config, runtime))
}

fn sleeper() -> flotilla_api::template::TaskTemplate {
    let mut t = template(IMAGE);
    t.container_spec.command = vec!["/bin/busybox".into(), "sleep".into()];
    t.container_spec.args = vec!["3600".into()];
    t.container_spec.stop_grace_period = Some("1s".into());
    t
}

async fn container_of(admin: &Client, name: &str) -> String {
    let task = wait_state(admin, name, TaskState::Running, WAIT).await;
    task.status
        .and_then(|s| s.container_status)
        .and_then(|c| c.container_id)
        .expect("a Running task names its container")
}

fn status_of(container: &str) -> Option<String> {
    docker(&["inspect", "-f", "{{.State.Status}}", container])
}

/// Waits until the node's published endpoints for `default/web` are exactly `count` addresses.
async fn wait_published(admin: &Client, node: &str, count: usize) {
    let nodes: Api<SwarmNode> = Api::all(admin.clone());
    wait_for(&format!("{count} published web endpoints"), WAIT, || {
        let nodes = nodes.clone();
        async move {
            let n = nodes.get(node).await.ok()?;
            let value = n.metadata.annotations?.get(ENDPOINTS_ANNOTATION)?.clone();
            let parsed: serde_json::Value = serde_json::from_str(&value).ok()?;
            let ips = parsed.get("default/web")?.as_array()?.len();
            (ips == count).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_agent_adopts_running_containers_and_still_stops_them() -> anyhow::Result<()> {
    if busybox_image().is_none() {
        return Ok(());
    }
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let node = format!("adopt-{}", std::process::id());
    let _cleanup = RemoveOnDrop(node.clone());
    let kubeconfig = server.kubeconfig_for(&format!("system:node:{node}"), &["system:nodes"])?;

    let first = start_agent(client_from(&kubeconfig).await?, &node).await?;
    let names = ["web.1", "web.2", "web.3", "web.4"];
    for name in names {
        create_assigned(&admin, &bound_task(name, "web", &node, sleeper())).await?;
    }
    let mut before = Vec::new();
    for name in names {
        before.push(container_of(&admin, name).await);
    }
    wait_published(&admin, &node, 4).await;
    first.stop().await?;
    for id in &before {
        assert_eq!(
            status_of(id).as_deref(),
            Some("running"),
            "{id} after the stop"
        );
    }

    // While no agent runs: the managers shut web.3 down, web.4's Task is deleted, and the stale
    // endpoints are cleared so that only the next agent's own publishing can fill them again.
    set_desired(&admin, "web.3", TaskState::Shutdown).await?;
    Api::<Task>::namespaced(admin.clone(), "default")
        .delete("web.4", &DeleteParams::default())
        .await?;
    let clear = json!({ "metadata": { "annotations": { ENDPOINTS_ANNOTATION: null } } });
    Api::<SwarmNode>::all(admin.clone())
        .patch(&node, &PatchParams::default(), &Patch::Merge(&clear))
        .await?;

    let second = start_agent(client_from(&kubeconfig).await?, &node).await?;
    // web.1 and web.2 adopted (serving again); web.3 stopped and web.4 removed by the new agent.
    wait_published(&admin, &node, 2).await;
    wait_state(&admin, "web.3", TaskState::Shutdown, WAIT).await;
    assert_eq!(status_of(&before[2]).as_deref(), Some("exited"));
    wait_for(
        "the deleted web.4's container to be removed",
        WAIT,
        || async { status_of(&before[3]).is_none().then_some(()) },
    )
    .await;
    for (i, name) in names[..2].iter().enumerate() {
        assert_eq!(
            container_of(&admin, name).await,
            before[i],
            "{name}'s container"
        );
        assert_eq!(status_of(&before[i]).as_deref(), Some("running"), "{name}");
    }
    let mut expected = before[..3].to_vec();
    expected.sort();
    assert_eq!(node_containers(&node), expected, "containers on the node");

    // Scale down (the replicated orchestrator's desired Remove): the adopted container goes.
    set_desired(&admin, "web.2", TaskState::Remove).await?;
    wait_for("web.2's container to be removed", WAIT, || async {
        status_of(&before[1]).is_none().then_some(())
    })
    .await;
    wait_state(&admin, "web.2", TaskState::Shutdown, WAIT).await;
    wait_published(&admin, &node, 1).await;
    assert_eq!(status_of(&before[0]).as_deref(), Some("running"));

    second.stop().await?;
    Ok(())
}
