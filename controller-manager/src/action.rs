//! What decision functions return: writes for the plumbing to make.

use flotilla_api::task::NetworkAttachment;
use flotilla_api::{SwarmServiceSpec, Task, TaskState};

use crate::past::TaskFacts;
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

/// What a log line says about an action: its kind and object, not the object itself (a created
/// task's `Debug` is kilobytes, and 10,000 of them are made at once).
impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, ns, name) = match self {
            Action::CreateTask(t) => (
                "create task",
                t.metadata.namespace.as_deref(),
                t.metadata.name.as_deref().unwrap_or_default(),
            ),
            Action::SetDesired { ns, name, state } => {
                return write!(f, "set desired {state:?} of task {ns}/{name}")
            }
            Action::DeleteTask { ns, name } => ("delete task", Some(ns.as_str()), name.as_str()),
            Action::DeleteOrphan { ns, name, .. } => {
                ("delete orphaned task", Some(ns.as_str()), name.as_str())
            }
            Action::TaskState {
                ns, name, state, ..
            } => return write!(f, "set state {state:?} of task {ns}/{name}"),
            Action::TaskNetworks { ns, name, .. } => {
                ("set networks of task", Some(ns.as_str()), name.as_str())
            }
            Action::ServiceStatus { ns, name, .. } => {
                ("patch status of service", Some(ns.as_str()), name.as_str())
            }
            Action::ServiceSpec { ns, name, .. } => {
                ("replace spec of service", Some(ns.as_str()), name.as_str())
            }
            Action::RemoveFinalizer { ns, name, .. } => (
                "remove finalizer of service",
                Some(ns.as_str()),
                name.as_str(),
            ),
            Action::RemoveOwnerReference { ns, name, .. } => {
                ("orphan task", Some(ns.as_str()), name.as_str())
            }
            Action::NetworkStatus { ns, name, .. } => {
                ("patch status of network", Some(ns.as_str()), name.as_str())
            }
            Action::NodeStatus { name, .. } => ("patch status of node", None, name.as_str()),
            Action::Event(e) => return write!(f, "event {} about {} {}", e.reason, e.kind, e.name),
        };
        match ns {
            Some(ns) => write!(f, "{what} {ns}/{name}"),
            None => write!(f, "{what} {name}"),
        }
    }
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

    pub fn has<T: TaskFacts + ?Sized>(&self, task: &T) -> bool {
        self.0.contains(task.name())
    }
}

/// Whether `actions` already stop (or remove) `task` (for one task; for many, [`Stopped`]).
pub fn stopped_by(actions: &[Action], task: &Task) -> bool {
    Stopped::of(actions).has(task)
}
