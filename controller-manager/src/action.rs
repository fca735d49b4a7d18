//! What decision functions return: writes for the plumbing to make.

use flotilla_api::task::NetworkAttachment;
use flotilla_api::{SwarmServiceSpec, Task, TaskState};
use serde_json::Value;

/// One write against the api-server. Decisions produce these; `apply` performs them.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    CreateTask(Box<Task>),
    /// Raise a task's desired state (it only ever increases).
    SetDesired {
        ns: String,
        name: String,
        state: TaskState,
    },
    DeleteTask {
        ns: String,
        name: String,
    },
    /// Delete a task whose controlling service looks gone; the plumbing re-reads the owner first.
    DeleteOrphan {
        ns: String,
        name: String,
        owner: String,
        owner_uid: String,
    },
    /// Write a task's observed state (allocator: PENDING; enforcer: REJECTED).
    TaskState {
        ns: String,
        name: String,
        state: TaskState,
        message: String,
        err: Option<String>,
    },
    /// Allocator: the task's network attachments (addresses).
    TaskNetworks {
        ns: String,
        name: String,
        networks: Vec<NetworkAttachment>,
    },
    /// JSON merge patch of a service's status.
    ServiceStatus {
        ns: String,
        name: String,
        patch: Value,
    },
    /// Replace a service's spec (rollback); `annotations` are merged into metadata (null removes).
    ServiceSpec {
        ns: String,
        name: String,
        spec: Box<SwarmServiceSpec>,
        annotations: Value,
    },
    /// Drop a finalizer from a service being deleted (foreground deletion done).
    RemoveFinalizer {
        ns: String,
        name: String,
        finalizer: String,
    },
    /// Orphan a task: drop its ownerReferences to the service with `owner_uid` (a service
    /// deleted with `propagationPolicy: Orphan`).
    RemoveOwnerReference {
        ns: String,
        name: String,
        owner_uid: String,
    },
    /// JSON merge patch of a SwarmNetwork's status (allocated subnet).
    NetworkStatus {
        ns: String,
        name: String,
        patch: Value,
    },
    NodeStatus {
        name: String,
        patch: Value,
    },
    Event(Event),
}

/// A core v1 Event about an object (shown by `kubectl describe`).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: &'static str,
    pub ns: Option<String>,
    pub name: String,
    pub uid: Option<String>,
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Event {
    pub fn about<K: kube::Resource<DynamicType = ()>>(
        obj: &K,
        warning: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Action {
        let kind: &'static str = match K::kind(&()).as_ref() {
            "SwarmService" => "SwarmService",
            "Task" => "Task",
            "SwarmNode" => "SwarmNode",
            "SwarmNetwork" => "SwarmNetwork",
            _ => "Unknown",
        };
        Action::Event(Event {
            kind,
            ns: obj.meta().namespace.clone(),
            name: obj.meta().name.clone().unwrap_or_default(),
            uid: obj.meta().uid.clone(),
            warning,
            reason,
            message: message.into(),
        })
    }
}

/// Shorthands for task writes.
pub fn set_desired(task: &Task, state: TaskState) -> Action {
    Action::SetDesired {
        ns: crate::snapshot::ns_of(task),
        name: task.metadata.name.clone().unwrap_or_default(),
        state,
    }
}

pub fn delete_task(task: &Task) -> Action {
    Action::DeleteTask {
        ns: crate::snapshot::ns_of(task),
        name: task.metadata.name.clone().unwrap_or_default(),
    }
}

/// The tasks `actions` already stop (or remove), by name (a promotion to COMPLETE does not stop
/// one). Built once per question: a rollout or a node loss decides thousands of actions, and
/// scanning them for each of 10,000 tasks made rounds quadratic.
pub struct Stopped<'a>(std::collections::HashSet<&'a str>);

impl<'a> Stopped<'a> {
    pub fn of(actions: &'a [Action]) -> Stopped<'a> {
        Stopped(
            actions
                .iter()
                .filter_map(|a| match a {
                    Action::SetDesired { name, state, .. } if *state >= TaskState::Shutdown => {
                        Some(name.as_str())
                    }
                    _ => None,
                })
                .collect(),
        )
    }

    pub fn has(&self, task: &Task) -> bool {
        self.0
            .contains(task.metadata.name.as_deref().unwrap_or_default())
    }
}

/// Whether `actions` already stop (or remove) `task` (for one task; for many, [`Stopped`]).
pub fn stopped_by(actions: &[Action], task: &Task) -> bool {
    Stopped::of(actions).has(task)
}
