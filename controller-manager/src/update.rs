//! Update supervisor (Swarm §1.13, §3.5): rolling update of dirty slots, failure monitoring,
//! pause / continue / rollback, and `status.updateStatus`.
//!
//! A user requests a rollback by annotating the service: `kubectl annotate ssvc/web
//! flotilla.dev/rollback=true` (like `docker service rollback web`). The controller swaps
//! `spec` with `status.previousSpec` and removes the annotation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use flotilla_api::duration::parse_duration;
use flotilla_api::update::{FailureAction, UpdateConfig, UpdateOrder, UpdateState as Phase};
use flotilla_api::{SwarmService, Task, TaskState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::json;
use tokio::time::Instant;

use crate::action::{set_desired, Action, Event};
use crate::restart::RestartState;
use crate::snapshot::{key_of, ns_of, observed, Snapshot};
use crate::taskgen::{is_dirty, new_task, spec_version, Placement};

/// Annotation requesting a rollback to `status.previousSpec`.
pub const ROLLBACK_ANNOTATION: &str = "flotilla.dev/rollback";

/// One service's rollout of one spec version.
#[derive(Debug)]
struct Rollout {
    version: i64,
    rollback: bool,
    total: usize,
    /// slot (or node) → (new task key, when it was first seen RUNNING).
    in_flight: BTreeMap<Placement, (String, Option<Instant>)>,
    /// Updated tasks still inside their monitor window: key → running since.
    monitored: HashMap<String, Instant>,
    failures: HashSet<String>,
    stopped: bool,
    /// Stopped by a failure with `failureAction: rollback`: the spec is being replaced.
    rolled_back: bool,
    done: bool,
    last_progress: Instant,
}

#[derive(Debug, Default)]
pub struct UpdateState {
    rollouts: HashMap<String, Rollout>,
}

struct Config {
    parallelism: usize,
    delay: Duration,
    monitor: Duration,
    ratio: f64,
    action: FailureAction,
    start_first: bool,
}

impl Config {
    fn of(c: Option<&UpdateConfig>) -> Config {
        let c = c.cloned().unwrap_or_default();
        let dur = |s: &Option<String>, d| {
            s.as_deref()
                .and_then(|s| parse_duration(s).ok())
                .unwrap_or(d)
        };
        Config {
            parallelism: c.parallelism.unwrap_or(1).max(0) as usize,
            delay: dur(&c.delay, Duration::ZERO),
            monitor: dur(&c.monitor, Duration::from_secs(5)),
            ratio: c.max_failure_ratio.unwrap_or(0.0),
            action: c.failure_action.unwrap_or(FailureAction::Pause),
            start_first: c.order == Some(UpdateOrder::StartFirst),
        }
    }
}

type Slots<'a> = BTreeMap<Placement, Vec<&'a Task>>;

fn phase(svc: &SwarmService) -> Option<Phase> {
    svc.status.as_ref()?.update_status.as_ref()?.state
}

fn status_patch(svc: &SwarmService, state: Phase, message: String, started: bool) -> Action {
    let now = Time(Timestamp::now());
    let mut status = json!({"state": state, "message": message});
    if started {
        status["startedAt"] = json!(now);
        status["completedAt"] = serde_json::Value::Null;
    } else if matches!(state, Phase::Completed | Phase::RollbackCompleted) {
        status["completedAt"] = json!(now);
    }
    Action::ServiceStatus {
        ns: ns_of(svc),
        name: svc.name_any(),
        patch: json!({"updateStatus": status}),
    }
}

/// Slot (global: node) → runnable tasks, and the slots needing an update (a dirty task, or more
/// than one task).
fn dirty_slots<'a>(svc: &SwarmService, runnable: &[&'a Task]) -> (Slots<'a>, Vec<Placement>) {
    let mut slots: Slots = BTreeMap::new();
    for t in runnable {
        slots.entry(Placement::of(t)).or_default().push(t);
    }
    let dirty = slots
        .iter()
        .filter(|(_, ts)| ts.len() > 1 || ts.iter().any(|t| is_dirty(svc, t)))
        .map(|(s, _)| s.clone())
        .collect();
    (slots, dirty)
}

