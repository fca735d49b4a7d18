//! Fixtures for the decision functions' unit tests.

use std::sync::Arc;

use flotilla_api::node::{NodeAvailability, NodeState, SwarmNodeStatus};
use flotilla_api::task::TaskStatus;
use flotilla_api::{SwarmNode, SwarmNodeSpec, SwarmService, Task, TaskState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::action::Action;
use crate::snapshot::Snapshot;
use crate::taskgen::{new_task, Placement};

/// A defaulted replicated service `name` in `default`, uid `uid-<name>`, generation 1.
pub fn service(name: &str, replicas: i64) -> SwarmService {
    let yaml = format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: SwarmService\nmetadata:\n  name: {name}\n  namespace: default\n  uid: uid-{name}\n  generation: 1\nspec:\n  mode:\n    replicated:\n      replicas: {replicas}\n  taskTemplate:\n    containerSpec:\n      image: nginx\n"
    );
    let mut svc: SwarmService = serde_yaml_ng::from_str(&yaml).unwrap();
    svc.spec.apply_defaults();
    svc
}

/// A task of `svc` in `slot`, on `node`, with the given desired and observed state; `age` orders
/// history (higher = newer).
pub fn task(
    svc: &SwarmService,
    slot: i64,
    node: Option<&str>,
    desired: TaskState,
    observed: TaskState,
    age: i64,
) -> Task {
    let mut t = new_task(svc, &Placement::Slot(slot), desired);
    t.metadata.name = Some(format!(
        "{}.{slot}.t{age}",
        svc.metadata.name.as_deref().unwrap()
    ));
    t.spec.node_name = node.map(str::to_string);
    t.status = Some(TaskStatus {
        state: Some(observed),
        timestamp: Some(Time(Timestamp::from_second(1_700_000_000 + age).unwrap())),
        ..TaskStatus::default()
    });
    t
}

pub fn node(name: &str, availability: NodeAvailability, state: NodeState) -> SwarmNode {
    let mut n = SwarmNode::new(
        name,
        SwarmNodeSpec {
            availability: Some(availability),
            role: None,
        },
    );
    n.status = Some(SwarmNodeStatus {
        state: Some(state),
        ..SwarmNodeStatus::default()
    });
    n
}

pub fn ready_nodes(names: &[&str]) -> Vec<SwarmNode> {
    names
        .iter()
        .map(|n| node(n, NodeAvailability::Active, NodeState::Ready))
        .collect()
}

pub fn snapshot(services: Vec<SwarmService>, tasks: Vec<Task>, nodes: Vec<SwarmNode>) -> Snapshot {
    Snapshot::new(
        services.into_iter().map(Arc::new).collect(),
        tasks.into_iter().map(Arc::new).collect(),
        nodes.into_iter().map(Arc::new).collect(),
        Vec::new(),
        Vec::new(),
    )
}

/// Tasks created by `actions`.
pub fn created(actions: &[Action]) -> Vec<&Task> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CreateTask(t) => Some(t.as_ref()),
            _ => None,
        })
        .collect()
}

/// (task name, state) of every SetDesired in `actions`.
pub fn desired(actions: &[Action]) -> Vec<(String, TaskState)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SetDesired { name, state, .. } => Some((name.clone(), *state)),
            _ => None,
        })
        .collect()
}

/// Reasons of the events in `actions`.
pub fn reasons(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some(e.reason),
            _ => None,
        })
        .collect()
}

/// A defaulted global service `name` (uid `uid-<name>`, generation 1) with `constraints`.
pub fn global_service(name: &str, constraints: &[&str]) -> SwarmService {
    let mut svc = service(name, 1);
    svc.spec.mode = Some(flotilla_api::service::ServiceMode {
        global: Some(Default::default()),
        ..Default::default()
    });
    std::sync::Arc::make_mut(&mut svc.spec.task_template).placement =
        Some(flotilla_api::template::Placement {
            constraints: constraints.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        });
    svc
}

/// A task of global `svc` on `node` named `<svc>.<node>.t<age>`.
pub fn node_task(
    svc: &SwarmService,
    node: &str,
    desired: TaskState,
    observed: TaskState,
    age: i64,
) -> Task {
    let mut t = task(svc, 0, Some(node), desired, observed, age);
    t.spec.slot = None;
    t.metadata.name = Some(format!(
        "{}.{node}.t{age}",
        svc.metadata.name.as_deref().unwrap()
    ));
    t
}

/// `node` with `labels`.
pub fn labelled(mut node: SwarmNode, labels: &[(&str, &str)]) -> SwarmNode {
    node.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    node
}
