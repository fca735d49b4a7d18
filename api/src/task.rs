//! `Task`: one immutable unit of work of a service, bound to one node, never moved.

// Repeated `printcolumn(type_ = …)` arguments are distinct columns, not duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::endpoint::{EndpointSpec, PortConfig};
use crate::template::TaskTemplate;

/// A task: created by the controller-manager, bound by the scheduler (`nodeName`), run by the
/// node-agent, which reports `status`. Named `<service>.<slot>` or `<service>.<node>` plus a suffix.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "Task",
    plural = "tasks",
    namespaced,
    status = "TaskStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "stask",
    category = "swarm",
    category = "all",
    doc = "A Docker-Swarm-style task: one container run of a SwarmService (flotilla.dev).",
    // Field selectors a real kube-apiserver (>= 1.30) then serves too, as Flotilla's api-server does:
    // the node-agent lists `spec.nodeName=<node>`, `docker service ps` filters the others.
    selectable = ".spec.nodeName",
    selectable = ".spec.serviceName",
    selectable = ".spec.desiredState",
    selectable = ".status.state",
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.serviceName"),
    printcolumn(name = "Slot", type_ = "integer", json_path = ".spec.slot"),
    printcolumn(name = "Node", type_ = "string", json_path = ".spec.nodeName"),
    printcolumn(name = "Desired", type_ = "string", json_path = ".spec.desiredState"),
    printcolumn(name = "Current", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Error", type_ = "string", json_path = ".status.err"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// Name of the owning SwarmService.
    pub service_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_uid: Option<String>,
    /// Replica slot (1..N for services, 0..N-1 for replicated jobs); unset/0 for global tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<i64>,
    /// SwarmNode the task runs on: empty until scheduled (preset for global tasks). Once set it never changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// What the managers want: Ready, Running, Complete (jobs), Shutdown or Remove.
    pub desired_state: TaskState,
    /// The service's `status.specVersion` this task was created from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<i64>,
    // Behind an `Arc` (serialized as the template itself) so that a client holding many tasks
    // of one spec version keeps one copy: a typed template is ~1 KB before its strings.
    /// Copy of the service's task template.
    pub template: Arc<TaskTemplate>,
    /// Copy of the service's endpoint spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointSpec>,
    /// Network attachments allocated to this task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkAttachment>,
    /// Jobs: the iteration this task belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_iteration: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAttachment {
    /// SwarmNetwork name.
    pub network: String,
    /// Addresses in CIDR notation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// Observed state; only ever increases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<TaskState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Time>,
    /// Human message, e.g. "pending task scheduling", "started".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Error for Failed/Rejected tasks and unschedulable Pending ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    // Boxed: most tasks a client holds are history, and inline it made every cached Task
    // (in an `Arc`, as reflectors keep them) spill into the allocator's next size class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_status: Option<Box<ContainerStatus>>,
    /// Host-mode port bindings actually made on the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_status: Vec<PortConfig>,
    /// The addresses the task's container actually got on each SwarmNetwork, as the runtime
    /// reports them once it starts (Swarm's `NetworksAttachments`); `spec.networks` is what the
    /// allocator assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkAttachment>,
    /// Component that wrote this status (node name for the node-agent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<Time>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

/// Swarm's task states with their numeric order (a state may only increase).
///
/// Serialized capitalized (`Running`, `Shutdown`): that is how `docker service ps` prints
/// them, and it matches Kubernetes' enum style (Pod phase `Running`), so `kubectl get tasks`
/// reads like `docker service ps`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TaskState {
    #[default]
    New,
    Pending,
    Assigned,
    Accepted,
    Preparing,
    Ready,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    Remove,
    Orphaned,
}

impl TaskState {
    pub const ALL: [TaskState; 14] = [
        TaskState::New,
        TaskState::Pending,
        TaskState::Assigned,
        TaskState::Accepted,
        TaskState::Preparing,
        TaskState::Ready,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Complete,
        TaskState::Shutdown,
        TaskState::Failed,
        TaskState::Rejected,
        TaskState::Remove,
        TaskState::Orphaned,
    ];

    /// SwarmKit's numeric value (`api/types.proto`).
    pub fn value(self) -> u32 {
        match self {
            TaskState::New => 0,
            TaskState::Pending => 64,
            TaskState::Assigned => 192,
            TaskState::Accepted => 256,
            TaskState::Preparing => 320,
            TaskState::Ready => 384,
            TaskState::Starting => 448,
            TaskState::Running => 512,
            TaskState::Complete => 576,
            TaskState::Shutdown => 640,
            TaskState::Failed => 704,
            TaskState::Rejected => 768,
            TaskState::Remove => 800,
            TaskState::Orphaned => 832,
        }
    }

    /// The state with this numeric value.
    pub fn from_value(value: u32) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.value() == value)
    }

    /// COMPLETE, SHUTDOWN, FAILED, REJECTED, ORPHANED (REMOVE is only ever desired, but also
    /// counts as terminal so nothing waits on it).
    pub fn is_terminal(self) -> bool {
        self >= TaskState::Complete
    }

    /// The serialized name, e.g. `Running`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::New => "New",
            TaskState::Pending => "Pending",
            TaskState::Assigned => "Assigned",
            TaskState::Accepted => "Accepted",
            TaskState::Preparing => "Preparing",
            TaskState::Ready => "Ready",
            TaskState::Starting => "Starting",
            TaskState::Running => "Running",
            TaskState::Complete => "Complete",
            TaskState::Shutdown => "Shutdown",
            TaskState::Failed => "Failed",
            TaskState::Rejected => "Rejected",
            TaskState::Remove => "Remove",
            TaskState::Orphaned => "Orphaned",
        }
    }
}

impl Ord for TaskState {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value().cmp(&other.value())
    }
}

impl PartialOrd for TaskState {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_have_swarm_values_and_order() {
        let values: Vec<u32> = TaskState::ALL.iter().map(|s| s.value()).collect();
        assert_eq!(
            values,
            [0, 64, 192, 256, 320, 384, 448, 512, 576, 640, 704, 768, 800, 832]
        );
        assert!(TaskState::Running < TaskState::Complete);
        assert!(TaskState::Preparing < TaskState::Ready);
        assert_eq!(TaskState::from_value(512), Some(TaskState::Running));
        assert_eq!(TaskState::from_value(1), None);
    }

    #[test]
    fn terminal_states() {
        let terminal: Vec<TaskState> = TaskState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        use TaskState::*;
        assert_eq!(
            terminal,
            [Complete, Shutdown, Failed, Rejected, Remove, Orphaned]
        );
    }

    #[test]
    fn serializes_capitalized() {
        assert_eq!(
            serde_json::to_string(&TaskState::Running).unwrap(),
            "\"Running\""
        );
        let s: TaskState = serde_json::from_str("\"Shutdown\"").unwrap();
        assert_eq!(s, TaskState::Shutdown);
        assert_eq!(TaskState::Failed.to_string(), "Failed");
    }
}
