//! `status.updateStatus` patches and the events that go with them, in Swarm's words.

use flotilla_api::update::UpdateState as Phase;
use flotilla_api::SwarmService;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::json;

use crate::action::{Action, Event};
use crate::snapshot::ns_of;
use crate::taskgen::spec_version;

pub(super) fn phase(svc: &SwarmService) -> Option<Phase> {
    svc.status.as_ref()?.update_status.as_ref()?.state
}

/// Sets `updateStatus`; `started` stamps a new `startedAt`, completion stamps `completedAt`.
pub(super) fn status_patch(
    svc: &SwarmService,
    state: Phase,
    message: String,
    started: bool,
) -> Action {
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

/// UPDATING, and an event counting the slots to redeploy.
pub(super) fn started(svc: &SwarmService, slots: usize) -> Vec<Action> {
    let version = spec_version(svc);
    vec![
        status_patch(svc, Phase::Updating, "update in progress".into(), true),
        Event::about(
            svc,
            false,
            "UpdateStarted",
            format!("rolling update of {slots} slot(s) to spec version {version}"),
        ),
    ]
}

/// PAUSED (ROLLBACK_PAUSED for a rollback) because of `why`, with a warning event.
pub(super) fn paused(svc: &SwarmService, rollback: bool, why: &str) -> Vec<Action> {
    let (state, what, reason) = if rollback {
        (Phase::RollbackPaused, "rollback", "RollbackPaused")
    } else {
        (Phase::Paused, "update", "UpdatePaused")
    };
    let msg = format!("{what} paused due to {why}");
    vec![
        status_patch(svc, state, msg.clone(), false),
        Event::about(svc, true, reason, msg),
    ]
}

/// COMPLETED / ROLLBACK_COMPLETED with Swarm's message, and an event naming the spec version
/// (the same words for every update would be folded into one event by the applier's dedupe).
pub(super) fn completed(svc: &SwarmService, rollback: bool) -> Vec<Action> {
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