/// COMPLETED / ROLLBACK_COMPLETED with Swarm's message, and an event naming the spec version
/// (the same words for every update would be folded into one event by the applier's dedupe).
fn completed(svc: &SwarmService, rollback: bool) -> Vec<Action> {
    let (state, msg, reason) = if rollback {
        (
            Phase::RollbackCompleted,
            "rollback completed",
            "RollbackCompleted",
        )
    } else {
        (Phase::Completed, "update completed", "UpdateCompleted")
    };
    let version = spec_version(svc);
    vec![
        status_patch(svc, state, msg.into(), false),
        Event::about(
            svc,
            false,
            reason,
            format!("{msg} (spec version {version})"),
        ),
    ]
}

impl UpdateState {
    /// Advance the rolling update of `svc` given its runnable tasks.
    pub fn reconcile(
        &mut self,
        snap: &Snapshot,
        svc: &SwarmService,
        runnable: &[&Task],
        restarts: &mut RestartState,
        now: Instant,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let version = spec_version(svc);
        let (slots, dirty) = dirty_slots(svc, runnable);
        let uid = svc.uid().unwrap_or_default();
        let fresh = self.rollouts.get(&uid).is_none_or(|r| r.version != version);
        if fresh {
            if dirty.is_empty() {
                // Swarm: a new spec with nothing to redeploy completes an update (or rollback)
                // in progress, e.g. the rollback of a replicas-only change.
                return match phase(svc) {
                    Some(Phase::Updating) => completed(svc, false),
                    Some(Phase::RollbackStarted) => completed(svc, true),
                    _ => actions,
                };
            }
            let rollback = phase(svc) == Some(Phase::RollbackStarted);
            let paused = matches!(phase(svc), Some(Phase::Paused | Phase::RollbackPaused))
                && !self.rollouts.contains_key(&uid);
            if !rollback && !paused {
                actions.push(status_patch(
                    svc,
                    Phase::Updating,
                    "update in progress".into(),
                    true,
                ));
                actions.push(Event::about(
                    svc,
                    false,
                    "UpdateStarted",
                    format!(
                        "rolling update of {} slot(s) to spec version {version}",
                        dirty.len()
                    ),
                ));
            }
            self.rollouts.insert(
                uid.clone(),
                Rollout {
                    version,
                    rollback,
                    total: dirty.len(),
                    in_flight: BTreeMap::new(),
                    monitored: HashMap::new(),
                    failures: HashSet::new(),
                    stopped: paused,
                    rolled_back: false,
                    done: false,
                    last_progress: now,
                },
            );
        }
        let rollout = self.rollouts.get_mut(&uid).expect("inserted above");
        if rollout.stopped || rollout.done {
            if rollout.rolled_back {
                // Still the failed spec: the rollback's write failed (e.g. a conflict); again.
                actions.extend(rollback_spec(svc));
            }
            return actions;
        }
        let cfg = Config::of(if rollout.rollback {
            svc.spec.rollback_config.as_ref()
        } else {
            svc.spec.update_config.as_ref()
        });
        rollout.track(snap, &slots, &cfg, now, &mut actions);
        if let Some(failed) = rollout.failed(&cfg) {
            actions.extend(rollout.fail(svc, &cfg, &failed));
            return actions;
        }
        rollout.start_slots(svc, &slots, &dirty, &cfg, restarts, now, &mut actions);
        if rollout.in_flight.is_empty() && dirty.is_empty() && rollout.monitored.is_empty() {
            rollout.done = true;
            actions.extend(completed(svc, rollout.rollback));
        }
        actions
    }

    pub fn retain(&mut self, snap: &Snapshot) {
        let live: HashSet<String> = snap.services.iter().filter_map(|s| s.uid()).collect();
        self.rollouts.retain(|uid, _| live.contains(uid));
    }
}

