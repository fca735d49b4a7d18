//! Restart supervisor (docs/swarm-model.md#restart-supervisor, #restart-policy): replace a stopped task in the same slot (or node), with
//! desired READY, promoted to RUNNING after the restart delay once the old task has stopped.
//!
//! History lives in memory, as in Swarm: it is lost on leader change and reset when the service's
//! spec version changes.

use std::collections::HashMap;
use std::time::Duration;

use flotilla_api::duration::parse_duration;
use flotilla_api::template::{RestartCondition, RestartPolicy};
use flotilla_api::{SwarmService, Task, TaskState};
use kube::ResourceExt;
use tokio::time::Instant;

use crate::action::{set_desired, Action, Event};
use crate::snapshot::{key_of, observed, NodeLoss, Snapshot};
use crate::taskgen::{new_task, spec_version, Placement};

/// How long a promotion waits for the old task to stop (Swarm: one minute).
pub const OLD_TASK_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_DELAY: Duration = Duration::from_secs(5);

/// A READY task waiting to be promoted to RUNNING.
#[derive(Clone, Debug)]
struct Promotion {
    not_before: Instant,
    /// `ns/name` of tasks that must stop first.
    wait_for: Vec<String>,
}

/// Restart attempts per slot and the tasks waiting out their delay.
#[derive(Debug, Default)]
pub struct RestartState {
    /// (service uid, slot or node) → (spec version, restart instants).
    history: HashMap<(String, String), (i64, Vec<Instant>)>,
    pending: HashMap<String, Promotion>,
    /// (service uid, slot or node) → spec version whose restart the policy refused.
    refused: HashMap<(String, String), i64>,
}

/// The policy with Swarm's defaults for anything unset or invalid.
pub struct Policy {
    pub condition: RestartCondition,
    pub delay: Duration,
    pub max_attempts: u64,
    pub window: Duration,
}

impl Policy {
    pub fn of(svc: &SwarmService) -> Policy {
        let p = svc
            .spec
            .task_template
            .restart_policy
            .clone()
            .unwrap_or_default();
        Policy::from_spec(&p)
    }

    pub fn from_spec(p: &RestartPolicy) -> Policy {
        let dur = |s: &Option<String>, d| {
            s.as_deref()
                .and_then(|s| parse_duration(s).ok())
                .unwrap_or(d)
        };
        Policy {
            condition: p.condition.unwrap_or(RestartCondition::Any),
            delay: dur(&p.delay, DEFAULT_DELAY),
            max_attempts: p.max_attempts.unwrap_or(0).max(0) as u64,
            window: dur(&p.window, Duration::ZERO),
        }
    }
}

/// Why a runnable task must be replaced, if it must.
pub fn needs_restart(snap: &Snapshot, task: &Task) -> Option<String> {
    let state = observed(task);
    if state > TaskState::Running {
        let err = task.status.as_ref().and_then(|s| s.err.clone());
        return Some(match err {
            Some(err) => format!("task {} {}: {err}", task.name_any(), state),
            None => format!("task {} {}", task.name_any(), state),
        });
    }
    let node = task.spec.node_name.as_deref()?;
    snap.node_lost(node)
        .map(|loss| format!("task {}: {}", task.name_any(), loss.describe()))
}

impl RestartState {
    /// Shut `old` down and, if the policy allows, create its replacement at `placement`.
    pub fn restart(
        &mut self,
        snap: &Snapshot,
        svc: &SwarmService,
        old: &Task,
        placement: Placement,
        why: &str,
        now: Instant,
    ) -> Vec<Action> {
        let mut actions = vec![set_desired(old, TaskState::Shutdown)];
        let policy = Policy::of(svc);
        let slot_key = (svc.uid().unwrap_or_default(), placement_key(&placement));
        let version = spec_version(svc);
        let entry = self
            .history
            .entry(slot_key.clone())
            .or_insert((version, Vec::new()));
        if entry.0 != version {
            *entry = (version, Vec::new());
        }
        if let Some(reason) = refuse(&policy, observed(old), &entry.1, now) {
            self.refused.insert(slot_key, version);
            actions.push(Event::about(
                svc,
                true,
                "RestartRefused",
                format!("{why}; not restarted: {reason}"),
            ));
            return actions;
        }
        entry.1.push(now);
        let replacement = new_task(svc, &placement, TaskState::Ready);
        let drained = old
            .spec
            .node_name
            .as_deref()
            .and_then(|n| snap.node_lost(n))
            == Some(NodeLoss::Drained);
        // Swarm skips the delay for tasks moved off drained nodes.
        let delay = if drained {
            Duration::ZERO
        } else {
            policy.delay
        };
        self.pending.insert(
            key_of(&replacement),
            Promotion {
                not_before: now + delay,
                wait_for: vec![key_of(old)],
            },
        );
        actions.push(Event::about(
            svc,
            false,
            "TaskRestarted",
            format!(
                "{why}; replaced by {} (starts after {delay:?})",
                replacement.name_any()
            ),
        ));
        actions.push(Action::CreateTask(Box::new(replacement)));
        actions
    }

