use super::FieldError;
use crate::config::SwarmConfigSpec;
use crate::mounts::Driver;
use crate::secret::SwarmSecretSpec;

/// Secret and config payloads must be 1 byte to less than 500 KiB (swarmkit `MaxSecretSize`).
pub const MAX_DATA_SIZE: usize = 500 * 1024;

pub fn validate_secret(spec: &SwarmSecretSpec) -> Vec<FieldError> {
    validate_data("secret", &spec.data.0, spec.templating.as_ref())
}

pub fn validate_config(spec: &SwarmConfigSpec) -> Vec<FieldError> {
    validate_data("config", &spec.data.0, spec.templating.as_ref())
}

/// Swarm: "only updates to Labels are allowed" — data and templating are immutable.
pub fn validate_secret_update(new: &SwarmSecretSpec, old: &SwarmSecretSpec) -> Vec<FieldError> {
    let mut errs = validate_secret(new);
    immutable(
        new.data != old.data,
        new.templating != old.templating,
        &mut errs,
    );
    errs
}

pub fn validate_config_update(new: &SwarmConfigSpec, old: &SwarmConfigSpec) -> Vec<FieldError> {
    let mut errs = validate_config(new);
    immutable(
        new.data != old.data,
        new.templating != old.templating,
        &mut errs,
    );
    errs
}

fn immutable(data_changed: bool, templating_changed: bool, errs: &mut Vec<FieldError>) {
    let hint = "field is immutable: create a new object and point the service at it";
    if data_changed {
        errs.push(FieldError::forbidden("spec.data", hint));
    }
    if templating_changed {
        errs.push(FieldError::forbidden("spec.templating", hint));
    }
}

fn validate_data(what: &str, data: &[u8], templating: Option<&Driver>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if data.is_empty() {
        errs.push(FieldError::required(
            "spec.data",
            format!("{what} data must not be empty"),
        ));
    } else if data.len() >= MAX_DATA_SIZE {
        errs.push(FieldError::too_long(
            "spec.data",
            format!(
                "{what} data must be less than 500 KiB ({MAX_DATA_SIZE} bytes), got {} bytes",
                data.len()
            ),
        ));
    }
    if let Some(name) = templating.and_then(|t| t.name.as_deref()) {
        if name != "golang" {
            errs.push(FieldError::not_supported(
                "spec.templating.name",
                name,
                &["golang"],
            ));
        }
    }
    errs
}
