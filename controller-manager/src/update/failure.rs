//! Failures of a rollout (the failure ratio, then pause / continue / rollback) and rollbacks,
//! automatic or requested by the user.

use flotilla_api::update::{FailureAction, UpdateState as Phase};
use flotilla_api::SwarmService;
use kube::ResourceExt;
use serde_json::json;

use super::messages::{paused, status_patch};
use super::rollout::Rollout;
use super::Config;
use crate::action::{Action, Event};
use crate::snapshot::ns_of;
use crate::taskgen::spec_version;

/// Annotation requesting a rollback to `status.previousSpec`.
pub const ROLLBACK_ANNOTATION: &str = "flotilla.dev/rollback";

impl Rollout {
    /// The task that tipped the failure ratio over the limit, if it is.
    pub(super) fn failed(&self, cfg: &Config) -> Option<String> {
        if self.failures.is_empty() || self.total == 0 {
            return None;
        }
        let ratio = self.failures.len() as f64 / self.total as f64;
        (ratio > cfg.ratio).then(|| self.failures.iter().min().cloned().unwrap_or_default())
    }

    /// Apply the failure action for the failure of `task`: a rollback always pauses.
    pub(super) fn fail(&mut self, svc: &SwarmService, cfg: &Config, task: &str) -> Vec<Action> {
        let why = format!("failure or early termination of task {task}");
        if self.rollback {
            self.stopped = true;
            return paused(svc, true, &why);
        }
        match cfg.action {
            FailureAction::Continue => Vec::new(),
            FailureAction::Pause => {
                self.stopped = true;
                paused(svc, false, &why)
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
}

/// Replace the spec with `status.previousSpec`, if there is one.
pub(super) fn rollback_spec(svc: &SwarmService) -> Option<Action> {
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
