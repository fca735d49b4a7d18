//! Replicated orchestrator (docs/swarm-model.md#replicated-orchestrator): one runnable task per slot 1..N.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use flotilla_api::{SwarmService, Task, TaskState};
use kube::ResourceExt;
use tokio::time::Instant;

use crate::action::{set_desired, Action, Event, Stopped};
use crate::past::{PastTask, TaskFacts};
use crate::restart::{needs_restart, RestartState};
use crate::snapshot::{observed, runnable, Snapshot};
use crate::taskgen::{new_task, spec_version, Placement};
use crate::update::UpdateState;

pub fn replicas(svc: &SwarmService) -> i64 {
    svc.spec
        .mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .unwrap_or(1)
        .max(0)
}

/// Restarts, scaling, rolling update and delayed promotions for one replicated service.
pub fn reconcile(
    snap: &Snapshot,
    svc: &SwarmService,
    restarts: &mut RestartState,
    updates: &mut UpdateState,
    now: Instant,
) -> Vec<Action> {
    let tasks = snap.tasks_of(svc);
    let tasks: Vec<&Task> = tasks.iter().map(|t| t.as_ref()).collect();
    let mut actions = Vec::new();
    // Slots whose runnable task gets replaced this round keep counting as runnable.
    for task in tasks.iter().filter(|t| runnable(t)) {
        if let Some(why) = needs_restart(snap, task) {
            let slot = task.spec.slot.unwrap_or(0);
            actions.extend(restarts.restart(snap, svc, task, Placement::Slot(slot), &why, now));
        }
    }
    let slots = runnable_slots(&tasks, &actions);
    let past = snap.past_of(svc);
    actions.extend(scale(svc, &tasks, &past, &slots, &actions));
    let stopped = Stopped::of(&actions);
    let runnable_now: Vec<&Task> = tasks
        .iter()
        .copied()
        .filter(|t| runnable(t) && !stopped.has(t))
        .collect();
    actions.extend(updates.reconcile(snap, svc, &runnable_now, restarts, now));
    // A READY task the update just replaced is not promoted in the same round.
    let stopped = Stopped::of(&actions);
    let promotable: Vec<&Task> = runnable_now
        .into_iter()
        .filter(|t| !stopped.has(t))
        .collect();
    actions.extend(restarts.promotions(snap, &promotable, now));
    actions
}

/// Slot → runnable tasks, counting decisions already taken this round.
fn runnable_slots<'a>(tasks: &[&'a Task], actions: &[Action]) -> BTreeMap<i64, Vec<&'a Task>> {
    let mut slots: BTreeMap<i64, Vec<&Task>> = BTreeMap::new();
    let stopped = Stopped::of(actions);
    for t in tasks.iter().copied().filter(|t| runnable(t)) {
        if !stopped.has(t) {
            slots.entry(t.spec.slot.unwrap_or(0)).or_default().push(t);
        }
    }
    for a in actions {
        if let Action::CreateTask(t) = a {
            slots.entry(t.spec.slot.unwrap_or(0)).or_default();
        }
    }
    slots
}

/// Scale up into the lowest free slots, or remove slots (most loaded nodes first).
fn scale(
    svc: &SwarmService,
    tasks: &[&Task],
    past: &[Arc<PastTask>],
    slots: &BTreeMap<i64, Vec<&Task>>,
    decided: &[Action],
) -> Vec<Action> {
    let want = replicas(svc) as usize;
    // A dead slot of the current spec version (restart refused) stays dead until the next update,
    // as in Swarm, where only service events trigger a reconcile.
    let version = spec_version(svc);
    let given_up: Vec<i64> = given_up_slots(tasks, past, slots, version, decided);
    let have = slots.len() + given_up.len();
    let mut actions = Vec::new();
    if have < want {
        let mut slot = 1;
        let mut created = Vec::new();
        while created.len() < want - have {
            if !slots.contains_key(&slot) && !given_up.contains(&slot) {
                let task = new_task(svc, &Placement::Slot(slot), TaskState::Running);
                created.push(task.name_any());
                actions.push(Action::CreateTask(Box::new(task)));
            }
            slot += 1;
        }
        actions.push(Event::about(
            svc,
            false,
            "ScaledUp",
            format!("created {} task(s): {}", created.len(), created.join(", ")),
        ));
    } else if slots.len() > want {
        let victims = scale_down_victims(slots, slots.len() - want);
        for slot in &victims {
            for t in &slots[slot] {
                actions.push(set_desired(t, TaskState::Remove));
            }
        }
        let list: Vec<String> = victims.iter().map(i64::to_string).collect();
        actions.push(Event::about(
            svc,
            false,
            "ScaledDown",
            format!("removing slot(s) {}", list.join(", ")),
        ));
    }
    actions
}

/// Slots without a runnable task where a task of the current spec version was stopped: its
/// restart was refused. (Not "the newest task is of this version": status timestamps have
/// one-second resolution, so the stopped old-version task of an update often ties with it.)
fn given_up_slots(
    tasks: &[&Task],
    past: &[Arc<PastTask>],
    slots: &BTreeMap<i64, Vec<&Task>>,
    version: i64,
    decided: &[Action],
) -> Vec<i64> {
    let stopped = Stopped::of(decided);
    let all = tasks
        .iter()
        .map(|t| *t as &dyn TaskFacts)
        .chain(past.iter().map(|p| p.as_ref() as &dyn TaskFacts));
    let mut dead: Vec<i64> = all
        .filter(|t| {
            t.spec_version() == Some(version)
                && (t.desired() == TaskState::Shutdown || stopped.has(*t))
        })
        .map(|t| t.slot().unwrap_or(0))
        .filter(|slot| !slots.contains_key(slot))
        .collect();
    dead.sort();
    dead.dedup();
    dead
}

/// Pick `count` slots to remove: slots without a RUNNING task first, then the slot on the node
/// with the most of this service's slots, highest slot number on ties.
pub fn scale_down_victims(slots: &BTreeMap<i64, Vec<&Task>>, count: usize) -> Vec<i64> {
    let node_of = |slot: &i64| slots[slot].first().and_then(|t| t.spec.node_name.clone());
    let mut load: HashMap<Option<String>, usize> = HashMap::new();
    for slot in slots.keys() {
        *load.entry(node_of(slot)).or_default() += 1;
    }
    let mut remaining: Vec<i64> = slots.keys().copied().collect();
    let mut victims = Vec::new();
    while victims.len() < count && !remaining.is_empty() {
        let running = |s: &i64| slots[s].iter().any(|t| observed(t) == TaskState::Running);
        let pick = *remaining
            .iter()
            .max_by_key(|s| (!running(s), load[&node_of(s)], **s))
            .expect("non-empty");
        remaining.retain(|s| *s != pick);
        *load.get_mut(&node_of(&pick)).expect("counted") -= 1;
        victims.push(pick);
    }
    victims.sort();
    victims
}

#[cfg(test)]
#[path = "replicated_tests.rs"]
mod tests;