impl Rollout {
    /// Follow in-flight slots: note when new tasks run, stop old ones (start-first), finish slots
    /// after `delay`, record failures within `monitor`.
    fn track(
        &mut self,
        snap: &Snapshot,
        slots: &Slots,
        cfg: &Config,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let find = |key: &str| {
            snap.tasks
                .iter()
                .find(|t| key_of(t.as_ref()) == key)
                .cloned()
        };
        let mut finished = Vec::new();
        for (slot, (key, running_since)) in self.in_flight.iter_mut() {
            let Some(task) = find(key) else {
                finished.push(slot.clone());
                continue;
            };
            let state = observed(&task);
            if state > TaskState::Running {
                self.failures.insert(task.name_any());
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
        let monitor = if cfg.delay >= cfg.monitor {
            cfg.delay + Duration::from_secs(1)
        } else {
            cfg.monitor
        };
        self.monitored.retain(|key, since| match find(key) {
            Some(t) if observed(&t) > TaskState::Running => {
                self.failures.insert(t.name_any());
                false
            }
            Some(_) => now < *since + monitor,
            None => false,
        });
    }

    /// The task that tipped the failure ratio over the limit, if it is.
    fn failed(&self, cfg: &Config) -> Option<String> {
        if self.failures.is_empty() || self.total == 0 {
            return None;
        }
        let ratio = self.failures.len() as f64 / self.total as f64;
        (ratio > cfg.ratio).then(|| self.failures.iter().min().cloned().unwrap_or_default())
    }

    fn fail(&mut self, svc: &SwarmService, cfg: &Config, task: &str) -> Vec<Action> {
        let why = format!("failure or early termination of task {task}");
        if self.rollback {
            self.stopped = true;
            return vec![
                status_patch(
                    svc,
                    Phase::RollbackPaused,
                    format!("rollback paused due to {why}"),
                    false,
                ),
                Event::about(
                    svc,
                    true,
                    "RollbackPaused",
                    format!("rollback paused due to {why}"),
                ),
            ];
        }
        match cfg.action {
            FailureAction::Continue => Vec::new(),
            FailureAction::Pause => {
                self.stopped = true;
                vec![
                    status_patch(
                        svc,
                        Phase::Paused,
                        format!("update paused due to {why}"),
                        false,
                    ),
                    Event::about(
                        svc,
                        true,
                        "UpdatePaused",
                        format!("update paused due to {why}"),
                    ),
                ]
            }
            FailureAction::Rollback => {
                self.stopped = true;
                let Some(write) = rollback_spec(svc) else {
                    return vec![status_patch(
                        svc,
                        Phase::Paused,
                        format!("update paused due to {why} (no previous spec to roll back to)"),
                        false,
                    )];
                };
                self.rolled_back = true;
                let msg = format!("update rolled back due to {why}");
                vec![
                    status_patch(svc, Phase::RollbackStarted, msg.clone(), true),
                    write,
                    Event::about(svc, true, "UpdateRolledBack", msg),
                ]
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start_slots(
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
        for slot in &waiting {
            let tasks = &slots[*slot];
            // A clean task already exists (start-first leftovers, restarts): keep it, stop the rest.
            if let Some(clean) = tasks
                .iter()
                .filter(|t| !is_dirty(svc, t))
                .max_by_key(|t| crate::snapshot::age_key(t))
            {
                if observed(clean) == TaskState::Running
                    || clean.spec.desired_state < TaskState::Running
                {
                    for t in tasks
                        .iter()
                        .filter(|t| t.metadata.name != clean.metadata.name)
                    {
                        actions.push(set_desired(t, TaskState::Shutdown));
                    }
                }
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
            self.in_flight
                .insert((*slot).clone(), (key_of(&task), None));
            actions.push(Action::CreateTask(Box::new(task)));
        }
    }
}

/// Replace the spec with `status.previousSpec`, if there is one.
fn rollback_spec(svc: &SwarmService) -> Option<Action> {
    let previous = svc.status.as_ref()?.previous_spec.clone()?;
    Some(Action::ServiceSpec {
        ns: ns_of(svc),
        name: svc.name_any(),
        spec: previous,
        annotations: json!({}),
    })
}

/// A user-requested rollback (`flotilla.dev/rollback` annotation): swap in `status.previousSpec`.
pub fn manual_rollback(svc: &SwarmService) -> Vec<Action> {
    if !svc.annotations().contains_key(ROLLBACK_ANNOTATION) {
        return Vec::new();
    }
    let clear = json!({ ROLLBACK_ANNOTATION: null });
    let Some(previous) = svc.status.as_ref().and_then(|s| s.previous_spec.clone()) else {
        return vec![
            Action::ServiceSpec {
                ns: ns_of(svc),
                name: svc.name_any(),
                spec: Box::new(svc.spec.clone()),
                annotations: clear,
            },
            Event::about(
                svc,
                true,
                "RollbackFailed",
                "rollback requested but the service has no previous spec",
            ),
        ];
    };
    vec![
        status_patch(
            svc,
            Phase::RollbackStarted,
            "manually requested rollback".into(),
            true,
        ),
        Action::ServiceSpec {
            ns: ns_of(svc),
            name: svc.name_any(),
            spec: previous,
            annotations: clear,
        },
        Event::about(
            svc,
            false,
            "RollbackStarted",
            format!(
                "manually requested rollback from spec version {}",
                spec_version(svc)
            ),
        ),
    ]
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
