//! Helpers shared by the node-agent tests: Tasks created directly in state Assigned with
//! `nodeName` set (as the scheduler would leave them), and polling with a deadline.

#![allow(dead_code)]

pub mod docker;
pub mod mesh;

use std::time::Duration;

use flotilla_api::task::TaskStatus;
use flotilla_api::template::TaskTemplate;
use flotilla_api::{Task, TaskSpec, TaskState};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

/// A Task of `service` bound to `node`, desired Running.
pub fn bound_task(name: &str, service: &str, node: &str, template: TaskTemplate) -> Task {
    let mut task = Task::new(
        name,
        TaskSpec {
            service_name: service.to_string(),
            slot: Some(1),
            node_name: Some(node.to_string()),
            desired_state: TaskState::Running,
            template: template.into(),
            ..Default::default()
        },
    );
    task.metadata.namespace = Some("default".into());
    task.metadata.labels =
        Some([(flotilla_api::SERVICE_LABEL.to_string(), service.to_string())].into());
    task
}

pub fn template(image: &str) -> TaskTemplate {
    let mut t = TaskTemplate::default();
    t.container_spec.image = image.to_string();
    t
}

/// Creates the Task and marks it Assigned (status subresource), as the scheduler's binding does.
pub async fn create_assigned(admin: &Client, task: &Task) -> anyhow::Result<Task> {
    let api: Api<Task> = Api::namespaced(admin.clone(), "default");
    let created = api.create(&PostParams::default(), task).await?;
    let status = TaskStatus {
        state: Some(TaskState::Assigned),
        message: Some("scheduler assigned task to node".into()),
        ..Default::default()
    };
    let name = created.metadata.name.clone().unwrap_or_default();
    let patch = json!({ "status": status });
    Ok(api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?)
}

pub async fn set_desired(admin: &Client, name: &str, desired: TaskState) -> anyhow::Result<()> {
    let api: Api<Task> = Api::namespaced(admin.clone(), "default");
    let patch = json!({ "spec": { "desiredState": desired } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

pub fn state_of(task: &Task) -> TaskState {
    task.status
        .as_ref()
        .and_then(|s| s.state)
        .unwrap_or(TaskState::New)
}

/// The bounded poll every agent and e2e test waits with.
pub use flotilla_tests::probe::wait_for;

/// Waits until Task `name` reaches `state`, returning it.
pub async fn wait_state(admin: &Client, name: &str, state: TaskState, timeout: Duration) -> Task {
    let api: Api<Task> = Api::namespaced(admin.clone(), "default");
    wait_for(&format!("task {name} to be {state}"), timeout, || {
        let api = api.clone();
        async move {
            let t = api.get(name).await.ok()?;
            (state_of(&t) == state).then_some(t)
        }
    })
    .await
}

/// Writes the service's `status.runningNodes`, as the controller-manager does once the nodes'
/// tasks run: the routing mesh forwards to other nodes only through this list.
pub async fn set_running_nodes(
    admin: &Client,
    service: &str,
    nodes: &[&str],
) -> anyhow::Result<()> {
    let api: Api<flotilla_api::SwarmService> = Api::namespaced(admin.clone(), "default");
    let patch = json!({ "status": { "runningNodes": nodes } });
    api.patch_status(service, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}
