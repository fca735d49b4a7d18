//! What every write goes through before it is stored: unknown-field handling (`fieldValidation`),
//! Swarm defaults and validation from the `api` crate, and managedFields bookkeeping.

pub mod duplicate_keys;
pub(crate) mod network_in_use;
pub(crate) mod schema_check;

use serde_json::Value;

use crate::registry::ResourceInfo;
use crate::security::authn::Identity;
use crate::wire::errors::{ApiError, Cause, Result};
use crate::wire::request::Query;

/// The largest body accepted (kube-apiserver's limit for JSON is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Parses a JSON (or YAML) request body.
pub fn parse_body(bytes: &[u8], yaml: bool) -> Result<Value> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::TooLarge(format!(
            "limit is {MAX_BODY} bytes, got {}",
            bytes.len()
        )));
    }
    let parsed = if yaml {
        serde_yaml_ng::from_slice::<Value>(bytes).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| ApiError::BadRequest(format!("the request body could not be decoded: {e}")))
}

/// Whether a create's or update's body is YAML (else JSON); any other media type, protobuf
/// (`kubectl create namespace` sends it) included, is a 415 that says what is read.
pub fn object_body_is_yaml(content_type: Option<&str>) -> Result<bool> {
    use crate::wire::request::{body_type, BodyType};
    match body_type(content_type) {
        BodyType::Json => Ok(false),
        BodyType::Yaml => Ok(true),
        _ => Err(ApiError::UnsupportedMediaType {
            accepted: "application/json, application/yaml".into(),
        }),
    }
}

/// Parses a write's JSON (or YAML) body under `fieldValidation`: duplicate keys are an error
/// when Strict and warnings (returned) when Warn, as kube-apiserver reports them. YAML bodies
/// with duplicate keys do not decode at all.
pub fn parse_object_body(
    info: &ResourceInfo,
    query: &Query,
    bytes: &[u8],
    yaml: bool,
) -> Result<(Value, Vec<String>)> {
    let obj = parse_body(bytes, yaml)?;
    let mode = query.field_validation.as_deref().unwrap_or("Warn");
    if yaml || mode == "Ignore" {
        return Ok((obj, vec![]));
    }
    let dups = crate::admission::duplicate_keys::duplicate_fields(bytes);
    let described: Vec<String> = dups
        .iter()
        .map(|f| format!("duplicate field \"{f}\""))
        .collect();
    if !dups.is_empty() && mode == "Strict" {
        return Err(strict_error(info, &dups, &described));
    }
    Ok((obj, described))
}

/// kube-apiserver's strict-decoding 400, one cause per field.
fn strict_error(info: &ResourceInfo, fields: &[String], described: &[String]) -> ApiError {
    ApiError::BadRequestWithCauses {
        message: format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            info.kind,
            info.version,
            info.kind,
            described.join(", ")
        ),
        causes: fields
            .iter()
            .zip(described)
            .map(|(f, d)| Cause {
                reason: "FieldValueInvalid".into(),
                field: f.clone(),
                message: d.clone(),
            })
            .collect(),
    }
}

/// Applies `fieldValidation`: Strict rejects unknown fields, Warn returns them as warnings,
/// Ignore drops them silently. Unknown fields are always pruned before storage (structural CRDs).
pub fn field_validation(
    info: &ResourceInfo,
    query: &Query,
    obj: &mut Value,
) -> Result<Vec<String>> {
    // One pass finds and prunes: under Strict the pruned object is discarded with the error.
    let unknown = schema_check::prune_unknown(&info.schema, obj);
    let mode = query.field_validation.as_deref().unwrap_or("Warn");
    if !unknown.is_empty() && mode == "Strict" {
        let list: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(strict_error(info, &unknown, &list));
    }
    Ok(if mode == "Ignore" {
        vec![]
    } else {
        unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect()
    })
}

/// Swarm defaults, then validation (with the old object for immutability rules).
pub fn default_and_validate(
    info: &ResourceInfo,
    old: Option<&Value>,
    obj: &mut Value,
) -> Result<()> {
    let name = crate::store::metadata::name_of(obj).to_string();
    let invalid = |errs: Vec<flotilla_api::validation::FieldError>| ApiError::Invalid {
        kind: info.kind.clone(),
        group: info.group.clone(),
        name: name.clone(),
        causes: errs
            .iter()
            .map(|e| Cause {
                reason: e.reason().to_string(),
                field: e.path.clone(),
                message: e
                    .to_string()
                    .trim_start_matches(&format!("{}: ", e.path))
                    .to_string(),
            })
            .collect(),
    };
    // ObjectMeta's rules hold for every kind, built-in ones included.
    let mut meta_errs = flotilla_api::validation::validate_object_meta(&obj["metadata"]);
    if info.namespaced {
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
        let errs = flotilla_api::validation::validate_namespace_name("metadata.namespace", ns);
        meta_errs.extend(errs);
    } else if info.strategy().namespace() {
        let errs = flotilla_api::validation::validate_namespace_name("metadata.name", &name);
        meta_errs.extend(errs);
    }
    let kind_errs = match info.strategy().swarm_rules() {
        true => flotilla_api::default_and_validate(&info.kind, obj, old).err(),
        false => None,
    };
    let errs = [meta_errs, kind_errs.unwrap_or_default()].concat();
    match errs.is_empty() {
        true => Ok(()),
        false => Err(invalid(errs)),
    }
}

/// Kubernetes' NodeRestriction for SwarmNodes: a node identity may not change the spec, labels
/// or ownership of its own SwarmNode (it could un-drain itself or attract other nodes' tasks).
pub fn node_restriction(
    info: &ResourceInfo,
    who: &Identity,
    old: Option<&Value>,
    new: &Value,
) -> Result<()> {
    if !info.strategy().node_restricted() {
        return Ok(());
    }
    crate::security::node_restriction::check_swarm_node_write(who, old, new)
        .map_err(ApiError::Forbidden)
}

/// The field manager of a non-apply write: the `fieldManager` parameter, else the client's
/// User-Agent up to the first '/', as kube-apiserver does.
pub fn manager_name(query: &Query, user_agent: Option<&str>) -> String {
    if let Some(m) = &query.field_manager {
        return m.clone();
    }
    user_agent
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string()
}
