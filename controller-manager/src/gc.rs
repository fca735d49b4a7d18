//! Garbage collection through ownerReferences (the api-server has none).
//!
//! - Foreground: a service being deleted with the `foregroundDeletion` finalizer gets its tasks
//!   set to desired REMOVE; they are deleted once stopped (or never assigned, or their node is
//!   gone); then the finalizer is removed and the api-server finishes the delete.
//! - Background: a task whose controlling service no longer exists is stopped and deleted the
//!   same way (the plumbing re-reads the owner before deleting, so a lagging cache never kills
//!   a live service's tasks).
//! - A service being deleted without that finalizer (e.g. orphan propagation is not supported)
//!   is simply left to the api-server; its tasks then become background garbage.

use std::collections::HashSet;

use flotilla_api::{Task, TaskState};
use kube::ResourceExt;

use crate::action::{set_desired, Action, Event};
use crate::reaper::removable;
use crate::snapshot::{ns_of, Snapshot};

pub const FOREGROUND: &str = "foregroundDeletion";

/// The task's controlling owner reference to a SwarmService: (name, uid).
pub fn controller_of(task: &Task) -> Option<(String, String)> {
    task.owner_references()
        .iter()
        .find(|o| o.kind == "SwarmService" && o.controller == Some(true))
        .map(|o| (o.name.clone(), o.uid.clone()))
}

pub fn reconcile(snap: &Snapshot) -> Vec<Action> {
    let mut actions = Vec::new();
    let live: HashSet<String> = snap
        .services
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .filter_map(|s| s.uid())
        .collect();
    let deleting: HashSet<String> = snap
        .services
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_some())
        .filter_map(|s| s.uid())
        .collect();
    for task in &snap.tasks {
        let Some((owner, uid)) = controller_of(task) else {
            continue;
        };
        if live.contains(&uid) {
            continue;
        }
        if task.spec.desired_state < TaskState::Remove {
            actions.push(set_desired(task, TaskState::Remove));
        }
        if removable(snap, task) {
            if deleting.contains(&uid) {
                actions.push(crate::action::delete_task(task));
            } else {
                actions.push(Action::DeleteOrphan {
                    ns: ns_of(task.as_ref()),
                    name: task.name_any(),
                    owner,
                    owner_uid: uid,
                });
            }
        }
    }
    for svc in snap
        .services
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_some())
    {
        if !svc.finalizers().iter().any(|f| f == FOREGROUND) {
            continue;
        }
        let left = snap.tasks_of(svc).len();
        if left == 0 {
            actions.push(Action::RemoveFinalizer {
                ns: ns_of(svc.as_ref()),
                name: svc.name_any(),
                finalizer: FOREGROUND.into(),
            });
            actions.push(Event::about(
                svc.as_ref(),
                false,
                "DeletedDependents",
                "all tasks removed; finishing foreground deletion",
            ));
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ready_nodes, service, snapshot, task};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use TaskState::*;

    #[test]
    fn foreground_delete_removes_tasks_then_finalizer() {
        let mut svc = service("web", 2);
        let tasks = vec![
            task(&svc, 1, Some("n1"), Running, Running, 1),
            task(&svc, 2, None, Running, Pending, 2),
        ];
        svc.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        svc.metadata.finalizers = Some(vec![FOREGROUND.into()]);
        let snap = snapshot(vec![svc.clone()], tasks, ready_nodes(&["n1"]));
        let actions = reconcile(&snap);
        assert!(actions.contains(&set_desired(&snap.tasks[0], Remove)));
        assert!(
            actions.contains(&crate::action::delete_task(&snap.tasks[1])),
            "unassigned task goes at once"
        );
        assert!(!actions
            .iter()
            .any(|a| matches!(a, Action::RemoveFinalizer { .. })));
        let done = snapshot(vec![svc], vec![], vec![]);
        assert!(reconcile(&done)
            .iter()
            .any(|a| matches!(a, Action::RemoveFinalizer { .. })));
    }

    #[test]
    fn orphans_are_stopped_then_deleted_after_owner_check() {
        let svc = service("web", 1);
        let tasks = vec![
            task(&svc, 1, Some("n1"), Running, Running, 1),
            task(&svc, 2, Some("n1"), Shutdown, Failed, 2),
        ];
        let snap = snapshot(vec![], tasks, ready_nodes(&["n1"]));
        let actions = reconcile(&snap);
        assert!(actions.contains(&set_desired(&snap.tasks[0], Remove)));
        assert!(actions
            .iter()
            .any(|a| matches!(a, Action::DeleteOrphan { name, .. } if name == "web.2.t2")));
        let kept = snapshot(
            vec![svc],
            snap.tasks.iter().map(|t| (**t).clone()).collect(),
            ready_nodes(&["n1"]),
        );
        assert!(
            reconcile(&kept).is_empty(),
            "tasks of a live service are left alone"
        );
    }
}
