//! Jobs orchestrator (docs/swarm-model.md#jobs, #services-and-modes): a replicated job runs `totalCompletions` successful tasks,
//! at most `maxConcurrent` at once, one per slot 0..totalCompletions-1; a global job runs one task
//! to completion on every eligible node ([`crate::jobs_global`]).
//!
//! Job tasks are created with desired COMPLETE. A task that completes is never restarted (restart
//! condition `any` behaves like `on-failure`); a failed one goes through the restart supervisor, and
//! a slot (or node) whose task failed for good stays failed for the iteration.
//!
//! The job iteration is the spec generation minus one: the api-server bumps the generation on every
//! spec change (`forceUpdate` included), exactly when Swarm's control API bumps
//! `jobStatus.jobIteration`, so tasks are stamped with the right iteration before the status shows
//! it. Tasks of earlier iterations that have not finished get desired REMOVE.

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_api::service::ModeKind;
use flotilla_api::{SwarmService, Task, TaskState};
use kube::ResourceExt;
use tokio::time::Instant;

use crate::past::{PastTask, TaskFacts};

use crate::action::{set_desired, Action, Event, Stopped};
use crate::restart::{needs_restart, RestartState};
use crate::snapshot::{observed, Snapshot};
use crate::taskgen::{new_task, spec_version, Placement};

/// The job iteration tasks of `svc` are created for; `None` unless `svc` is a job.
pub fn iteration(svc: &SwarmService) -> Option<i64> {
    svc.spec
        .mode_kind()
        .filter(|k| k.is_job())
        .map(|_| spec_version(svc) - 1)
}

/// (maxConcurrent, totalCompletions) of a replicated job, with the API defaults (1, maxConcurrent).
pub fn limits(svc: &SwarmService) -> Option<(i64, i64)> {
    let job = svc.spec.mode.as_ref()?.replicated_job.as_ref()?;
    let max = job.max_concurrent.unwrap_or(1).max(0);
    Some((max, job.total_completions.unwrap_or(max).max(0)))
}

/// Tasks of `svc` in the iteration it runs now.
pub fn current<'a>(svc: &SwarmService, tasks: &'a [std::sync::Arc<Task>]) -> Vec<&'a Task> {
    let iteration = iteration(svc);
    tasks
        .iter()
        .map(|t| t.as_ref())
        .filter(|t| iteration.is_some() && t.spec.job_iteration == iteration)
        .collect()
}

/// Still working towards completion: desired READY (restart delay) or COMPLETE, not finished.
pub fn live(task: &Task) -> bool {
    task.spec.desired_state <= TaskState::Complete && !observed(task).is_terminal()
}

/// What the current iteration's tasks in one slot (or on one node) amount to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A task completed.
    Done,
    /// A task runs or will run.
    Active,
    /// A task failed and the restart policy allowed no other attempt.
    GaveUp,
}

/// Progress per slot (or node) after `decided`, counting the tasks that finished for good
/// (`past`: completions and given-up slots); slots absent from the map need a task.
pub fn progress<K: Ord + Clone>(
    tasks: &[&Task],
    past: &[Arc<PastTask>],
    decided: &[Action],
    key: impl Fn(&dyn TaskFacts) -> Option<K>,
) -> BTreeMap<K, Progress> {
    let mut out: BTreeMap<K, Progress> = BTreeMap::new();
    let stopped = Stopped::of(decided);
    let created = decided.iter().filter_map(|a| match a {
        Action::CreateTask(t) => Some(t.as_ref() as &dyn TaskFacts),
        _ => None,
    });
    let live_tasks = tasks.iter().map(|t| *t as &dyn TaskFacts);
    let past_tasks = past.iter().map(|p| p.as_ref() as &dyn TaskFacts);
    for t in live_tasks.chain(past_tasks).chain(created) {
        let Some(k) = key(t) else { continue };
        let state = t.observed();
        let p = if state == TaskState::Complete {
            Progress::Done
        } else if t.desired() <= TaskState::Complete && !state.is_terminal() && !stopped.has(t) {
            Progress::Active
        } else if state > TaskState::Shutdown {
            Progress::GaveUp
        } else {
            continue;
        };
        let slot = out.entry(k).or_insert(p);
        // Done beats Active beats GaveUp (the enum order).
        if (p as u8) < (*slot as u8) {
            *slot = p;
        }
    }
    out
}

