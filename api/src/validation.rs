//! Validation as plain functions returning every problem found, each naming its field
//! (`spec.endpoint.ports[0].publishedPort`), shaped like Kubernetes' `field.Error`.

mod container;
mod data;
mod endpoint;
mod field_error;
mod metadata;
mod names;
mod network;
mod placement;
mod service;
mod task;
mod template;

pub use data::{validate_config, validate_config_update, validate_secret, validate_secret_update};
pub use endpoint::validate_endpoint;
pub use field_error::{FieldError, FieldErrorKind};
pub use metadata::{
    validate_namespace_name, validate_object_meta, MAX_ANNOTATIONS_SIZE, MAX_LABEL_VALUE,
};
pub use names::{validate_object_reference, validate_service_name};
pub use network::{validate_network, validate_network_update};
pub use placement::validate_placement;
pub use service::{validate_service, validate_service_update, validate_update_config};
pub use task::{validate_task, validate_task_update};
pub use template::validate_task_template;

use crate::duration::{parse_duration, DurationError};
use std::time::Duration;

/// Checks a Go duration string; returns it parsed when valid.
pub(crate) fn check_duration(
    path: &str,
    value: Option<&String>,
    errs: &mut Vec<FieldError>,
) -> Option<Duration> {
    let value = value?;
    match parse_duration(value) {
        Ok(d) => Some(d),
        Err(DurationError::Negative(_)) => {
            errs.push(FieldError::invalid(
                path,
                value,
                "must be greater than or equal to 0",
            ));
            None
        }
        Err(e) => {
            errs.push(FieldError::invalid(path, value, e.to_string()));
            None
        }
    }
}

/// Checks an integer is ≥ 0.
pub(crate) fn check_non_negative(path: &str, value: Option<i64>, errs: &mut Vec<FieldError>) {
    if let Some(v) = value.filter(|v| *v < 0) {
        errs.push(FieldError::invalid(
            path,
            v,
            "must be greater than or equal to 0",
        ));
    }
}
