//! Global orchestrator (docs/swarm-model.md#global-orchestrator): one task per eligible node — not drained, not down, matching
//! the service's placement constraints — created with `spec.nodeName` preset (the scheduler only
//! confirms it). Tasks on nodes that stop being eligible are shut down, not moved elsewhere; a
//! failed task restarts on the same node (restart supervisor); template changes roll out node by
//! node (update supervisor, slot = node). On a paused node nothing is added, updated or restarted.

use std::collections::HashSet;

use flotilla_api::constraint::{node_matches, parse_constraint, Constraint, NodeFacts};
use flotilla_api::node::NodeAvailability;
use flotilla_api::{SwarmNode, SwarmService, Task, TaskState};
use kube::ResourceExt;
use tokio::time::Instant;

use crate::action::{set_desired, Action, Event, Stopped};
use crate::restart::RestartState;
use crate::snapshot::{availability, observed, runnable, NodeLoss, Snapshot};
use crate::taskgen::{new_task, Placement};
use crate::update::UpdateState;

/// The service's placement constraints; `None` if one does not parse (it then matches no node,
/// as in the scheduler — the api-server validates them, so this does not happen in practice).
pub fn constraints(svc: &SwarmService) -> Option<Vec<Constraint>> {
    let placement = svc.spec.task_template.placement.as_ref();
    placement
        .map(|p| p.constraints.iter().map(|c| parse_constraint(c)).collect())
        .unwrap_or(Ok(Vec::new()))
        .ok()
}

/// Whether `node` satisfies the constraints (`None`: unparsable, matches nothing).
pub fn satisfies(constraints: Option<&[Constraint]>, node: &SwarmNode) -> bool {
    constraints.is_some_and(|c| node_matches(c, &NodeFacts::of(node)))
}

/// Why a global service may not run on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ineligible {
    Lost(NodeLoss),
    Constraints,
}

impl Ineligible {
    pub fn describe(self) -> &'static str {
        match self {
            Ineligible::Lost(loss) => loss.describe(),
            Ineligible::Constraints => {
                "node no longer satisfies the service's placement constraints"
            }
        }
    }
}

/// Why a global service may not run on `node` (removed, down, drained, constraints), if it may not.
pub fn ineligible(
    snap: &Snapshot,
    constraints: Option<&[Constraint]>,
    node: &str,
) -> Option<Ineligible> {
    if let Some(loss) = snap.node_lost(node) {
        return Some(Ineligible::Lost(loss));
    }
    let n = snap.node(node)?;
    (!satisfies(constraints, n)).then_some(Ineligible::Constraints)
}

/// Shutdowns, restarts, new tasks, rolling update and promotions for one global service.
pub fn reconcile(
    snap: &Snapshot,
    svc: &SwarmService,
    restarts: &mut RestartState,
    updates: &mut UpdateState,
    now: Instant,
) -> Vec<Action> {
    let constraints = constraints(svc);
    let tasks = snap.tasks_of(svc);
    let runnable_tasks: Vec<&Task> = tasks
        .iter()
        .map(|t| t.as_ref())
        .filter(|t| runnable(t))
        .collect();
    let mut actions = Vec::new();
    for task in &runnable_tasks {
        actions.extend(check_task(
            snap,
            svc,
            constraints.as_deref(),
            task,
            restarts,
            now,
        ));
    }
    actions.extend(fill_nodes(
        snap,
        svc,
        constraints.as_deref(),
        &runnable_tasks,
        restarts,
        &actions,
    ));
    let stopped = Stopped::of(&actions);
    let alive: Vec<&Task> = runnable_tasks
        .iter()
        .copied()
        .filter(|t| !stopped.has(t))
        .collect();
    // Nothing is updated on a paused node.
    let updatable: Vec<&Task> = alive
        .iter()
        .copied()
        .filter(|t| !on_paused_node(snap, t))
        .collect();
    actions.extend(updates.reconcile(snap, svc, &updatable, restarts, now));
    actions.extend(restarts.promotions(snap, &alive, now));
    actions
}

fn on_paused_node(snap: &Snapshot, task: &Task) -> bool {
    let node = task.spec.node_name.as_deref().and_then(|n| snap.node(n));
    node.is_some_and(|n| availability(n) == NodeAvailability::Pause)
}

/// One runnable task: shut down if its node is no longer eligible, restart (same node) if it
/// stopped — except on a paused node, where it is only shut down.
fn check_task(
    snap: &Snapshot,
    svc: &SwarmService,
    constraints: Option<&[Constraint]>,
    task: &Task,
    restarts: &mut RestartState,
    now: Instant,
) -> Vec<Action> {
    let name = task.name_any();
    let Some(node) = task.spec.node_name.clone() else {
        return vec![set_desired(task, TaskState::Shutdown)];
    };
    if let Some(why) = ineligible(snap, constraints, &node) {
        // A task on a deleted node is removed (the reaper deletes it); otherwise it stays as history.
        let state = if why == Ineligible::Lost(NodeLoss::Deleted) {
            TaskState::Remove
        } else {
            TaskState::Shutdown
        };
        let msg = format!("task {name} on node {node} shut down: {}", why.describe());
        return vec![
            set_desired(task, state),
            Event::about(svc, false, "TaskShutdown", msg),
        ];
    }
    if observed(task) <= TaskState::Running {
        return Vec::new();
    }
    let why = format!("task {name} {}", observed(task));
    if on_paused_node(snap, task) {
        let msg = format!("{why}; not restarted: node {node} is paused");
        return vec![
            set_desired(task, TaskState::Shutdown),
            Event::about(svc, true, "RestartRefused", msg),
        ];
    }
    restarts.restart(snap, svc, task, Placement::Node(node), &why, now)
}

/// New tasks on eligible, active nodes that have no runnable task (and whose last one was not
/// given up by the restart policy in this spec version).
fn fill_nodes(
    snap: &Snapshot,
    svc: &SwarmService,
    constraints: Option<&[Constraint]>,
    runnable_tasks: &[&Task],
    restarts: &RestartState,
    decided: &[Action],
) -> Vec<Action> {
    let stopped = Stopped::of(decided);
    let mut covered: HashSet<String> = runnable_tasks
        .iter()
        .filter(|t| !stopped.has(t))
        .filter_map(|t| t.spec.node_name.clone())
        .collect();
    for a in decided {
        if let Action::CreateTask(t) = a {
            covered.extend(t.spec.node_name.clone());
        }
    }
    let mut actions = Vec::new();
    let mut created = Vec::new();
    for node in &snap.nodes {
        let name = node.name_any();
        let placement = Placement::Node(name.clone());
        if covered.contains(&name)
            || availability(node) == NodeAvailability::Pause
            || ineligible(snap, constraints, &name).is_some()
            || restarts.gave_up(svc, &placement)
        {
            continue;
        }
        let task = new_task(svc, &placement, TaskState::Running);
        created.push(task.name_any());
        actions.push(Action::CreateTask(Box::new(task)));
    }
    if !created.is_empty() {
        actions.push(Event::about(
            svc,
            false,
            "TasksCreated",
            format!("created {} task(s): {}", created.len(), created.join(", ")),
        ));
    }
    actions
}

#[cfg(test)]
#[path = "global_tests.rs"]
mod tests;
