//! One service's rollout of one spec version: which slots are in flight, when their new tasks
//! run, how long they are watched, and which slots start next.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use flotilla_api::{SwarmService, Task, TaskState};
use tokio::time::Instant;

use super::{Config, Slots};
use crate::action::{set_desired, Action};
use crate::restart::RestartState;
use crate::snapshot::{age_key, key_of, observed, Snapshot};
use crate::taskgen::{is_dirty, new_task, Placement};

#[derive(Debug)]
pub(super) struct Rollout {
    pub(super) version: i64,
    pub(super) rollback: bool,
    pub(super) total: usize,
    /// slot (or node) → (new task key, when it was first seen RUNNING).
    pub(super) in_flight: BTreeMap<Placement, (String, Option<Instant>)>,
    /// Updated tasks still inside their monitor window: key → running since.
    pub(super) monitored: HashMap<String, Instant>,
    pub(super) failures: HashSet<String>,
    pub(super) stopped: bool,
    /// Stopped by a failure with `failureAction: rollback`: the spec is being replaced.
    pub(super) rolled_back: bool,
    pub(super) done: bool,
    pub(super) last_progress: Instant,
}

impl Rollout {
    pub(super) fn new(
        version: i64,
        rollback: bool,
        total: usize,
        stopped: bool,
        now: Instant,
    ) -> Rollout {
        Rollout {
            version,
            rollback,
            total,
            in_flight: BTreeMap::new(),
            monitored: HashMap::new(),
            failures: HashSet::new(),
            stopped,
            rolled_back: false,
            done: false,
            last_progress: now,
        }
    }

    /// Follow in-flight slots: note when new tasks run, stop old ones (start-first), finish slots
    /// after `delay`, record failures within `monitor`.
    pub(super) fn track(
        &mut self,
        snap: &Snapshot,
        slots: &Slots,
        cfg: &Config,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let mut finished = Vec::new();
        for (slot, (key, running_since)) in self.in_flight.iter_mut() {
            let Some((state, name)) = find(snap, key) else {
                finished.push(slot.clone());
                continue;
            };
            if state > TaskState::Running {
                self.failures.insert(name);
                finished.push(slot.clone());
                continue;
            }
            if state == TaskState::Running && running_since.is_none() {
                *running_since = Some(now);
                self.monitored.insert(key.clone(), now);
                for old in slots
                    .get(slot)
                    .into_iter()
                    .flatten()
                    .filter(|t| key_of(**t) != *key)
                {
                    actions.push(set_desired(old, TaskState::Shutdown));
                }
            }
            if running_since.is_some_and(|since| now >= since + cfg.delay) {
                finished.push(slot.clone());
            }
        }
        for slot in finished {
            self.in_flight.remove(&slot);
            self.last_progress = now;
        }
        self.monitor(snap, cfg, now);
    }

    /// Drop updated tasks whose monitor window has passed; a task failing inside it counts.
    fn monitor(&mut self, snap: &Snapshot, cfg: &Config, now: Instant) {
        // The window outlasts the delay, so a slot is never past both before it is judged.
        let window = if cfg.delay >= cfg.monitor {
            cfg.delay + Duration::from_secs(1)
        } else {
            cfg.monitor
        };
        self.monitored.retain(|key, since| match find(snap, key) {
            Some((state, name)) if state > TaskState::Running => {
                self.failures.insert(name);
                false
            }
            Some(_) => now < *since + window,
            None => false,
        });
    }

    /// Start new tasks for waiting dirty slots, at most `parallelism` in flight.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_slots(
        &mut self,
        svc: &SwarmService,
        slots: &Slots,
        dirty: &[Placement],
        cfg: &Config,
        restarts: &mut RestartState,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let limit = if cfg.parallelism == 0 {
            usize::MAX
        } else {
            cfg.parallelism
        };
        let waiting: Vec<&Placement> = dirty
            .iter()
            .filter(|s| !self.in_flight.contains_key(s))
            .collect();
        for slot in waiting {
            let tasks = &slots[slot];
            if keep_clean(svc, tasks, actions) {
                continue;
            }
            if self.in_flight.len() >= limit {
                break;
            }
            let desired = if cfg.start_first {
                TaskState::Running
            } else {
                TaskState::Ready
            };
            let task = new_task(svc, slot, desired);
            if !cfg.start_first {
                for old in tasks {
                    actions.push(set_desired(old, TaskState::Shutdown));
                }
                restarts.expect_promotion(
                    key_of(&task),
                    now,
                    tasks.iter().map(|t| key_of(*t)).collect(),
                );
            }
            self.in_flight.insert(slot.clone(), (key_of(&task), None));
            actions.push(Action::CreateTask(Box::new(task)));
        }
    }
}

/// The observed state and name of the task `key`, also once it finished for good (a failed
/// task the restart stopped still counts as the update's failure).
fn find(snap: &Snapshot, key: &str) -> Option<(TaskState, String)> {
    let task = snap.cached(key)?.facts();
    Some((task.observed(), task.name().to_string()))
}

/// A slot that already has a clean task (start-first leftovers, restarts) keeps it: once it runs
/// (or is not meant to yet) the other tasks stop. True when the slot needs no new task.
fn keep_clean(svc: &SwarmService, tasks: &[&Task], actions: &mut Vec<Action>) -> bool {
    let Some(clean) = tasks
        .iter()
        .filter(|t| !is_dirty(svc, t))
        .max_by_key(|t| age_key(t))
    else {
        return false;
    };
    if observed(clean) == TaskState::Running || clean.spec.desired_state < TaskState::Running {
        for t in tasks
            .iter()
            .filter(|t| t.metadata.name != clean.metadata.name)
        {
            actions.push(set_desired(t, TaskState::Shutdown));
        }
    }
    true
}