    /// Whether the policy refused to restart this slot (or node) of the service's current spec
    /// version: it stays empty until the next update, as in Swarm.
    pub fn gave_up(&self, svc: &SwarmService, placement: &Placement) -> bool {
        let key = (svc.uid().unwrap_or_default(), placement_key(placement));
        self.refused.get(&key) == Some(&spec_version(svc))
    }

    /// Register a READY task to be promoted once `not_before` has passed and `wait_for` stopped.
    pub fn expect_promotion(
        &mut self,
        task_key: String,
        not_before: Instant,
        wait_for: Vec<String>,
    ) {
        self.pending.insert(
            task_key,
            Promotion {
                not_before,
                wait_for,
            },
        );
    }

    /// Promote READY tasks (to RUNNING, or COMPLETE for job tasks) whose delay elapsed and whose predecessors stopped (or the wait timed out).
    /// A READY task unknown here (e.g. after a leader change) is promoted at once, like Swarm's
    /// `CheckTasks`.
    pub fn promotions(&mut self, snap: &Snapshot, tasks: &[&Task], now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for task in tasks
            .iter()
            .filter(|t| t.spec.desired_state == TaskState::Ready)
        {
            let key = key_of(*task);
            // Job tasks run to completion.
            let target = match task.spec.job_iteration {
                Some(_) => TaskState::Complete,
                None => TaskState::Running,
            };
            let Some(p) = self.pending.get(&key) else {
                actions.push(set_desired(task, target));
                continue;
            };
            if now < p.not_before {
                continue;
            }
            tracing::debug!(task = %key, wait_for = ?p.wait_for, "restart delay over");
            let stopped = p.wait_for.iter().all(|k| predecessor_gone(snap, k));
            if stopped || now >= p.not_before + OLD_TASK_WAIT {
                actions.push(set_desired(task, target));
                self.pending.remove(&key);
            }
        }
        actions
    }

    /// Forget promotions of tasks that no longer exist, and refusals of services that do not.
    pub fn retain(&mut self, snap: &Snapshot) {
        self.pending.retain(|k, _| snap.has_task(k));
        let services: std::collections::HashSet<String> =
            snap.services.iter().filter_map(|s| s.uid()).collect();
        self.refused.retain(|(uid, _), _| services.contains(uid));
    }
}

/// The old task stopped, vanished, or sits on a node that will never report it stopped.
fn predecessor_gone(snap: &Snapshot, key: &str) -> bool {
    let Some(old) = snap.task(key) else {
        return true;
    };
    let node_lost = old
        .spec
        .node_name
        .as_deref()
        .and_then(|n| snap.node_lost(n));
    observed(old) > TaskState::Running
        || observed(old) < TaskState::Assigned
        || matches!(node_lost, Some(NodeLoss::Down | NodeLoss::Deleted))
}

fn placement_key(p: &Placement) -> String {
    match p {
        Placement::Slot(s) => format!("slot/{s}"),
        Placement::Node(n) => format!("node/{n}"),
    }
}

/// Why the policy forbids another restart, if it does.
fn refuse(policy: &Policy, state: TaskState, history: &[Instant], now: Instant) -> Option<String> {
    match policy.condition {
        RestartCondition::None => return Some("restart condition is none".into()),
        RestartCondition::OnFailure if state == TaskState::Complete => {
            return Some("task completed and restart condition is on-failure".into())
        }
        _ => {}
    }
    if policy.max_attempts == 0 {
        return None;
    }
    let counted = if policy.window.is_zero() {
        history.len()
    } else {
        history
            .iter()
            .filter(|t| now.duration_since(**t) < policy.window)
            .count()
    };
    (counted as u64 >= policy.max_attempts)
        .then(|| format!("maxAttempts {} reached", policy.max_attempts))
}

#[cfg(test)]
#[path = "restart_tests.rs"]
mod tests;
