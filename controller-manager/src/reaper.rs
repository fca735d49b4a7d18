//! Task reaper (docs/swarm-model.md#task-reaper, #tasks-states-and-history): trims each slot's (or node's) history to the retention limit
//! and deletes REMOVE tasks once they stopped or were never assigned.

use std::collections::BTreeMap;

use flotilla_api::{SwarmService, TaskState};

use crate::action::Action;
use crate::past::TaskFacts;
use crate::restart::Policy;
use crate::snapshot::{ns_of, Snapshot};

/// Swarm's `task_history_retention_limit` default.
pub const DEFAULT_HISTORY_LIMIT: i64 = 5;

/// A REMOVE task can go once it never reached a node, stopped, or its node is gone or down.
pub fn removable<T: TaskFacts + ?Sized>(snap: &Snapshot, task: &T) -> bool {
    let state = task.observed();
    let node_gone = task
        .node()
        .and_then(|n| snap.node_lost(n))
        .is_some_and(|l| l != crate::snapshot::NodeLoss::Drained);
    state < TaskState::Assigned || state.is_terminal() || node_gone
}

/// Deletions for one service: its tasks, live and finished for good.
pub fn reconcile(snap: &Snapshot, svc: &SwarmService, limit: i64) -> Vec<Action> {
    let live = snap.tasks_of(svc);
    let past = snap.past_of(svc);
    let ns = ns_of(svc);
    let delete = |t: &dyn TaskFacts| Action::DeleteTask {
        ns: ns.clone(),
        name: t.name().to_string(),
    };
    let tasks: Vec<&dyn TaskFacts> = live
        .iter()
        .map(|t| t.as_ref() as &dyn TaskFacts)
        .chain(past.iter().map(|p| p.as_ref() as &dyn TaskFacts))
        .collect();
    let mut actions: Vec<Action> = tasks
        .iter()
        .filter(|t| t.desired() == TaskState::Remove && removable(snap, **t))
        .map(|t| delete(*t))
        .collect();
    if limit < 0 {
        return actions;
    }
    // Keep at least maxAttempts + 1 per slot so the restart count stays visible.
    let max_attempts = Policy::of(svc).max_attempts as i64;
    let keep = limit.max(if max_attempts > 0 {
        max_attempts + 1
    } else {
        0
    }) as usize;
    let mut groups: BTreeMap<String, Vec<&dyn TaskFacts>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.desired() != TaskState::Remove) {
        let group = match (t.slot(), t.node()) {
            (Some(slot), _) if slot > 0 => format!("slot/{slot}"),
            (_, Some(node)) => format!("node/{node}"),
            _ => "slot/0".to_string(),
        };
        groups.entry(group).or_default().push(*t);
    }
    for history in groups.values_mut() {
        if history.len() <= keep {
            continue;
        }
        history.sort_by_key(|t| t.age_key());
        let mut excess = history.len() - keep;
        for t in history.iter() {
            if excess == 0 {
                break;
            }
            // Never delete a task that runs or is meant to.
            if t.desired() <= TaskState::Running
                || t.observed() <= TaskState::Running && t.observed() >= TaskState::Assigned
            {
                continue;
            }
            actions.push(delete(*t));
            excess -= 1;
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ready_nodes, service, snapshot, task};
    use flotilla_api::Task;
    use TaskState::*;

    /// Deleted task names, sorted (live tasks and those finished for good come in two lists).
    fn deleted(actions: &[Action]) -> Vec<String> {
        let mut names: Vec<String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::DeleteTask { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn trims_slot_history_to_the_limit_oldest_first() {
        let svc = service("web", 1);
        let mut tasks: Vec<Task> = (1..=7)
            .map(|age| task(&svc, 1, Some("n1"), Shutdown, Failed, age))
            .collect();
        tasks.push(task(&svc, 1, Some("n1"), Running, Running, 8));
        let snap = snapshot(vec![svc.clone()], tasks, ready_nodes(&["n1"]));
        assert_eq!(
            deleted(&reconcile(&snap, &svc, 5)),
            ["web.1.t1", "web.1.t2", "web.1.t3"]
        );
    }

    #[test]
    fn keeps_max_attempts_plus_one() {
        let mut svc = service("web", 1);
        std::sync::Arc::make_mut(&mut svc.spec.task_template)
            .restart_policy
            .as_mut()
            .unwrap()
            .max_attempts = Some(6);
        let tasks: Vec<Task> = (1..=8)
            .map(|age| task(&svc, 1, Some("n1"), Shutdown, Failed, age))
            .collect();
        let snap = snapshot(vec![svc.clone()], tasks, ready_nodes(&["n1"]));
        assert_eq!(deleted(&reconcile(&snap, &svc, 5)), ["web.1.t1"]);
    }

    #[test]
    fn deletes_remove_tasks_once_stopped_or_unassigned() {
        let svc = service("web", 1);
        let tasks = vec![
            task(&svc, 2, Some("n1"), Remove, Running, 1),
            task(&svc, 3, Some("n1"), Remove, Shutdown, 2),
            task(&svc, 4, None, Remove, Pending, 3),
            task(&svc, 5, Some("gone"), Remove, Running, 4),
        ];
        let snap = snapshot(vec![svc.clone()], tasks, ready_nodes(&["n1"]));
        assert_eq!(
            deleted(&reconcile(&snap, &svc, 5)),
            ["web.3.t2", "web.4.t3", "web.5.t4"]
        );
    }
}
