//! The scheduler against the real api-server over real etcd: spread, constraints, impossible
//! reservations (explained in status and an Event), drained nodes, preassigned tasks.

use std::collections::BTreeMap;
use std::time::Duration;

use flotilla_api::{SwarmNode, Task, TaskState};
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::swarm::{create_node, create_pending, task};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use tokio::sync::oneshot;

async fn tasks_of(api: &Api<Task>, service: &str) -> Vec<Task> {
    let lp = ListParams::default().labels(&format!("flotilla.dev/service={service}"));
    api.list(&lp).await.unwrap().items
}

fn state(t: &Task) -> Option<TaskState> {
    t.status.as_ref().and_then(|s| s.state)
}

/// Waits until every task of `service` satisfies `done`, returning them.
async fn wait_tasks(
    api: &Api<Task>,
    service: &str,
    n: usize,
    done: fn(&Task) -> bool,
) -> Vec<Task> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let tasks = tasks_of(api, service).await;
        if tasks.len() == n && tasks.iter().all(done) {
            return tasks;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "tasks of {service} never settled: {:#?}",
                tasks
                    .iter()
                    .map(|t| (&t.metadata.name, &t.spec.node_name, &t.status))
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assigned(t: &Task) -> bool {
    state(t) == Some(TaskState::Assigned) && t.spec.node_name.is_some()
}

fn per_node(tasks: &[Task]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for t in tasks {
        *counts.entry(t.spec.node_name.clone().unwrap()).or_default() += 1;
    }
    counts
}

async fn create_service(client: &kube::Client, service: &str, n: i64, template: serde_json::Value) {
    for slot in 1..=n {
        let t = task(service, slot, template.clone(), None).unwrap();
        create_pending(client, "default", &t).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_spreads_explains_and_respects_drain() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let admin = server.client().await.unwrap();
    for (name, zone) in [("node-a", "a"), ("node-b", "b"), ("node-c", "c")] {
        create_node(&admin, name, json!({"zone": zone}))
            .await
            .unwrap();
    }
    let kubeconfig = server
        .kubeconfig_for("system:flotilla-scheduler", &[])
        .unwrap();
    let client = flotilla_component::client_from_kubeconfig(Some(&kubeconfig))
        .await
        .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let scheduler = tokio::spawn(flotilla_scheduler::run(client, Default::default(), stopped));
    let tasks: Api<Task> = Api::namespaced(admin.clone(), "default");

    create_service(&admin, "web", 6, json!({})).await;
    let web = wait_tasks(&tasks, "web", 6, assigned).await;
    assert_eq!(per_node(&web).into_values().collect::<Vec<_>>(), [2, 2, 2]);
    assert_eq!(
        web[0].status.as_ref().unwrap().message.as_deref(),
        Some("scheduler assigned task to node")
    );

    let zoned = json!({"placement": {"constraints": ["node.labels.zone==a"]}});
    create_service(&admin, "zoned", 3, zoned).await;
    let placed = wait_tasks(&tasks, "zoned", 3, assigned).await;
    assert_eq!(per_node(&placed).keys().collect::<Vec<_>>(), ["node-a"]);

    let huge = json!({"resources": {"reservations": {"memoryBytes": 64i64 << 30}}});
    create_service(&admin, "huge", 2, huge).await;
    let explained = |t: &Task| t.status.as_ref().and_then(|s| s.err.as_deref()).is_some();
    let stuck = wait_tasks(&tasks, "huge", 2, explained).await;
    let expected = "no suitable node (insufficient resources on 3 nodes)";
    for t in &stuck {
        let status = t.status.as_ref().unwrap();
        assert_eq!(status.state, Some(TaskState::Pending));
        assert_eq!(status.err.as_deref(), Some(expected));
        // As in Swarm: the reason is in `err`; the message stays the allocator's.
        assert_eq!(status.message.as_deref(), Some("pending task scheduling"));
        assert_eq!(t.spec.node_name, None);
    }
    let events: Api<Event> = Api::namespaced(admin.clone(), "default");
    let events = events.list(&ListParams::default()).await.unwrap().items;
    let failed: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .collect();
    assert!(
        failed.iter().any(|e| e.message.as_deref() == Some(expected)
            && e.involved_object.name.as_deref() == Some("huge.1")
            && e.type_.as_deref() == Some("Warning")),
        "events: {events:#?}"
    );

    // Drain node-c: new tasks avoid it (and spread over a and b only).
    let nodes: Api<SwarmNode> = Api::all(admin.clone());
    let drain = json!({"spec": {"availability": "drain"}});
    nodes
        .patch("node-c", &PatchParams::default(), &Patch::Merge(&drain))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    create_service(&admin, "after", 4, json!({})).await;
    let after = wait_tasks(&tasks, "after", 4, assigned).await;
    assert_eq!(
        per_node(&after).keys().collect::<Vec<_>>(),
        ["node-a", "node-b"]
    );

    // Preassigned (global-style) tasks: confirmed on an active node, explained on a drained one.
    let global = task("agent", 0, json!({}), Some("node-a")).unwrap();
    create_pending(&admin, "default", &global).await.unwrap();
    let drained = task("agent", 0, json!({}), Some("node-c")).unwrap();
    create_pending(&admin, "default", &drained).await.unwrap();
    let settled =
        |t: &Task| assigned(t) || t.status.as_ref().and_then(|s| s.err.as_deref()).is_some();
    let agents = wait_tasks(&tasks, "agent", 2, settled).await;
    let by_name: BTreeMap<_, _> = agents
        .iter()
        .map(|t| (t.metadata.name.clone().unwrap(), t))
        .collect();
    let ok = by_name["agent.node-a"].status.as_ref().unwrap();
    assert_eq!(ok.state, Some(TaskState::Assigned));
    assert_eq!(ok.message.as_deref(), Some(flotilla_scheduler::CONFIRMED));
    let no = by_name["agent.node-c"].status.as_ref().unwrap();
    assert_eq!(no.state, Some(TaskState::Pending));
    assert_eq!(
        no.err.as_deref(),
        Some("1 node not available for new tasks"),
        "Swarm's taskFitNode writes the bare explanation for a preassigned task"
    );

    stop.send(()).unwrap();
    scheduler.await.unwrap().unwrap();
}
