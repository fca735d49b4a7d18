use super::{check_non_negative, validate_endpoint, validate_task_template, FieldError};
use crate::task::{Task, TaskState};

/// States a manager may ask for.
const DESIRED: [TaskState; 5] = [
    TaskState::Ready,
    TaskState::Running,
    TaskState::Complete,
    TaskState::Shutdown,
    TaskState::Remove,
];

pub fn validate_task(task: &Task) -> Vec<FieldError> {
    let spec = &task.spec;
    let mut errs = Vec::new();
    if spec.service_name.is_empty() {
        errs.push(FieldError::required(
            "spec.serviceName",
            "the owning service is required",
        ));
    }
    check_non_negative("spec.slot", spec.slot, &mut errs);
    check_non_negative("spec.jobIteration", spec.job_iteration, &mut errs);
    if !DESIRED.contains(&spec.desired_state) {
        let names: Vec<&str> = DESIRED.iter().map(|s| s.as_str()).collect();
        errs.push(FieldError::not_supported(
            "spec.desiredState",
            spec.desired_state,
            &names,
        ));
    }
    if spec.node_name.as_deref() == Some("") {
        errs.push(FieldError::invalid(
            "spec.nodeName",
            "",
            "must be a node name or unset",
        ));
    }
    errs.extend(validate_task_template("spec.template", &spec.template));
    if let Some(endpoint) = &spec.endpoint {
        errs.extend(validate_endpoint("spec.endpoint", endpoint));
    }
    errs
}

/// A task is immutable except for its desired state (which only increases) and its node,
/// which may be set once (binding). Its observed state only ever increases.
pub fn validate_task_update(new: &Task, old: &Task) -> Vec<FieldError> {
    let mut errs = validate_task(new);
    let (n, o) = (&new.spec, &old.spec);
    let immutable = [
        ("serviceName", n.service_name != o.service_name),
        ("serviceUid", n.service_uid != o.service_uid),
        ("slot", n.slot != o.slot),
        ("specVersion", n.spec_version != o.spec_version),
        ("template", n.template != o.template),
        ("jobIteration", n.job_iteration != o.job_iteration),
    ];
    for (field, changed) in immutable {
        if changed {
            errs.push(FieldError::forbidden(
                format!("spec.{field}"),
                "field is immutable",
            ));
        }
    }
    if o.node_name.is_some() && n.node_name != o.node_name {
        errs.push(FieldError::forbidden(
            "spec.nodeName",
            format!(
                "may not be changed once set (task is bound to {})",
                o.node_name.as_deref().unwrap_or("")
            ),
        ));
    }
    if n.desired_state < o.desired_state {
        errs.push(FieldError::invalid(
            "spec.desiredState",
            n.desired_state,
            format!("may not go backwards from {}", o.desired_state),
        ));
    }
    let state = |t: &Task| t.status.as_ref().and_then(|s| s.state);
    if let (Some(new_state), Some(old_state)) = (state(new), state(old)) {
        if new_state < old_state {
            errs.push(FieldError::invalid(
                "status.state",
                new_state,
                format!("task state may only increase (currently {old_state})"),
            ));
        }
    }
    errs
}
