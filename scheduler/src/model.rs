//! The scheduler's view of nodes and tasks: plain data derived from the API objects, so every
//! decision is a pure function over a snapshot.

use std::collections::{BTreeMap, HashMap, HashSet};

use flotilla_api::constraint::{parse_constraint, Constraint, ConstraintError};
use flotilla_api::endpoint::{PortProtocol, PublishMode};
use flotilla_api::node::{NodeAvailability, NodeRole, NodeState};
use flotilla_api::template::Platform;
use flotilla_api::{SwarmNode, Task, TaskState};
use k8s_openapi::jiff::Timestamp;

use crate::failures;

/// CPU (nano CPUs) and memory (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Res {
    pub nano_cpus: i64,
    pub memory_bytes: i64,
}

impl Res {
    fn of(r: Option<&flotilla_api::template::Resources>) -> Res {
        Res {
            nano_cpus: r.and_then(|r| r.nano_cpus).unwrap_or(0),
            memory_bytes: r.and_then(|r| r.memory_bytes).unwrap_or(0),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.nano_cpus <= 0 && self.memory_bytes <= 0
    }
}

/// `namespace/name` of a task.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    pub namespace: String,
    pub name: String,
}

/// A host-mode published port: (protocol, port).
pub type HostPort = (PortProtocol, i64);

/// What scheduling needs to know about a task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskInfo {
    pub key: TaskKey,
    /// `namespace/serviceName`: tasks of one service are counted and spread together.
    pub service: String,
    pub spec_version: i64,
    pub slot: i64,
    pub node: Option<String>,
    pub state: TaskState,
    pub desired: TaskState,
    pub err: Option<String>,
    pub resource_version: Option<String>,
    pub uid: Option<String>,
    pub reservation: Res,
    /// Parsed once; an invalid constraint matches no node.
    pub constraints: Result<Vec<Constraint>, ConstraintError>,
    pub preferences: Vec<String>,
    pub max_replicas: u64,
    pub platforms: Vec<Platform>,
    /// When the status last changed (a failure's time, for the recent-failures penalty).
    pub timestamp: Option<Timestamp>,
    pub host_ports: Vec<HostPort>,
}

impl TaskInfo {
    pub fn from_task(task: &Task) -> TaskInfo {
        let meta = &task.metadata;
        let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
        let template = &task.spec.template;
        let placement = template.placement.clone().unwrap_or_default();
        let status = task.status.clone().unwrap_or_default();
        TaskInfo {
            service: format!("{namespace}/{}", task.spec.service_name),
            key: TaskKey {
                namespace,
                name: meta.name.clone().unwrap_or_default(),
            },
            spec_version: task.spec.spec_version.unwrap_or(0),
            slot: task.spec.slot.unwrap_or(0),
            node: task.spec.node_name.clone().filter(|n| !n.is_empty()),
            state: status.state.unwrap_or(TaskState::New),
            desired: task.spec.desired_state,
            err: status.err,
            resource_version: meta.resource_version.clone(),
            uid: meta.uid.clone(),
            reservation: Res::of(
                template
                    .resources
                    .as_ref()
                    .and_then(|r| r.reservations.as_ref()),
            ),
            constraints: placement
                .constraints
                .iter()
                .map(|c| parse_constraint(c))
                .collect(),
            preferences: placement
                .preferences
                .iter()
                .map(|p| p.spread.spread_descriptor.clone())
                .collect(),
            max_replicas: placement.max_replicas.unwrap_or(0).max(0) as u64,
            platforms: placement.platforms,
            timestamp: status.timestamp.map(|t| t.0),
            host_ports: host_ports(task),
        }
    }

    /// Holds resources and ports on its node: bound (Assigned) and not yet finished. A Pending task
    /// with a node (preassigned, global) counts only once the scheduler confirms it, as in Swarm.
    pub fn occupies_node(&self) -> bool {
        self.node.is_some() && self.state > TaskState::Pending && self.state <= TaskState::Running
    }

    /// Counts towards spread and max-replicas (desired to run, or to complete for jobs).
    pub fn is_active(&self) -> bool {
        self.occupies_node() && self.desired <= TaskState::Complete
    }

    /// Stopped for good without failing: it holds no node, counts for no spread and no recent
    /// failure, and no decision reads it again.
    pub fn is_finished(&self) -> bool {
        self.state > TaskState::Running
            && !matches!(self.state, TaskState::Failed | TaskState::Rejected)
    }

    /// Waiting for the scheduler: Pending and still wanted.
    pub fn wants_scheduling(&self) -> bool {
        self.state == TaskState::Pending && self.desired <= TaskState::Complete
    }
}

fn host_ports(task: &Task) -> Vec<HostPort> {
    let Some(endpoint) = &task.spec.endpoint else {
        return Vec::new();
    };
    endpoint
        .ports
        .iter()
        .filter(|p| p.publish_mode == Some(PublishMode::Host))
        .filter_map(|p| {
            let port = p.published_port.filter(|port| *port > 0)?;
            Some((p.protocol.unwrap_or(PortProtocol::Tcp), port))
        })
        .collect()
}

