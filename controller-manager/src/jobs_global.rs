//! Global jobs (docs/swarm-model.md#jobs): one task to completion on every eligible node, pre-bound to
//! it; nodes that join later get theirs too. A node that completed gets no other task until the
//! next iteration. Node eligibility is the global orchestrator's ([`crate::global::ineligible`]).

use flotilla_api::node::NodeAvailability;
use flotilla_api::{SwarmService, TaskState};
use kube::ResourceExt;
use tokio::time::Instant;

use crate::action::{set_desired, Action, Event};
use crate::global::{constraints, ineligible, Ineligible};
use crate::jobs::{live_or_failed, progress, Iteration};
use crate::restart::{needs_restart, RestartState};
use crate::snapshot::{availability, NodeLoss, Snapshot};
use crate::taskgen::{new_task, Placement};

/// Stop tasks on nodes that are no longer eligible, retry failed ones on their node (not on a
/// paused one), start one on every eligible active node without a task of this iteration.
pub fn reconcile(
    snap: &Snapshot,
    svc: &SwarmService,
    this: Iteration,
    restarts: &mut RestartState,
    now: Instant,
    actions: &mut Vec<Action>,
) {
    let current = this.tasks;
    let constraints = constraints(svc);
    for t in current.iter().filter(|t| live_or_failed(t)) {
        let Some(node) = t.spec.node_name.clone() else {
            continue;
        };
        let name = t.name_any();
        if let Some(why) = ineligible(snap, constraints.as_deref(), &node) {
            let state = match why {
                Ineligible::Lost(NodeLoss::Deleted) => TaskState::Remove,
                _ => TaskState::Shutdown,
            };
            let msg = format!("task {name} on node {node} shut down: {}", why.describe());
            actions.push(set_desired(t, state));
            actions.push(Event::about(svc, false, "TaskShutdown", msg));
        } else if let Some(why) = needs_restart(snap, t) {
            if paused(snap, &node) {
                let msg = format!("{why}; not restarted: node {node} is paused");
                actions.push(set_desired(t, TaskState::Shutdown));
                actions.push(Event::about(svc, true, "RestartRefused", msg));
            } else {
                let placement = Placement::Node(node);
                actions.extend(restarts.restart(snap, svc, t, placement, &why, now));
            }
        }
    }
    let nodes = progress(current, this.past, actions, |t| {
        t.node().map(str::to_string)
    });
    let mut created = Vec::new();
    for node in &snap.nodes {
        let name = node.name_any();
        if nodes.contains_key(&name)
            || paused(snap, &name)
            || ineligible(snap, constraints.as_deref(), &name).is_some()
        {
            continue;
        }
        let task = new_task(svc, &Placement::Node(name), TaskState::Complete);
        created.push(task.name_any());
        actions.push(Action::CreateTask(Box::new(task)));
    }
    if !created.is_empty() {
        actions.push(Event::about(
            svc,
            false,
            "JobTasksCreated",
            format!("created {}", created.join(", ")),
        ));
    }
}

fn paused(snap: &Snapshot, node: &str) -> bool {
    snap.node(node)
        .is_some_and(|n| availability(n) == NodeAvailability::Pause)
}
