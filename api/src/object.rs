//! Generic JSON entry points for the api-server, which handles objects as `serde_json::Value`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::config::{SwarmConfig, SwarmConfigSpec};
use crate::network::SwarmNetworkSpec;
use crate::node::SwarmNodeSpec;
use crate::secret::{SwarmSecret, SwarmSecretSpec};
use crate::service::SwarmServiceSpec;
use crate::task::{Task, TaskSpec};
use crate::validation::{self as v, FieldError, FieldErrorKind};

/// Applies Swarm's defaults to `obj.spec` in place (metadata and status are left untouched).
///
/// The spec is decoded into its typed struct, so unknown fields are dropped (like Kubernetes'
/// pruning of CRD objects) and a malformed field becomes a [`FieldError`] at its path. Kinds
/// other than Flotilla's (e.g. `Lease`, `Event`) are left alone.
pub fn default_object(kind: &str, obj: &mut Value) -> Result<(), Vec<FieldError>> {
    match kind {
        "SwarmService" => default_spec::<SwarmServiceSpec>(obj, SwarmServiceSpec::apply_defaults),
        "Task" => default_spec::<TaskSpec>(obj, TaskSpec::apply_defaults),
        "SwarmNode" => default_spec::<SwarmNodeSpec>(obj, SwarmNodeSpec::apply_defaults),
        "SwarmNetwork" => default_spec::<SwarmNetworkSpec>(obj, SwarmNetworkSpec::apply_defaults),
        "SwarmSecret" => default_spec::<SwarmSecretSpec>(obj, |_| {}),
        "SwarmConfig" => default_spec::<SwarmConfigSpec>(obj, |_| {}),
        _ => Ok(()),
    }
}

/// Validates an object; `old` is `Some` on update (for immutability rules). Decode errors are
/// reported as field errors too. Unknown kinds have no rules.
pub fn validate_object(kind: &str, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let result = match kind {
        "SwarmService" => check_spec(new, old, service_rules),
        "Task" => check_whole(new, old, task_rules),
        "SwarmNode" => check_spec(new, old, |_: &SwarmNodeSpec, _| Vec::new()),
        "SwarmNetwork" => check_spec(new, old, network_rules),
        "SwarmSecret" => check_whole(new, old, |n: &SwarmSecret, o| match o {
            Some(o) => v::validate_secret_update(&n.spec, &o.spec),
            None => v::validate_secret(&n.spec),
        }),
        "SwarmConfig" => check_whole(new, old, |n: &SwarmConfig, o| match o {
            Some(o) => v::validate_config_update(&n.spec, &o.spec),
            None => v::validate_config(&n.spec),
        }),
        _ => Ok(Vec::new()),
    };
    let mut errs = result.unwrap_or_else(|errs| errs);
    if kind == "SwarmService" {
        errs.splice(0..0, service_name_errors(new));
    }
    errs
}

/// The rules of a new SwarmService spec, or of an update from `old`.
pub(crate) fn service_rules(
    new: &SwarmServiceSpec,
    old: Option<&SwarmServiceSpec>,
) -> Vec<FieldError> {
    match old {
        Some(old) => v::validate_service_update(new, old),
        None => v::validate_service(new),
    }
}

pub(crate) fn network_rules(
    new: &SwarmNetworkSpec,
    old: Option<&SwarmNetworkSpec>,
) -> Vec<FieldError> {
    match old {
        Some(old) => v::validate_network_update(new, old),
        None => v::validate_network(new),
    }
}

pub(crate) fn task_rules(new: &Task, old: Option<&Task>) -> Vec<FieldError> {
    match old {
        Some(old) => v::validate_task_update(new, old),
        None => v::validate_task(new),
    }
}

/// A SwarmService's name becomes its DNS name; a missing name is the api-server's to report.
pub(crate) fn service_name_errors(obj: &Value) -> Vec<FieldError> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str);
    match name.filter(|n| !n.is_empty()) {
        Some(name) => v::validate_service_name("metadata.name", name),
        None => Vec::new(),
    }
}

