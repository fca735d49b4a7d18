//! What every decision function reads: the cluster state at one instant, with indexes.

use std::collections::HashMap;
use std::sync::Arc;

use flotilla_api::node::{NodeAvailability, NodeState};
use flotilla_api::{SwarmNetwork, SwarmNode, SwarmService, Task, TaskState};
use k8s_openapi::api::coordination::v1::Lease;
use kube::ResourceExt;

use crate::past::{is_past, CachedTask, PastTask, Strings, TaskFacts};

/// Objects as the reflectors last saw them. Decisions never do I/O: they read this.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub services: Vec<Arc<SwarmService>>,
    /// Tasks that run, are meant to, or still stop; those that finished for good are in `past`.
    pub tasks: Vec<Arc<Task>>,
    pub past: Vec<Arc<PastTask>>,
    pub nodes: Vec<Arc<SwarmNode>>,
    pub networks: Vec<Arc<SwarmNetwork>>,
    pub leases: Vec<Arc<Lease>>,
    by_service: HashMap<(String, String), Vec<Arc<Task>>>,
    past_by_service: HashMap<(String, String), Vec<Arc<PastTask>>>,
    /// `ns/name` → task: decisions that follow particular tasks (rollouts, promotions) look
    /// them up here instead of scanning every task. Keys are the task cache's own.
    by_key: HashMap<Arc<str>, CachedTask>,
    node_index: HashMap<String, Arc<SwarmNode>>,
}

impl Snapshot {
    pub fn new(
        services: Vec<Arc<SwarmService>>,
        tasks: Vec<Arc<Task>>,
        nodes: Vec<Arc<SwarmNode>>,
        networks: Vec<Arc<SwarmNetwork>>,
        leases: Vec<Arc<Lease>>,
    ) -> Snapshot {
        // As the task cache keeps them: those that finished for good, compact.
        let mut strings = Strings::default();
        let keyed = tasks
            .into_iter()
            .map(|t| {
                let key: Arc<str> = key_of(t.as_ref()).into();
                let kept = if is_past(&t) {
                    CachedTask::of(&key, &t, &mut strings)
                } else {
                    CachedTask::Live(t)
                };
                (key, kept)
            })
            .collect();
        Snapshot::keyed(services, keyed, nodes, networks, leases)
    }

    /// [`Snapshot::new`] from tasks as cached, with their `ns/name` keys.
    pub fn keyed(
        services: Vec<Arc<SwarmService>>,
        keyed_tasks: Vec<(Arc<str>, CachedTask)>,
        nodes: Vec<Arc<SwarmNode>>,
        networks: Vec<Arc<SwarmNetwork>>,
        leases: Vec<Arc<Lease>>,
    ) -> Snapshot {
        let mut by_service: HashMap<(String, String), Vec<Arc<Task>>> = HashMap::new();
        let mut past_by_service: HashMap<(String, String), Vec<Arc<PastTask>>> = HashMap::new();
        let mut by_key = HashMap::with_capacity(keyed_tasks.len());
        let mut tasks = Vec::with_capacity(keyed_tasks.len());
        let mut past = Vec::new();
        for (key, cached) in keyed_tasks {
            match &cached {
                CachedTask::Live(task) => {
                    let service = (ns_of(task.as_ref()), task.spec.service_name.clone());
                    by_service.entry(service).or_default().push(task.clone());
                    tasks.push(task.clone());
                }
                CachedTask::Past(p) => {
                    let service = (p.namespace().to_string(), p.service_name.to_string());
                    past_by_service.entry(service).or_default().push(p.clone());
                    past.push(p.clone());
                }
            }
            by_key.insert(key, cached);
        }
        let node_index = nodes.iter().map(|n| (n.name_any(), n.clone())).collect();
        Snapshot {
            services,
            tasks,
            past,
            past_by_service,
            nodes,
            networks,
            leases,
            by_service,
            by_key,
            node_index,
        }
    }

    /// The task `ns/name`, unless it finished for good (see [`Snapshot::cached`]).
    pub fn task(&self, key: &str) -> Option<&Arc<Task>> {
        match self.by_key.get(key)? {
            CachedTask::Live(t) => Some(t),
            CachedTask::Past(_) => None,
        }
    }

