//! A restarted CRI node agent adopts the pod sandboxes its predecessor left running, found by
//! their CRI labels (the kubelet finds its pods the same way): the same containers stay
//! Running, no duplicate sandbox is started, and adopted tasks are still stopped and removed when
//! the managers ask, both for a Shutdown decided while no agent ran and for a scale-down (desired
//! Remove) after the restart. The sandbox of a Task deleted while no agent ran is removed.

mod agent_common;
mod agent_cri_common;

use std::time::Duration;

use agent_common::*;
use agent_cri_common::*;
use flotilla_api::{SwarmNode, Task, TaskState};
use flotilla_node_agent::mesh::ENDPOINTS_ANNOTATION;
use flotilla_tests::apiserver::{client_from, TestApiServer};
use flotilla_tests::containerd::{shared, NodeFiles, IMAGE};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

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
async fn restarted_cri_agent_adopts_its_sandboxes_and_still_stops_and_removes_them(
) -> anyhow::Result<()> {
    let Some(cri) = shared().await else {
        return Ok(());
    };
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let node = format!("criadopt-{}", std::process::id());
    let _files = NodeFiles(node.clone());
    let kubeconfig = server.kubeconfig_for(&format!("system:node:{node}"), &["system:nodes"])?;
    let dirs = tempfile::tempdir()?;
    let address = "127.0.0.10";

    let first = start_agent(client_from(&kubeconfig).await?, &cri, &node, address, &dirs).await?;
    let names = ["web.1", "web.2", "web.3", "web.4"];
    for name in names {
        create_assigned(&admin, &bound_task(name, "web", &node, sleeper())).await?;
    }
    let mut before = Vec::new();
    for name in names {
        before.push(container_of(&admin, name).await);
    }
    wait_published(&admin, &node, 4).await;
    let sandboxes = cri.sandboxes_of(&node).await;
    assert_eq!(sandboxes.len(), 4, "one sandbox per task");
    first.stop().await?;
    for id in &before {
        assert_eq!(status_of(&cri, id).as_deref(), Some("running"), "{id}");
    }

    // While no agent runs: web.3 is shut down, web.4's Task deleted, stale endpoints cleared.
    set_desired(&admin, "web.3", TaskState::Shutdown).await?;
    Api::<Task>::namespaced(admin.clone(), "default")
        .delete("web.4", &DeleteParams::default())
        .await?;
    let clear = json!({ "metadata": { "annotations": { ENDPOINTS_ANNOTATION: null } } });
    Api::<SwarmNode>::all(admin.clone())
        .patch(&node, &PatchParams::default(), &Patch::Merge(&clear))
        .await?;

    let second = start_agent(client_from(&kubeconfig).await?, &cri, &node, address, &dirs).await?;
    wait_published(&admin, &node, 2).await;
    wait_state(&admin, "web.3", TaskState::Shutdown, WAIT).await;
    assert_eq!(status_of(&cri, &before[2]).as_deref(), Some("exited"));
    wait_for(
        "the deleted web.4's container to be removed",
        WAIT,
        || async { status_of(&cri, &before[3]).is_none().then_some(()) },
    )
    .await;
    for (i, name) in names[..2].iter().enumerate() {
        assert_eq!(
            container_of(&admin, name).await,
            before[i],
            "{name}'s container"
        );
        assert_eq!(
            status_of(&cri, &before[i]).as_deref(),
            Some("running"),
            "{name}"
        );
    }
    // No duplicates: the three remaining tasks' sandboxes, and no new one.
    let left = cri.sandboxes_of(&node).await;
    assert_eq!(left.len(), 3, "sandboxes after the restart: {left:?}");
    assert!(
        left.iter().all(|s| sandboxes.contains(s)),
        "a new sandbox appeared"
    );

    // Scale down (desired Remove): the adopted task's sandbox goes.
    set_desired(&admin, "web.2", TaskState::Remove).await?;
    wait_for("web.2's container to be removed", WAIT, || async {
        status_of(&cri, &before[1]).is_none().then_some(())
    })
    .await;
    wait_published(&admin, &node, 1).await;
    assert_eq!(cri.sandboxes_of(&node).await.len(), 2);
    assert_eq!(status_of(&cri, &before[0]).as_deref(), Some("running"));

    second.stop().await?;
    cri.remove_node(&node).await;
    Ok(())
}