fn default_spec<T: DeserializeOwned + Serialize>(
    obj: &mut Value,
    apply: impl FnOnce(&mut T),
) -> Result<(), Vec<FieldError>> {
    let Some(map) = obj.as_object_mut() else {
        return Err(vec![FieldError::invalid(
            "",
            "<not an object>",
            "object must be a JSON object",
        )]);
    };
    let raw = spec_or_empty(map.remove("spec"));
    let decoded = decode::<T>(&raw, "spec");
    let mut spec = match decoded {
        Ok(spec) => spec,
        Err(e) => {
            map.insert("spec".to_string(), raw);
            return Err(vec![e]);
        }
    };
    apply(&mut spec);
    let value = serde_json::to_value(&spec).expect("API types always serialize");
    map.insert("spec".to_string(), value);
    Ok(())
}

/// A missing or null spec reads as `{}`, so its required fields are reported by name.
fn spec_or_empty(spec: Option<Value>) -> Value {
    match spec {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(spec) => spec,
    }
}

fn check_spec<T: DeserializeOwned>(
    new: &Value,
    old: Option<&Value>,
    check: impl FnOnce(&T, Option<&T>) -> Vec<FieldError>,
) -> Result<Vec<FieldError>, Vec<FieldError>> {
    let spec_of = |obj: &Value| -> Result<T, Vec<FieldError>> {
        let empty = spec_or_empty(None);
        let spec = match obj.get("spec") {
            None | Some(Value::Null) => &empty,
            Some(spec) => spec,
        };
        decode(spec, "spec").map_err(|e| vec![e])
    };
    let new = spec_of(new)?;
    // An old object that no longer decodes (older schema) has nothing to compare against.
    let old = old.and_then(|o| spec_of(o).ok());
    Ok(check(&new, old.as_ref()))
}

fn check_whole<T: DeserializeOwned>(
    new: &Value,
    old: Option<&Value>,
    check: impl FnOnce(&T, Option<&T>) -> Vec<FieldError>,
) -> Result<Vec<FieldError>, Vec<FieldError>> {
    let mut errs = Vec::new();
    if new.get("spec").is_none() {
        errs.push(FieldError::required("spec", "spec is required"));
        return Err(errs);
    }
    let new: T = decode(new, "").map_err(|e| vec![e])?;
    let old = old.and_then(|o| decode::<T>(o, "").ok());
    Ok(check(&new, old.as_ref()))
}

/// Decodes `value`, turning serde's error into a [`FieldError`] whose path starts at `prefix`.
/// Borrowed: no copy of the whole object before decoding it (every write validates the new
/// object and, on update, the old one).
pub(crate) fn decode<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, FieldError> {
    // serde_path_to_error wraps every visitor to track the path; only a failure needs the path,
    // so valid input (nearly every request) decodes plainly and only a failure decodes again.
    if let Ok(decoded) = T::deserialize(value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = err.path().to_string();
        let path = join(prefix, if inner == "." { "" } else { &inner });
        decode_error(path, &err.inner().to_string())
    })
}

/// Maps serde's messages onto Kubernetes' error kinds.
fn decode_error(path: String, message: &str) -> FieldError {
    // "missing field `image`" names the child, not the object it is missing from.
    if let Some(field) = between(message, "missing field `", "`") {
        return FieldError::required(join(&path, field), "");
    }
    // "unknown variant `tcpp`, expected one of `tcp`, `udp`, `sctp`" (or "expected `tcp`").
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if let Some((value, expected)) = rest.split_once("`, expected ") {
            let supported: Vec<&str> = expected
                .trim_start_matches("one of ")
                .split(", ")
                .map(|s| s.trim_matches('`'))
                .collect();
            return FieldError::not_supported(path, value, &supported);
        }
    }
    // k8s ByteString reports base64 errors as e.g. "Invalid symbol 33, offset 0."
    if message.starts_with("Invalid symbol")
        || message.starts_with("Invalid last symbol")
        || message.starts_with("Invalid input length")
        || message.starts_with("Invalid padding")
    {
        let detail = message.trim_end_matches('.');
        return FieldError::new(
            path,
            FieldErrorKind::Invalid,
            None,
            format!("must be base64-encoded ({detail})"),
        );
    }
    FieldError::new(path, FieldErrorKind::Invalid, None, message)
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    s.strip_prefix(start)?.strip_suffix(end)
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    }
}