    /// Every task, live then finished for good.
    pub fn all_tasks(&self) -> impl Iterator<Item = &dyn TaskFacts> {
        let live = self.tasks.iter().map(|t| t.as_ref() as &dyn TaskFacts);
        live.chain(self.past.iter().map(|p| p.as_ref() as &dyn TaskFacts))
    }

    /// The task `ns/name` as cached, finished for good or not.
    pub fn cached(&self, key: &str) -> Option<&CachedTask> {
        self.by_key.get(key)
    }

    /// Whether the task `ns/name` exists.
    pub fn has_task(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// Tasks of this service: same namespace and name, and (when recorded) the same uid, so a
    /// re-created service does not adopt its predecessor's tasks.
    pub fn tasks_of(&self, svc: &SwarmService) -> Vec<Arc<Task>> {
        of_service(&self.by_service, svc, |t| t.spec.service_uid.as_deref())
    }

    /// This service's tasks that finished for good, as [`Snapshot::tasks_of`] picks them.
    pub fn past_of(&self, svc: &SwarmService) -> Vec<Arc<PastTask>> {
        of_service(&self.past_by_service, svc, |t| t.service_uid.as_deref())
    }

    pub fn node(&self, name: &str) -> Option<&Arc<SwarmNode>> {
        self.node_index.get(name)
    }

    /// Whether a task bound to `node` must be replaced: the node is gone, down or drained.
    pub fn node_lost(&self, node: &str) -> Option<NodeLoss> {
        match self.node(node) {
            None => Some(NodeLoss::Deleted),
            Some(n) if node_state(n) == Some(NodeState::Down) => Some(NodeLoss::Down),
            Some(n) if availability(n) == NodeAvailability::Drain => Some(NodeLoss::Drained),
            Some(_) => None,
        }
    }
}

/// The entries of `by_service` for `svc` whose recorded service uid (`uid_of`), if any, is its.
fn of_service<T>(
    by_service: &HashMap<(String, String), Vec<Arc<T>>>,
    svc: &SwarmService,
    uid_of: impl Fn(&T) -> Option<&str>,
) -> Vec<Arc<T>> {
    let uid = svc.metadata.uid.as_deref();
    by_service
        .get(&(ns_of(svc), svc.name_any()))
        .map(|tasks| {
            tasks
                .iter()
                .filter(|t| uid_of(t).is_none_or(|u| Some(u) == uid))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Why a node no longer runs its tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeLoss {
    Deleted,
    Down,
    Drained,
}

impl NodeLoss {
    pub fn describe(self) -> &'static str {
        match self {
            NodeLoss::Deleted => "node was removed",
            NodeLoss::Down => "node is down",
            NodeLoss::Drained => "node is drained",
        }
    }
}

pub fn ns_of<K: kube::Resource>(obj: &K) -> String {
    obj.meta()
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string())
}

/// Observed state; a task without status is NEW.
pub fn observed(task: &Task) -> TaskState {
    task.status
        .as_ref()
        .and_then(|s| s.state)
        .unwrap_or(TaskState::New)
}

/// Desired ≤ RUNNING: the task is (or will be) running, not being stopped.
pub fn runnable(task: &Task) -> bool {
    task.spec.desired_state <= TaskState::Running
}

pub fn availability(node: &SwarmNode) -> NodeAvailability {
    node.spec.availability.unwrap_or(NodeAvailability::Active)
}

pub fn node_state(node: &SwarmNode) -> Option<NodeState> {
    node.status.as_ref().and_then(|s| s.state)
}

/// Sort key for "oldest first": status timestamp, else creation time, then name.
pub fn age_key(task: &Task) -> (Option<k8s_openapi::jiff::Timestamp>, String) {
    let stamp = task
        .status
        .as_ref()
        .and_then(|s| s.timestamp.as_ref())
        .or(task.metadata.creation_timestamp.as_ref())
        .map(|t| t.0);
    (stamp, task.name_any())
}

/// `ns/name`, the key actions and in-memory state use.
pub fn key_of<K: kube::Resource>(obj: &K) -> String {
    format!(
        "{}/{}",
        ns_of(obj),
        obj.meta().name.clone().unwrap_or_default()
    )
}
