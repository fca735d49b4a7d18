use std::collections::HashSet;
use std::time::Duration;

use super::container::validate_container;
use super::names::validate_object_reference;
use super::placement::validate_placement;
use super::{check_duration, check_non_negative, FieldError};
use crate::template::{Resources, RestartPolicy, TaskTemplate};

/// Smallest non-zero CPU amount: 0.001 CPU.
pub const MIN_NANO_CPUS: i64 = 1_000_000;
/// Smallest non-zero memory amount: 4 MiB.
pub const MIN_MEMORY_BYTES: i64 = 4 * 1024 * 1024;

/// The whole task template; `path` is its path (`spec.taskTemplate`).
pub fn validate_task_template(path: &str, template: &TaskTemplate) -> Vec<FieldError> {
    let mut errs = validate_container(&format!("{path}.containerSpec"), &template.container_spec);
    if let Some(resources) = &template.resources {
        let at = format!("{path}.resources");
        for (name, r) in [
            ("limits", &resources.limits),
            ("reservations", &resources.reservations),
        ] {
            if let Some(r) = r {
                validate_resources(&format!("{at}.{name}"), r, &mut errs);
            }
        }
    }
    if let Some(policy) = &template.restart_policy {
        validate_restart(&format!("{path}.restartPolicy"), policy, &mut errs);
    }
    if let Some(placement) = &template.placement {
        errs.extend(validate_placement(&format!("{path}.placement"), placement));
    }
    let mut networks = HashSet::new();
    for (i, net) in template.networks.iter().enumerate() {
        let at = format!("{path}.networks[{i}].target");
        if net.target.is_empty() {
            errs.push(FieldError::required(at, "network name is required"));
            continue;
        }
        errs.extend(validate_object_reference(&at, &net.target));
        if !networks.insert(net.target.as_str()) {
            errs.push(FieldError::duplicate(
                at,
                &net.target,
                "network is attached twice",
            ));
        }
    }
    check_non_negative(
        &format!("{path}.forceUpdate"),
        template.force_update,
        &mut errs,
    );
    errs
}

fn validate_resources(path: &str, r: &Resources, errs: &mut Vec<FieldError>) {
    if let Some(cpus) = r.nano_cpus {
        if cpus < 0 {
            errs.push(FieldError::invalid(
                format!("{path}.nanoCpus"),
                cpus,
                "must be greater than or equal to 0",
            ));
        } else if cpus != 0 && cpus < MIN_NANO_CPUS {
            errs.push(FieldError::invalid(
                format!("{path}.nanoCpus"),
                cpus,
                "must be 0 or at least 0.001 CPU (1000000 nanoCPUs)",
            ));
        }
    }
    if let Some(memory) = r.memory_bytes {
        if memory < 0 {
            errs.push(FieldError::invalid(
                format!("{path}.memoryBytes"),
                memory,
                "must be greater than or equal to 0",
            ));
        } else if memory != 0 && memory < MIN_MEMORY_BYTES {
            errs.push(FieldError::invalid(
                format!("{path}.memoryBytes"),
                memory,
                "must be 0 or at least 4MiB (4194304 bytes)",
            ));
        }
    }
    for (i, g) in r.generic.iter().enumerate() {
        let at = format!("{path}.generic[{i}]");
        if g.kind.is_empty() {
            errs.push(FieldError::required(
                format!("{at}.kind"),
                "resource kind is required",
            ));
        }
        if g.named_value.is_some() == g.discrete_value.is_some() {
            errs.push(FieldError::invalid(
                at.clone(),
                &g.kind,
                "exactly one of namedValue or discreteValue must be set",
            ));
        }
        check_non_negative(&format!("{at}.discreteValue"), g.discrete_value, errs);
    }
}

fn validate_restart(path: &str, policy: &RestartPolicy, errs: &mut Vec<FieldError>) {
    check_duration(&format!("{path}.delay"), policy.delay.as_ref(), errs);
    check_duration(&format!("{path}.window"), policy.window.as_ref(), errs);
    check_non_negative(&format!("{path}.maxAttempts"), policy.max_attempts, errs);
}

/// A healthcheck duration: parses, ≥ 0, and 0 or ≥ 1ms.
pub(crate) fn check_health_duration(
    path: &str,
    value: Option<&String>,
    errs: &mut Vec<FieldError>,
) {
    if let Some(d) = check_duration(path, value, errs) {
        if d != Duration::ZERO && d < Duration::from_millis(1) {
            let value = value.map(String::as_str).unwrap_or_default();
            errs.push(FieldError::invalid(
                path,
                value,
                "must be 0 or at least 1ms",
            ));
        }
    }
}
