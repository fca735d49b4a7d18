//! Garbage collection through ownerReferences (the api-server has none).
//!
//! - Foreground: a service being deleted with the `foregroundDeletion` finalizer gets its tasks
//!   set to desired REMOVE; they are deleted once stopped (or never assigned, or their node is
//!   gone); then the finalizer is removed and the api-server finishes the delete.
//! - Background: a task whose controlling service no longer exists is stopped and deleted the
//!   same way (the plumbing re-reads the owner before deleting, so a lagging cache never kills
//!   a live service's tasks).
//! - Orphan: a service being deleted with the `orphan` finalizer (`kubectl delete
//!   --cascade=orphan`) keeps its tasks running: their ownerReferences to it are removed, then
//!   the finalizer, and the api-server finishes the delete (Kubernetes' garbage collector does
//!   the same).
//! - A service being deleted without either finalizer is simply left to the api-server; its
//!   tasks then become background garbage.

use std::collections::HashSet;

use flotilla_api::{Task, TaskState};
use kube::ResourceExt;

use crate::action::{Action, Event};
use crate::reaper::removable;
use crate::snapshot::{ns_of, Snapshot};

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

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
    let orphaning = orphaning(snap);
    actions.extend(orphan_tasks(snap, &orphaning));
    for task in snap.all_tasks() {
        let Some((owner, uid)) = task.controller() else {
            continue;
        };
        if live.contains(&uid) || orphaning.contains(&uid) {
            continue;
        }
        let (ns, name) = (task.namespace().to_string(), task.name().to_string());
        if task.desired() < TaskState::Remove {
            actions.push(Action::SetDesired {
                ns: ns.clone(),
                name: name.clone(),
                state: TaskState::Remove,
            });
        }
        if removable(snap, task) {
            if deleting.contains(&uid) {
                actions.push(Action::DeleteTask { ns, name });
            } else {
                actions.push(Action::DeleteOrphan {
                    ns,
                    name,
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
        let left = snap.tasks_of(svc).len() + snap.past_of(svc).len();
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

/// Uids of services being deleted with the `orphan` finalizer.
fn orphaning(snap: &Snapshot) -> HashSet<String> {
    snap.services
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_some())
        .filter(|s| s.finalizers().iter().any(|f| f == ORPHAN))
        .filter_map(|s| s.uid())
        .collect()
}

/// Orphan propagation: tasks referencing an orphaning service lose that reference; a service
/// no task references any more loses its `orphan` finalizer.
fn orphan_tasks(snap: &Snapshot, orphaning: &HashSet<String>) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut referenced = HashSet::new();
    for task in snap.all_tasks() {
        for uid in task.owner_uids() {
            if orphaning.contains(uid)
                && referenced.insert((task.name().to_string(), uid.to_string()))
            {
                actions.push(Action::RemoveOwnerReference {
                    ns: task.namespace().to_string(),
                    name: task.name().to_string(),
                    owner_uid: uid.to_string(),
                });
            }
        }
    }
    let still: HashSet<&String> = referenced.iter().map(|(_, uid)| uid).collect();
    for svc in snap.services.iter() {
        if svc
            .uid()
            .is_some_and(|u| orphaning.contains(&u) && !still.contains(&u))
        {
            actions.push(Action::RemoveFinalizer {
                ns: ns_of(svc.as_ref()),
                name: svc.name_any(),
                finalizer: ORPHAN.into(),
            });
            actions.push(Event::about(
                svc.as_ref(),
                false,
                "OrphanedDependents",
                "tasks no longer owned by the service; finishing the delete",
            ));
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::set_desired;
    use crate::test_support::{ready_nodes, service, snapshot, task};
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

    #[test]
    fn orphan_delete_keeps_tasks_and_drops_their_owner_then_the_finalizer() {
        let mut svc = service("web", 1);
        let tasks = vec![task(&svc, 1, Some("n1"), Running, Running, 1)];
        svc.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        svc.metadata.finalizers = Some(vec![ORPHAN.into()]);
        let uid = svc.uid().unwrap();
        let snap = snapshot(vec![svc.clone()], tasks, ready_nodes(&["n1"]));
        let actions = reconcile(&snap);
        assert_eq!(
            actions,
            vec![Action::RemoveOwnerReference {
                ns: ns_of(snap.tasks[0].as_ref()),
                name: snap.tasks[0].name_any(),
                owner_uid: uid,
            }],
            "the running task is neither stopped nor deleted, and the finalizer waits"
        );

        let mut orphaned = (*snap.tasks[0]).clone();
        orphaned.metadata.owner_references = None;
        let done = snapshot(vec![svc], vec![orphaned], ready_nodes(&["n1"]));
        let actions = reconcile(&done);
        assert!(actions.iter().any(
            |a| matches!(a, Action::RemoveFinalizer { finalizer, .. } if finalizer == ORPHAN)
        ));
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::SetDesired { .. })),
            "orphaned tasks keep running: {actions:?}"
        );
    }
}
