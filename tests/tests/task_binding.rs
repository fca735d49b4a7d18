//! The Task `binding` subresource as the scheduler uses it, against the real api-server over
//! real etcd: a pending task becomes ASSIGNED to the target node; binding it again to the same
//! node is harmless; to another node, or while it is being deleted, is a 409 that changes nothing.
//! As kube-apiserver's pods/binding, a binding is answered with a `Status` of `Success`.

use flotilla_api::{Task, TaskState};
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::swarm::{create_pending, task};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

/// Binds and, once the answer says Success, reads the Task back.
async fn bind(api: &Api<Task>, name: &str, node: &str) -> Result<Task, kube::Error> {
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
        "target": {"kind": "SwarmNode", "name": node}});
    let answer: Status = api
        .create_subresource("binding", name, &PostParams::default(), &binding)
        .await?;
    assert_eq!(answer.status.as_deref(), Some("Success"), "{answer:?}");
    api.get(name).await
}

fn conflict_message(result: Result<Task, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(s)) if s.code == 409 => s.message,
        other => panic!("expected 409, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn binding_assigns_once_and_refuses_other_nodes_and_deleting_tasks() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let api: Api<Task> = Api::namespaced(client.clone(), "default");
    let pending = task("web", 1, json!({}), None).unwrap();
    let name = pending.metadata.name.clone().unwrap();
    create_pending(&client, "default", &pending).await.unwrap();

    let bound = bind(&api, &name, "node-a").await.unwrap();
    assert_eq!(bound.spec.node_name.as_deref(), Some("node-a"));
    let status = bound.status.clone().unwrap();
    assert_eq!(status.state, Some(TaskState::Assigned));
    assert_eq!(
        status.message.as_deref(),
        Some("scheduler assigned task to node")
    );
    let stored = api.get(&name).await.unwrap();
    assert_eq!(stored.spec.node_name.as_deref(), Some("node-a"));

    let again = bind(&api, &name, "node-a").await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        stored.metadata.resource_version
    );

    let message = conflict_message(bind(&api, &name, "node-b").await);
    assert!(
        message.contains("already assigned to node node-a"),
        "{message}"
    );

    // A preassigned (global) task is confirmed by binding it to its own node.
    let global = task("agent", 0, json!({}), Some("node-c")).unwrap();
    let global_name = global.metadata.name.clone().unwrap();
    create_pending(&client, "default", &global).await.unwrap();
    let confirmed = bind(&api, &global_name, "node-c").await.unwrap();
    let state = confirmed.status.and_then(|s| s.state);
    assert_eq!(state, Some(TaskState::Assigned));

    // A task held by a finalizer while it is being deleted gets no node.
    let mut other = task("web", 2, json!({}), None).unwrap();
    other.metadata.finalizers = Some(vec!["test.flotilla.dev/hold".into()]);
    let other_name = other.metadata.name.clone().unwrap();
    create_pending(&client, "default", &other).await.unwrap();
    api.delete(&other_name, &DeleteParams::default())
        .await
        .unwrap();
    let message = conflict_message(bind(&api, &other_name, "node-a").await);
    assert!(message.contains("being deleted"), "{message}");
    let held = api.get(&other_name).await.unwrap();
    assert_eq!(held.spec.node_name, None);
    let release = json!({"metadata": {"finalizers": null}});
    api.patch(
        &other_name,
        &PatchParams::default(),
        &Patch::Merge(&release),
    )
    .await
    .unwrap();
}

/// The next watch event's type and Task name, within 10 s.
async fn next_event(
    lines: &mut (impl futures::Stream<Item = Result<WatchEvent<Task>, kube::Error>> + Unpin),
) -> (String, String) {
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next())
        .await
        .expect("an event within 10 s")
        .expect("the watch is open")
        .expect("a valid event");
    match event {
        WatchEvent::Added(t) => ("ADDED".into(), t.metadata.name.unwrap_or_default()),
        WatchEvent::Modified(t) => ("MODIFIED".into(), t.metadata.name.unwrap_or_default()),
        WatchEvent::Deleted(t) => ("DELETED".into(), t.metadata.name.unwrap_or_default()),
        other => panic!("unexpected {other:?}"),
    }
}

/// A node's watch (`spec.nodeName=<node>`, as agents and kubelets send it) is served from the
/// watch cache's node index: it sees a task arrive when bound to it, change, and go, and never
/// another node's tasks, whether it started from now or resumed from an older version.
#[tokio::test(flavor = "multi_thread")]
async fn a_nodes_watch_sees_its_own_tasks_arrive_change_and_go_and_no_others() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let api: Api<Task> = Api::namespaced(client.clone(), "default");
    let all: Api<Task> = Api::all(client.clone());
    let start = all
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let watch = |node: &str| WatchParams::default().fields(&format!("spec.nodeName={node}"));
    let mut a = all.watch(&watch("node-a"), &start).await.unwrap().boxed();
    let mut b = all.watch(&watch("node-b"), &start).await.unwrap().boxed();

    let mut names = Vec::new();
    for (slot, node) in [(1, "node-a"), (2, "node-b"), (3, "node-a")] {
        let pending = task("web", slot, json!({}), None).unwrap();
        let name = pending.metadata.name.clone().unwrap();
        create_pending(&client, "default", &pending).await.unwrap();
        bind(&api, &name, node).await.unwrap();
        names.push(name);
    }
    let status = json!({"status": {"state": "Running", "message": "started"}});
    let params = PatchParams::default();
    api.patch_status(&names[0], &params, &Patch::Merge(&status))
        .await
        .unwrap();
    api.delete(&names[0], &DeleteParams::default())
        .await
        .unwrap();
    // One more task for node-b: node-a's watch must still be quiet when it lands on b's.
    let last = task("web", 4, json!({}), None).unwrap();
    let last_name = last.metadata.name.clone().unwrap();
    create_pending(&client, "default", &last).await.unwrap();
    bind(&api, &last_name, "node-b").await.unwrap();

    let expected_a = [
        ("ADDED", &names[0]),
        ("ADDED", &names[2]),
        ("MODIFIED", &names[0]),
        ("DELETED", &names[0]),
    ];
    for (kind, name) in expected_a {
        assert_eq!(next_event(&mut a).await, (kind.to_string(), name.clone()));
    }
    for name in [&names[1], &last_name] {
        assert_eq!(
            next_event(&mut b).await,
            ("ADDED".to_string(), name.clone())
        );
    }
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), a.next()).await;
    assert!(quiet.is_err(), "node-a saw another node's task: {quiet:?}");

    // Resumed from the start, node-b's watch is replayed its own and nothing else.
    let mut again = all.watch(&watch("node-b"), &start).await.unwrap().boxed();
    for name in [&names[1], &last_name] {
        assert_eq!(
            next_event(&mut again).await,
            ("ADDED".to_string(), name.clone())
        );
    }
}
