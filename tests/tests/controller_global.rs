//! Global services and node lifecycle against the real api-server over real etcd: the
//! controller-manager in-process, the fake agent (controller_support) playing the nodes and
//! renewing their heartbeat Leases.

mod controller_support;

use std::collections::BTreeMap;
use std::time::Duration;

use controller_support::{observed, Cluster};
use flotilla_api::node::NodeState;
use flotilla_api::{Task, TaskState};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::json;

const GLOBAL: &str = "apiVersion: flotilla.dev/v1alpha1\nkind: SwarmService\nmetadata:\n  name: mon\nspec:\n  mode:\n    global: {}\n  taskTemplate:\n    containerSpec:\n      image: nginx\n    placement:\n      constraints: [\"node.labels.mon!=off\"]\n";

/// Node → name of its task that runs and is meant to.
fn running_by_node(tasks: &[Task]) -> BTreeMap<String, String> {
    tasks
        .iter()
        .filter(|t| observed(t) == TaskState::Running && t.spec.desired_state == TaskState::Running)
        .map(|t| (t.spec.node_name.clone().unwrap(), t.name_any()))
        .collect()
}

/// Node → number of its tasks desired to run.
fn runnable_per_node(tasks: &[Task]) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for t in tasks
        .iter()
        .filter(|t| t.spec.desired_state <= TaskState::Running)
    {
        *count.entry(t.spec.node_name.clone().unwrap()).or_default() += 1;
    }
    count
}