/// The current iteration's tasks: those still live, and those that finished for good.
#[derive(Clone, Copy)]
pub struct Iteration<'a> {
    pub tasks: &'a [&'a Task],
    pub past: &'a [Arc<PastTask>],
}

/// Every write the jobs orchestrator wants for one job.
pub fn reconcile(
    snap: &Snapshot,
    svc: &SwarmService,
    restarts: &mut RestartState,
    now: Instant,
) -> Vec<Action> {
    let Some(iteration) = iteration(svc) else {
        return Vec::new();
    };
    let tasks = snap.tasks_of(svc);
    let mut actions = retire_old(svc, &tasks, iteration);
    let current = current(svc, &tasks);
    let mut past = snap.past_of(svc);
    past.retain(|p| p.job_iteration == Some(iteration));
    let this = Iteration {
        tasks: &current,
        past: &past,
    };
    match svc.spec.mode_kind() {
        Some(ModeKind::ReplicatedJob) => replicated(snap, svc, this, restarts, now, &mut actions),
        Some(ModeKind::GlobalJob) => {
            crate::jobs_global::reconcile(snap, svc, this, restarts, now, &mut actions)
        }
        _ => {}
    }
    let stopped = Stopped::of(&actions);
    let waiting: Vec<&Task> = current
        .iter()
        .copied()
        .filter(|t| t.spec.desired_state == TaskState::Ready && !stopped.has(t))
        .collect();
    actions.extend(restarts.promotions(snap, &waiting, now));
    actions
}

/// Desired REMOVE for unfinished tasks of earlier iterations (finished ones stay as history).
fn retire_old(svc: &SwarmService, tasks: &[std::sync::Arc<Task>], iteration: i64) -> Vec<Action> {
    let old: Vec<&Task> = tasks
        .iter()
        .map(|t| t.as_ref())
        .filter(|t| t.spec.job_iteration != Some(iteration))
        .filter(|t| t.spec.desired_state < TaskState::Shutdown && !observed(t).is_terminal())
        .collect();
    if old.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = old.iter().map(|t| t.name_any()).collect();
    let mut actions: Vec<Action> = old
        .iter()
        .map(|t| set_desired(t, TaskState::Remove))
        .collect();
    actions.push(Event::about(
        svc,
        false,
        "JobIterationStarted",
        format!(
            "iteration {iteration}: removing unfinished task(s) of earlier iterations: {}",
            names.join(", ")
        ),
    ));
    actions
}

/// Retry failed tasks, then start tasks in free slots while fewer than maxConcurrent run and
/// completions are still missing.
fn replicated(
    snap: &Snapshot,
    svc: &SwarmService,
    this: Iteration,
    restarts: &mut RestartState,
    now: Instant,
    actions: &mut Vec<Action>,
) {
    let current = this.tasks;
    let Some((max_concurrent, total)) = limits(svc) else {
        return;
    };
    for t in current.iter().filter(|t| live_or_failed(t)) {
        if let Some(why) = needs_restart(snap, t) {
            let slot = Placement::Slot(t.spec.slot.unwrap_or(0));
            actions.extend(restarts.restart(snap, svc, t, slot, &why, now));
        }
    }
    let slots = progress(current, this.past, actions, |t| t.slot());
    let count = |p| slots.values().filter(|s| **s == p).count() as i64;
    let (done, active) = (count(Progress::Done), count(Progress::Active));
    let room = (max_concurrent - active).min(total - slots.len() as i64);
    if room <= 0 {
        return;
    }
    let mut created = Vec::new();
    for slot in (0..total)
        .filter(|s| !slots.contains_key(s))
        .take(room as usize)
    {
        let task = new_task(svc, &Placement::Slot(slot), TaskState::Complete);
        created.push(task.name_any());
        actions.push(Action::CreateTask(Box::new(task)));
    }
    actions.push(Event::about(
        svc,
        false,
        "JobTasksCreated",
        format!(
            "{done}/{total} completed, {active} in progress; created {}",
            created.join(", ")
        ),
    ));
}

/// Meant to complete but not completed: still working, or failed without being stopped yet.
pub fn live_or_failed(task: &Task) -> bool {
    task.spec.desired_state <= TaskState::Complete && observed(task) != TaskState::Complete
}

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;
