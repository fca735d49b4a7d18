//! The Task `binding` subresource as the scheduler uses it, against the real api-server over
//! real etcd: a pending task becomes ASSIGNED to the target node; binding it again to the same
//! node is harmless; to another node, or while it is being deleted, is a 409 that changes nothing.
//! As kube-apiserver's pods/binding, a binding is answered with a `Status` of `Success`.

use flotilla_api::{Task, TaskState};
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::swarm::{create_pending, task};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
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
