use super::{
    check_duration, check_non_negative, validate_endpoint, validate_task_template, FieldError,
};
use crate::service::{ModeKind, ServiceMode, SwarmServiceSpec};
use crate::update::{FailureAction, UpdateConfig};

const MODES: &str = "replicated, global, replicatedJob or globalJob";

/// Everything checkable on one spec, with paths under `spec.`.
pub fn validate_service(spec: &SwarmServiceSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(mode) = &spec.mode {
        validate_mode(mode, &mut errs);
    }
    errs.extend(validate_task_template(
        "spec.taskTemplate",
        &spec.task_template,
    ));
    if let Some(endpoint) = &spec.endpoint {
        errs.extend(validate_endpoint("spec.endpoint", endpoint));
    }
    let is_job = spec.mode_kind().is_some_and(ModeKind::is_job);
    if let Some(update) = &spec.update_config {
        if is_job {
            errs.push(FieldError::forbidden(
                "spec.updateConfig",
                "Jobs may not have an update config",
            ));
        }
        errs.extend(validate_update_config("spec.updateConfig", update, false));
    }
    if let Some(rollback) = &spec.rollback_config {
        errs.extend(validate_update_config(
            "spec.rollbackConfig",
            rollback,
            true,
        ));
    }
    errs
}

fn validate_mode(mode: &ServiceMode, errs: &mut Vec<FieldError>) {
    let kinds = mode.kinds();
    match kinds.len() {
        0 => errs.push(FieldError::required(
            "spec.mode",
            format!("exactly one of {MODES} must be set"),
        )),
        1 => {}
        _ => {
            let set: Vec<&str> = kinds.iter().map(|k| k.field()).collect();
            errs.push(FieldError::invalid(
                "spec.mode",
                set.join(", "),
                format!("exactly one of {MODES} may be set"),
            ));
        }
    }
    if let Some(replicated) = &mode.replicated {
        check_non_negative("spec.mode.replicated.replicas", replicated.replicas, errs);
    }
    if let Some(job) = &mode.replicated_job {
        check_non_negative(
            "spec.mode.replicatedJob.maxConcurrent",
            job.max_concurrent,
            errs,
        );
        check_non_negative(
            "spec.mode.replicatedJob.totalCompletions",
            job.total_completions,
            errs,
        );
    }
}

/// Durations ≥ 0, parallelism ≥ 0, maxFailureRatio in [0, 1]; a rollback's failureAction may
/// not be `rollback` (a rollback is never rolled back).
pub fn validate_update_config(path: &str, c: &UpdateConfig, rollback: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    check_non_negative(&format!("{path}.parallelism"), c.parallelism, &mut errs);
    check_duration(&format!("{path}.delay"), c.delay.as_ref(), &mut errs);
    check_duration(&format!("{path}.monitor"), c.monitor.as_ref(), &mut errs);
    if let Some(ratio) = c.max_failure_ratio.filter(|r| !(0.0..=1.0).contains(r)) {
        errs.push(FieldError::invalid(
            format!("{path}.maxFailureRatio"),
            ratio,
            "must be between 0 and 1, inclusive",
        ));
    }
    if rollback && c.failure_action == Some(FailureAction::Rollback) {
        errs.push(FieldError::not_supported(
            format!("{path}.failureAction"),
            "rollback",
            &["pause", "continue"],
        ));
    }
    errs
}

/// Update-only rules: the mode type can never change (delete and recreate instead).
pub fn validate_service_update(new: &SwarmServiceSpec, old: &SwarmServiceSpec) -> Vec<FieldError> {
    let mut errs = validate_service(new);
    if let (Some(new_kind), Some(old_kind)) = (new.mode_kind(), old.mode_kind()) {
        if new_kind != old_kind {
            errs.push(FieldError::forbidden(
                "spec.mode",
                format!(
                    "service mode change is not allowed ({} -> {})",
                    old_kind.field(),
                    new_kind.field()
                ),
            ));
        }
    }
    errs
}