async fn wait_running_on(c: &Cluster, nodes: &[&str]) -> BTreeMap<String, String> {
    c.eventually(30, &format!("mon running on exactly {nodes:?}"), || async {
        let tasks = c.tasks_of("mon").await;
        let running = running_by_node(&tasks);
        let per_node = runnable_per_node(&tasks);
        (running.keys().eq(nodes.iter()) && per_node.values().all(|n| *n == 1)).then_some(running)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn global_service_follows_joins_drains_labels_and_updates() {
    let opts = flotilla_controller_manager::Options::default();
    let c = Cluster::start_with(&["n1", "n2"], opts, true).await;
    c.create_service(GLOBAL).await;
    // One task per node, placed by the scheduler confirming the preset node (the fake agent
    // does not bind here: a task only runs once the scheduler assigned it).
    let first = wait_running_on(&c, &["n1", "n2"]).await;
    for (node, name) in &first {
        assert!(name.starts_with(&format!("mon.{node}.")), "{name}");
    }
    let mon = c.tasks_of("mon").await;
    assert!(mon
        .iter()
        .all(|t| t.spec.slot.is_none() && t.owner_references()[0].kind == "SwarmService"));
    c.add_node("n3").await;
    let joined = wait_running_on(&c, &["n1", "n2", "n3"]).await;
    assert_eq!(joined["n1"], first["n1"], "existing tasks are kept");
    // Drain n2: its task is shut down and not replaced anywhere.
    c.patch_node("n2", json!({"spec": {"availability": "drain"}}))
        .await;
    wait_running_on(&c, &["n1", "n3"]).await;
    c.eventually(10, "n2's task stopped", || async {
        let tasks = c.tasks_of("mon").await;
        let old = tasks.iter().find(|t| t.name_any() == first["n2"])?;
        (old.spec.desired_state == TaskState::Shutdown && observed(old) == TaskState::Shutdown)
            .then_some(())
    })
    .await;
    // n1 stops matching the constraint.
    c.patch_node("n1", json!({"metadata": {"labels": {"mon": "off"}}}))
        .await;
    wait_running_on(&c, &["n3"]).await;
    // A template change replaces the remaining task on its node.
    let image = json!({"spec": {"taskTemplate": {"containerSpec": {"image": "nginx:2"}}}});
    c.services()
        .patch("mon", &PatchParams::default(), &Patch::Merge(image))
        .await
        .unwrap();
    let updated = c
        .eventually(30, "mon updated on n3", || async {
            let tasks = c.tasks_of("mon").await;
            let running = running_by_node(&tasks);
            let name = running.get("n3")?;
            let t = tasks.iter().find(|t| t.name_any() == *name)?;
            (t.spec.template.container_spec.image == "nginx:2" && running.len() == 1)
                .then(|| name.clone())
        })
        .await;
    assert_ne!(updated, joined["n3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn node_down_by_lease_expiry_moves_replicated_tasks_and_comes_back() {
    let opts = flotilla_controller_manager::Options {
        node_monitor_grace_period: Duration::from_secs(2),
        ..Default::default()
    };
    let c = Cluster::start_with(&["n1", "n2", "n3"], opts, false).await;
    c.create_service("apiVersion: flotilla.dev/v1alpha1\nkind: SwarmService\nmetadata:\n  name: web\nspec:\n  mode:\n    replicated:\n      replicas: 3\n  taskTemplate:\n    containerSpec:\n      image: nginx\n    restartPolicy:\n      delay: 1s\n").await;
    let before = c
        .eventually(30, "3 running web tasks on 3 nodes", || async {
            let tasks = c.tasks_of("web").await;
            let running: Vec<&Task> = tasks
                .iter()
                .filter(|t| observed(t) == TaskState::Running)
                .collect();
            let nodes: std::collections::BTreeSet<_> = running
                .iter()
                .filter_map(|t| t.spec.node_name.clone())
                .collect();
            (running.len() == 3 && nodes.len() == 3).then_some(tasks)
        })
        .await;
    // Nodes keep beating well past the grace period.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        c.node("n3").await.status.unwrap().state,
        Some(NodeState::Ready)
    );
    let lost = before
        .iter()
        .find(|t| t.spec.node_name.as_deref() == Some("n3"))
        .unwrap()
        .name_any();
    c.heartbeat("n3", false);
    c.eventually(15, "n3 down with Swarm's message", || async {
        let status = c.node("n3").await.status?;
        (status.state == Some(NodeState::Down)
            && status.message.as_deref() == Some("heartbeat failure"))
        .then_some(())
    })
    .await;
    c.eventually(30, "web's n3 task replaced on n1/n2", || async {
        let tasks = c.tasks_of("web").await;
        let old = tasks.iter().find(|t| t.name_any() == lost)?;
        let running: Vec<&Task> = tasks
            .iter()
            .filter(|t| {
                observed(t) == TaskState::Running && t.spec.desired_state == TaskState::Running
            })
            .collect();
        let elsewhere = running
            .iter()
            .all(|t| t.spec.node_name.as_deref() != Some("n3"));
        (old.spec.desired_state == TaskState::Shutdown && running.len() == 3 && elsewhere)
            .then_some(())
    })
    .await;
    let events: Api<Event> = Api::namespaced(c.admin.clone(), "default");
    let list = events.list(&ListParams::default()).await.unwrap();
    assert!(list
        .items
        .iter()
        .any(|e| e.reason.as_deref() == Some("NodeDown")
            && e.involved_object.name.as_deref() == Some("n3")));
    // The agent beats again: the node is ready again (no rebalancing, as in Swarm).
    c.heartbeat("n3", true);
    c.eventually(15, "n3 ready again", || async {
        let status = c.node("n3").await.status?;
        (status.state == Some(NodeState::Ready) && status.message.is_none()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn constraint_enforcer_rejects_tasks_whose_node_stops_matching() {
    let opts = flotilla_controller_manager::Options::default();
    let c = Cluster::start_with(&[], opts, true).await;
    for n in ["n1", "n2"] {
        c.add_node(n).await;
        c.patch_node(n, json!({"metadata": {"labels": {"zone": "a"}}}))
            .await;
    }
    c.create_service("apiVersion: flotilla.dev/v1alpha1\nkind: SwarmService\nmetadata:\n  name: db\nspec:\n  mode:\n    replicated:\n      replicas: 2\n  taskTemplate:\n    containerSpec:\n      image: nginx\n    restartPolicy:\n      delay: 0s\n    placement:\n      constraints: [\"node.labels.zone==a\"]\n").await;
    let on_n2 = c
        .eventually(30, "db running on n1 and n2", || async {
            let tasks = c.tasks_of("db").await;
            let running: BTreeMap<String, String> = running_by_node(&tasks);
            (running.len() == 2).then(|| running["n2"].clone())
        })
        .await;
    c.patch_node("n2", json!({"metadata": {"labels": {"zone": "b"}}}))
        .await;
    c.eventually(30, "n2's task rejected and replaced on n1", || async {
        let tasks = c.tasks_of("db").await;
        let old = tasks.iter().find(|t| t.name_any() == on_n2)?;
        let status = old.status.clone()?;
        let running: Vec<&Task> = tasks
            .iter()
            .filter(|t| {
                observed(t) == TaskState::Running && t.spec.desired_state == TaskState::Running
            })
            .collect();
        (status.state == Some(TaskState::Rejected)
            && status.message.as_deref() == Some("task rejected by constraint enforcer")
            && status.err.as_deref() == Some("assigned node no longer meets constraints")
            && running.len() == 2
            && running
                .iter()
                .all(|t| t.spec.node_name.as_deref() == Some("n1")))
        .then_some(())
    })
    .await;
}