/// A node and what its tasks use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub ready: bool,
    pub availability: Option<NodeAvailability>,
    pub role: Option<NodeRole>,
    pub hostname: Option<String>,
    pub addr: Option<String>,
    pub platform: Platform,
    pub labels: BTreeMap<String, String>,
    pub engine_labels: BTreeMap<String, String>,
    pub capacity: Res,
    pub reserved: Res,
    pub host_ports: HashSet<HostPort>,
    pub active_tasks: usize,
    pub tasks_by_service: HashMap<String, usize>,
    /// Failed or rejected tasks per (service, spec version) in the last 5 minutes.
    pub recent_failures: HashMap<(String, i64), usize>,
}

impl NodeInfo {
    pub fn from_node(node: &SwarmNode) -> NodeInfo {
        let status = node.status.clone().unwrap_or_default();
        NodeInfo {
            name: node.metadata.name.clone().unwrap_or_default(),
            ready: status.state == Some(NodeState::Ready),
            availability: node.spec.availability,
            role: node.spec.role,
            hostname: status.hostname,
            addr: status.addr,
            platform: status.platform.unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            engine_labels: status.engine.map(|e| e.labels).unwrap_or_default(),
            capacity: Res::of(status.resources.as_ref()),
            ..Default::default()
        }
    }

    /// Accounts a task placed on this node (Swarm's `nodeInfo.addTask`).
    pub fn add_task(&mut self, task: &TaskInfo) {
        self.reserved.nano_cpus += task.reservation.nano_cpus;
        self.reserved.memory_bytes += task.reservation.memory_bytes;
        self.host_ports.extend(task.host_ports.iter().copied());
        if task.desired <= TaskState::Complete {
            self.active_tasks += 1;
            *self
                .tasks_by_service
                .entry(task.service.clone())
                .or_default() += 1;
        }
    }

    pub fn service_tasks(&self, service: &str) -> usize {
        self.tasks_by_service.get(service).copied().unwrap_or(0)
    }

    pub fn available(&self) -> Res {
        Res {
            nano_cpus: self.capacity.nano_cpus - self.reserved.nano_cpus,
            memory_bytes: self.capacity.memory_bytes - self.reserved.memory_bytes,
        }
    }
}

/// Builds node infos with the usage of every task occupying them, and the failures of the five
/// minutes before `now`.
pub fn node_infos<'a>(
    nodes: impl IntoIterator<Item = &'a SwarmNode>,
    tasks: impl IntoIterator<Item = &'a TaskInfo>,
    now: Timestamp,
) -> Vec<NodeInfo> {
    let mut infos: Vec<NodeInfo> = nodes.into_iter().map(NodeInfo::from_node).collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    let index: HashMap<String, usize> = infos
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), i))
        .collect();
    for task in tasks {
        let Some(&i) = task.node.as_ref().and_then(|n| index.get(n)) else {
            continue;
        };
        if task.occupies_node() {
            infos[i].add_task(task);
        } else if failures::failed_recently(task, now) {
            failures::record(&mut infos[i], task);
        }
    }
    infos
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task(state: &str, node: Option<&str>, desired: &str) -> TaskInfo {
        let task: Task = serde_json::from_value(json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": "web.1", "namespace": "default", "resourceVersion": "7"},
            "spec": {"serviceName": "web", "slot": 1, "desiredState": desired, "nodeName": node,
                     "template": {"containerSpec": {"image": "busybox"},
                                  "resources": {"reservations": {"nanoCpus": 1_000_000_000i64}}}},
            "status": {"state": state},
        }))
        .unwrap();
        TaskInfo::from_task(&task)
    }

    #[test]
    fn only_bound_unfinished_tasks_occupy_their_node() {
        let node: SwarmNode = serde_json::from_value(json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNode",
            "metadata": {"name": "n1"},
            "spec": {"availability": "active"},
            "status": {"state": "ready", "resources": {"nanoCpus": 4_000_000_000i64}},
        }))
        .unwrap();
        let tasks = [
            task("Pending", Some("n1"), "Running"), // preassigned, not confirmed yet
            task("New", Some("n1"), "Running"),
            task("Pending", None, "Running"),
            task("Complete", Some("n1"), "Running"),
            task("Assigned", Some("n1"), "Running"),
            task("Running", Some("n1"), "Shutdown"), // still holds resources, not counted
        ];
        let infos = node_infos([&node], &tasks, Timestamp::now());
        assert_eq!(infos[0].reserved.nano_cpus, 2_000_000_000);
        assert_eq!(infos[0].active_tasks, 1);
        assert_eq!(infos[0].service_tasks("default/web"), 1);
        assert!(infos[0].ready);
    }
}
