//! Constraint enforcer (docs/swarm-model.md#constraint-enforcer): on every active node, tasks
//! whose node no longer satisfies their service's *current* placement constraints (a label was
//! removed, the constraints changed without redeploying), or whose reservations no longer fit the
//! node's capacity, are REJECTED ("task rejected by constraint enforcer"). The orchestrators then
//! replace them as they do any failed task: replicated elsewhere, global not at all.
//!
//! Paused nodes are left alone, drained and down ones are the orchestrators' business. A node
//! that reports no capacity is not checked for resources (the scheduler never placed reservations
//! there).

use std::collections::HashMap;

use flotilla_api::constraint::{node_matches, parse_constraint, Constraint, NodeFacts};
use flotilla_api::node::{NodeAvailability, NodeState};
use flotilla_api::{SwarmNode, SwarmService, Task, TaskState};
use kube::ResourceExt;

use crate::action::{Action, Event};
use crate::snapshot::{age_key, availability, node_state, ns_of, observed, Snapshot};

pub const REJECTED_MESSAGE: &str = "task rejected by constraint enforcer";
pub const REJECTED_ERR: &str = "assigned node no longer meets constraints";

/// Rejections for every active node.
pub fn reconcile(snap: &Snapshot) -> Vec<Action> {
    let services: HashMap<(String, String), &SwarmService> = snap
        .services
        .iter()
        .map(|s| ((ns_of(s.as_ref()), s.name_any()), s.as_ref()))
        .collect();
    let mut on_node: HashMap<&str, Vec<&Task>> = HashMap::new();
    for t in &snap.tasks {
        if let Some(node) = t.spec.node_name.as_deref() {
            on_node.entry(node).or_default().push(t);
        }
    }
    let mut actions = Vec::new();
    for node in &snap.nodes {
        let checked = availability(node) == NodeAvailability::Active
            && node_state(node) != Some(NodeState::Down);
        let tasks = on_node.remove(node.name_any().as_str()).unwrap_or_default();
        if checked {
            for task in offending(node, tasks, &services) {
                actions.extend(reject(task));
            }
        }
    }
    actions
}

/// The placement constraints a task must satisfy: its service's current ones (the task's own may
/// be outdated when only constraints changed), else the task's. Unparsable: `None`, matches nothing.
fn constraints_for(
    task: &Task,
    services: &HashMap<(String, String), &SwarmService>,
) -> Option<Vec<Constraint>> {
    let key = (ns_of(task), task.spec.service_name.clone());
    let service = services
        .get(&key)
        .filter(|s| task.spec.service_uid.is_none() || task.spec.service_uid == s.uid());
    let template = match service {
        Some(svc) => &svc.spec.task_template,
        None => &task.spec.template,
    };
    let exprs = template
        .placement
        .as_ref()
        .map(|p| p.constraints.as_slice())
        .unwrap_or_default();
    exprs
        .iter()
        .map(|c| parse_constraint(c))
        .collect::<Result<_, _>>()
        .ok()
}

/// Tasks on `node` meant to run (desired ASSIGNED..COMPLETE, observed ASSIGNED..RUNNING) that
/// break constraints or, oldest first, no longer fit the node's capacity.
fn offending<'a>(
    node: &SwarmNode,
    mut tasks: Vec<&'a Task>,
    services: &HashMap<(String, String), &SwarmService>,
) -> Vec<&'a Task> {
    let facts = NodeFacts::of(node);
    let capacity = node.status.as_ref().and_then(|s| s.resources.as_ref());
    let mut cpu = capacity.and_then(|r| r.nano_cpus).unwrap_or(0);
    let mut memory = capacity.and_then(|r| r.memory_bytes).unwrap_or(0);
    tasks.retain(|t| {
        (TaskState::Assigned..=TaskState::Complete).contains(&t.spec.desired_state)
            && (TaskState::Assigned..=TaskState::Running).contains(&observed(t))
    });
    tasks.sort_by_key(|t| age_key(t));
    let mut out = Vec::new();
    for task in tasks {
        let fits_constraints =
            constraints_for(task, services).is_some_and(|c| node_matches(&c, &facts));
        if !fits_constraints {
            out.push(task);
            continue;
        }
        if capacity.is_none() {
            continue;
        }
        let reserved = task
            .spec
            .template
            .resources
            .as_ref()
            .and_then(|r| r.reservations.as_ref());
        let want_cpu = reserved.and_then(|r| r.nano_cpus).unwrap_or(0);
        let want_memory = reserved.and_then(|r| r.memory_bytes).unwrap_or(0);
        if want_cpu > cpu || want_memory > memory {
            out.push(task);
            continue;
        }
        (cpu, memory) = (cpu - want_cpu, memory - want_memory);
    }
    out
}

fn reject(task: &Task) -> Vec<Action> {
    let node = task.spec.node_name.clone().unwrap_or_default();
    tracing::info!(task = %task.name_any(), %node, "constraint enforcer rejects task");
    vec![
        Action::TaskState {
            ns: ns_of(task),
            name: task.name_any(),
            state: TaskState::Rejected,
            message: REJECTED_MESSAGE.to_string(),
            err: Some(REJECTED_ERR.to_string()),
        },
        Event::about(
            task,
            true,
            "TaskRejected",
            format!("{REJECTED_MESSAGE}: node {node}: {REJECTED_ERR}"),
        ),
    ]
}

#[cfg(test)]
#[path = "enforcer_tests.rs"]
mod tests;
