//! The scheduler's writes: bindings (the api-server's compare-and-swap placement), confirmations
//! of preassigned tasks and `no suitable node` explanations (Task status plus a core v1 Event).

use flotilla_api::{Task, TaskState};
use flotilla_component::events::{flotilla_object, Event, EventType, Recorder};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::model::{TaskInfo, TaskKey};

pub const COMPONENT: &str = "flotilla-scheduler";
pub const CONFIRMED: &str = "scheduler confirmed task can run on preassigned node";

/// One write to make.
#[derive(Clone, Debug)]
pub enum Write {
    Bind { task: TaskKey, node: String },
    Confirm { task: TaskInfo },
    Explain { task: TaskInfo, explanation: String },
}

impl Write {
    pub fn key(&self) -> &TaskKey {
        match self {
            Write::Bind { task, .. } => task,
            Write::Confirm { task } | Write::Explain { task, .. } => &task.key,
        }
    }
}

/// Performs a write; returns the Task as the API stored it, if the answer carries it (a binding is
/// answered with a `Status`, as kube-apiserver answers pods/binding: the watch brings the Task).
pub async fn perform(client: kube::Client, write: Write) -> Result<Option<Task>, kube::Error> {
    let api: Api<Task> = Api::namespaced(client.clone(), &write.key().namespace);
    match write {
        Write::Bind { task, node } => {
            let binding = json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": task.name},
                "target": {"kind": "SwarmNode", "name": node},
            });
            let _: Status = api
                .create_subresource("binding", &task.name, &PostParams::default(), &binding)
                .await?;
            Ok(None)
        }
        Write::Confirm { task } => {
            let status = json!({
                "state": TaskState::Assigned,
                "message": CONFIRMED,
                "err": null,
                "timestamp": Timestamp::now().to_string(),
            });
            patch_status(&api, &task, status).await.map(Some)
        }
        Write::Explain { task, explanation } => {
            // Swarm sets only `err`; the message stays "pending task scheduling".
            let status = json!({"err": explanation});
            let stored = patch_status(&api, &task, status).await?;
            record_event(client, &task, &explanation).await;
            Ok(Some(stored))
        }
    }
}

/// A merge patch of the status, conditional on the resourceVersion the decision was made from.
async fn patch_status(
    api: &Api<Task>,
    task: &TaskInfo,
    status: serde_json::Value,
) -> Result<Task, kube::Error> {
    let patch = json!({
        "metadata": {"resourceVersion": task.resource_version},
        "status": status,
    });
    api.patch_status(
        &task.key.name,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
}

/// A `FailedScheduling` Warning event (what `kubectl describe` and `kubectl get events` show).
/// Failing to record it is logged, never fatal.
async fn record_event(client: kube::Client, task: &TaskInfo, message: &str) {
    let event = Event {
        regarding: flotilla_object(
            "Task",
            Some(&task.key.namespace),
            &task.key.name,
            task.uid.as_deref(),
        ),
        type_: EventType::Warning,
        reason: "FailedScheduling".into(),
        message: message.to_string(),
    };
    if let Err(e) = Recorder::new(client, COMPONENT).record(&event).await {
        tracing::warn!(task = %task.key.name, error = %e, "recording a FailedScheduling event failed");
    }
}
