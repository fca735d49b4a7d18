//! Update supervisor (docs/swarm-model.md#update-supervisor, #rolling-updates): rolling update of dirty slots, failure monitoring,
//! pause / continue / rollback, and `status.updateStatus`.
//!
//! A user requests a rollback by annotating the service: `kubectl annotate ssvc/web
//! flotilla.dev/rollback=true` (like `docker service rollback web`). The controller swaps
//! `spec` with `status.previousSpec` and removes the annotation.
//!
//! This file decides which rollout a service is in; [`rollout`] moves its slots along,
//! [`failure`] judges failures (pause, rollback) and [`messages`] words the status and events.

mod failure;
mod messages;
mod rollout;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use flotilla_api::duration::parse_duration;
use flotilla_api::update::{FailureAction, UpdateConfig, UpdateOrder, UpdateState as Phase};
use flotilla_api::{SwarmService, Task};
use kube::ResourceExt;
use tokio::time::Instant;

use crate::action::Action;
use crate::restart::RestartState;
use crate::snapshot::Snapshot;
use crate::taskgen::{is_dirty, spec_version, Placement};

use failure::rollback_spec;
pub use failure::{manual_rollback, ROLLBACK_ANNOTATION};
use messages::{completed, phase, started};
use rollout::Rollout;

#[derive(Debug, Default)]
pub struct UpdateState {
    rollouts: HashMap<String, Rollout>,
}

/// `updateConfig` (or `rollbackConfig`) with Swarm's defaults filled in.
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
        if self.rollouts.get(&uid).is_none_or(|r| r.version != version) {
            if dirty.is_empty() {
                // Swarm: a new spec with nothing to redeploy completes an update (or rollback)
                // in progress, e.g. the rollback of a replicas-only change.
                return match phase(svc) {
                    Some(Phase::Updating) => completed(svc, false),
                    Some(Phase::RollbackStarted) => completed(svc, true),
                    _ => actions,
                };
            }
            let rollout = begin(snap, svc, dirty.len(), now, &mut actions);
            self.rollouts.insert(uid.clone(), rollout);
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

/// A rollout of the current spec over `dirty` slots: a rollback when one was started, held
/// when the status shows this spec's update paused, else a new update (UPDATING and its event).
fn begin(
    snap: &Snapshot,
    svc: &SwarmService,
    dirty: usize,
    now: Instant,
    actions: &mut Vec<Action>,
) -> Rollout {
    let rollback = phase(svc) == Some(Phase::RollbackStarted);
    let paused = paused_in_status(snap, svc);
    if !rollback && !paused {
        actions.extend(started(svc, dirty));
    }
    Rollout::new(spec_version(svc), rollback, dirty, paused, now)
}

/// Whether `status.updateStatus` holds the current spec's rollout paused. The status is the
/// record a new leader has (Swarm keeps the pause in UpdateStatus too), so this reads nothing
/// from memory. A pause is the failure of an updated task, so a paused rollout of this spec
/// version has tasks of it; without any, the pause was of an older spec and the user's new
/// spec starts a new update (Swarm clears UpdateStatus on a service update).
fn paused_in_status(snap: &Snapshot, svc: &SwarmService) -> bool {
    let version = spec_version(svc);
    matches!(phase(svc), Some(Phase::Paused | Phase::RollbackPaused))
        && (snap
            .tasks_of(svc)
            .iter()
            .any(|t| t.spec.spec_version == Some(version))
            || snap
                .past_of(svc)
                .iter()
                .any(|p| p.spec_version == Some(version)))
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
