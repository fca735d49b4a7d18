//! Metadata rules every write follows (Kubernetes' generic registry strategy for CRDs), as pure
//! functions over JSON objects.

use serde_json::{json, Map, Value};

use crate::registry::ResourceInfo;
use crate::wire::errors::{ApiError, Result};

const GENERATE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// RFC 3339, seconds, UTC `Z`, as Kubernetes writes timestamps.
pub fn timestamp(now: chrono::DateTime<chrono::Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

pub fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

/// Checks apiVersion/kind, the namespace against the URL, and fills name from generateName.
pub fn check_identity(info: &ResourceInfo, ns: Option<&str>, obj: &mut Value) -> Result<()> {
    if !obj.is_object() {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    let api_version = info.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(api_version),
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )))
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(info.kind),
        Some(k) if k == info.kind => {}
        Some(k) => {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )))
        }
    }
    let m = meta_mut(obj);
    if info.namespaced {
        let url_ns = ns.unwrap_or("default");
        match m.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                m.insert("namespace".into(), json!(url_ns));
            }
            Some(body_ns) if body_ns == url_ns => {}
            Some(body_ns) => {
                return Err(ApiError::BadRequest(format!(
                    "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({url_ns})"
                )))
            }
        }
    } else {
        m.remove("namespace");
    }
    Ok(())
}

/// Fills `metadata.name` from `generateName` with 5 random characters, as Kubernetes does.
pub fn generate_name(obj: &mut Value) {
    let m = meta_mut(obj);
    let has_name = m
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if has_name {
        return;
    }
    if let Some(prefix) = m
        .get("generateName")
        .and_then(Value::as_str)
        .map(str::to_owned)
    {
        use rand::Rng;
        let mut rng = rand::rng();
        let suffix: String = (0..5)
            .map(|_| GENERATE_ALPHABET[rng.random_range(0..GENERATE_ALPHABET.len())] as char)
            .collect();
        m.insert("name".into(), json!(format!("{prefix}{suffix}")));
    }
}

/// A DNS-1123 subdomain check for names (lowercase, digits, '-', '.'; ≤ 253).
pub fn check_name(info: &ResourceInfo, obj: &Value) -> Result<()> {
    let name = name_of(obj);
    let invalid = |msg: &str| ApiError::Invalid {
        kind: info.kind.clone(),
        group: info.group.clone(),
        name: name.to_string(),
        causes: vec![crate::wire::errors::Cause {
            reason: if name.is_empty() {
                "FieldValueRequired"
            } else {
                "FieldValueInvalid"
            }
            .into(),
            field: "metadata.name".into(),
            message: msg.to_string(),
        }],
    };
    if name.is_empty() {
        return Err(invalid("Required value: name or generateName is required"));
    }
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ends_ok = name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if name.len() > 253 || !ok_chars || !ends_ok {
        return Err(invalid(&format!(
            "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        )));
    }
    Ok(())
}

/// Server-owned metadata for a new object; drops status when the status subresource owns it.
pub fn prepare_create(info: &ResourceInfo, obj: &mut Value, now: &str) {
    if info.status_subresource {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }
    let m = meta_mut(obj);
    for k in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        m.remove(k);
    }
    m.insert("uid".into(), json!(new_uid()));
    m.insert("creationTimestamp".into(), json!(now));
    m.insert("generation".into(), json!(1));
    drop_empty_collections(obj);
}

/// A random (version 4) UUID from rand's thread-local CSPRNG: `Uuid::new_v4` makes a getrandom
/// syscall per call, i.e. per create.
fn new_uid() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// Main-resource update: keep server-owned metadata and (with a status subresource) the old
/// status. Generation is settled by [`settle_generation`] once defaults are applied.
pub fn prepare_update(info: &ResourceInfo, old: &Value, new: &mut Value) -> Result<()> {
    if info.status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().map(|o| o.remove("status"));
            }
        }
    }
    carry_server_metadata(old, new)?;
    drop_empty_collections(new);
    Ok(())
}

/// `metadata.generation` goes up by one when anything but metadata/status changed (compare
/// after defaulting, so a patch that restates defaults is not a change).
pub fn settle_generation(old: &Value, new: &mut Value) {
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    let bumped = if spec_changed(old, new) {
        generation + 1
    } else {
        generation
    };
    meta_mut(new).insert("generation".into(), json!(bumped));
}

/// True when `a` and `b` differ only in managedFields (e.g. a re-apply of the same content):
/// such a write is skipped, so the resourceVersion stays and no watch event is sent.
pub fn same_except_managed_fields(a: &Value, b: &Value) -> bool {
    // Compared in place: copying both whole objects on every write showed in the write path's
    // profile, with the other copies below (docs/benchmark.md).
    let (Some(x), Some(y)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let empty = Map::new();
    fn meta(m: &Value) -> Option<&Map<String, Value>> {
        m.get("metadata").and_then(Value::as_object)
    }
    equal_without(x, y, |k| k == "metadata")
        && equal_without(meta(a).unwrap_or(&empty), meta(b).unwrap_or(&empty), |k| {
            k == "managedFields" || k == "resourceVersion"
        })
}

/// Whether `a` and `b` are equal once the keys `skip` picks are left out of both.
fn equal_without(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    skip: impl Fn(&str) -> bool,
) -> bool {
    let kept = |m: &Map<String, Value>| m.keys().filter(|k| !skip(k)).count();
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skip(k))
            .all(|(k, v)| b.get(k) == Some(v))
}

/// Status-subresource update: only `.status` (and managedFields) come from the request. The old
/// object is copied without the parts the request replaces.
pub fn prepare_status_update(old: &Value, new: &Value) -> Value {
    let Some(fields) = old.as_object() else {
        let mut out = old.clone();
        match new.get("status") {
            Some(s) => out["status"] = s.clone(),
            None => {
                out.as_object_mut().map(|o| o.remove("status"));
            }
        }
        return out;
    };
    let managed = new["metadata"].get("managedFields");
    let mut out = Map::new();
    for (k, v) in fields {
        let copy = match (k.as_str(), v) {
            ("status", _) => continue,
            ("metadata", Value::Object(meta)) if managed.is_some() => Value::Object(
                meta.iter()
                    .filter(|(k, _)| *k != "managedFields")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), copy);
    }
    if let Some(s) = new.get("status") {
        out.insert("status".into(), s.clone());
    }
    let mut out = Value::Object(out);
    if let Some(mf) = managed {
        meta_mut(&mut out).insert("managedFields".into(), mf.clone());
    }
    out
}

fn carry_server_metadata(old: &Value, new: &mut Value) -> Result<()> {
    let old_m = &old["metadata"];
    let old_finalizers = string_set(&old_m["finalizers"]);
    let deleting = old_m.get("deletionTimestamp").is_some_and(|v| !v.is_null());
    let m = meta_mut(new);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "name",
    ] {
        match old_m.get(k) {
            Some(v) if !v.is_null() => m.insert(k.into(), v.clone()),
            _ => m.remove(k),
        };
    }
    if deleting {
        let added: Vec<String> = string_set(&m.get("finalizers").cloned().unwrap_or(Value::Null))
            .difference(&old_finalizers)
            .cloned()
            .collect();
        if !added.is_empty() {
            return Err(ApiError::Forbidden(format!(
                "no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
            )));
        }
    }
    Ok(())
}

fn string_set(v: &Value) -> std::collections::BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn spec_changed(old: &Value, new: &Value) -> bool {
    match (old.as_object(), new.as_object()) {
        (Some(a), Some(b)) => !equal_without(a, b, |k| k == "metadata" || k == "status"),
        _ => old != new,
    }
}

/// Kubernetes omits empty finalizers/labels/annotations/ownerReferences; kube-rs' finalizer
/// helper depends on a missing `/metadata/finalizers`.
pub fn drop_empty_collections(obj: &mut Value) {
    let m = meta_mut(obj);
    for k in [
        "finalizers",
        "labels",
        "annotations",
        "ownerReferences",
        "managedFields",
    ] {
        let empty = match m.get(k) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            m.remove(k);
        }
    }
}

pub fn has_finalizers(obj: &Value) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

pub fn is_deleting(obj: &Value) -> bool {
    obj["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

pub fn resource_version(obj: &Value) -> Option<i64> {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
}

/// `metadata.resourceVersion` as a precondition: `None` when absent or empty, the offending
/// value (as JSON) when it is not one this server hands out.
pub fn rv_precondition(obj: &Value) -> std::result::Result<Option<i64>, String> {
    match obj["metadata"].get("resourceVersion") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => match s.parse::<u64>().ok().and_then(|n| i64::try_from(n).ok()) {
            Some(n) => Ok(Some(n)),
            None => Err(format!("{s:?}")),
        },
        Some(other) => Err(other.to_string()),
    }
}

/// The object with `metadata.resourceVersion` set to `rev`.
pub fn with_rv(mut obj: Value, rev: i64) -> Value {
    meta_mut(&mut obj).insert("resourceVersion".into(), Value::String(rev.to_string()));
    obj
}

/// An object read from etcd, with its resourceVersion filled from the revision.
pub fn from_storage(bytes: &[u8], mod_revision: i64) -> Result<Value> {
    let mut obj: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Internal(format!("stored object is not JSON: {e}")))?;
    meta_mut(&mut obj).insert("resourceVersion".into(), json!(mod_revision.to_string()));
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_distinct_version_4_uuids() {
        let uids: std::collections::HashSet<String> = (0..1000).map(|_| new_uid()).collect();
        assert_eq!(uids.len(), 1000);
        for uid in &uids {
            let parsed = uuid::Uuid::parse_str(uid).expect("a UUID");
            assert_eq!(parsed.get_version(), Some(uuid::Version::Random), "{uid}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{uid}");
        }
    }

    fn task(rv: &str, manager: &str, image: &str, state: &str) -> Value {
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": "web.1", "resourceVersion": rv, "generation": 1,
                "managedFields": [{"manager": manager}]},
            "spec": {"template": {"containerSpec": {"image": image}}},
            "status": {"state": state}})
    }

    #[test]
    fn managed_fields_and_resource_version_alone_are_no_change() {
        let a = task("1", "a", "nginx", "Running");
        assert!(same_except_managed_fields(
            &a,
            &task("2", "b", "nginx", "Running")
        ));
        assert!(!same_except_managed_fields(
            &a,
            &task("1", "a", "nginx:2", "Running")
        ));
        assert!(!same_except_managed_fields(
            &a,
            &task("1", "a", "nginx", "Failed")
        ));
        let mut labelled = a.clone();
        meta_mut(&mut labelled).insert("labels".into(), json!({"x": "y"}));
        assert!(!same_except_managed_fields(&a, &labelled));
        let mut extra = a.clone();
        extra["other"] = json!(1);
        assert!(
            !same_except_managed_fields(&a, &extra),
            "a key only one side has"
        );
    }

    #[test]
    fn generation_goes_up_for_a_spec_change_only() {
        let old = task("1", "a", "nginx", "Running");
        let mut same = task("2", "b", "nginx", "Failed");
        settle_generation(&old, &mut same);
        assert_eq!(
            same["metadata"]["generation"], 1,
            "metadata and status are not the spec"
        );
        let mut changed = task("2", "b", "nginx:2", "Running");
        settle_generation(&old, &mut changed);
        assert_eq!(changed["metadata"]["generation"], 2);
        let mut dropped = old.clone();
        dropped.as_object_mut().unwrap().remove("spec");
        settle_generation(&old, &mut dropped);
        assert_eq!(
            dropped["metadata"]["generation"], 2,
            "a removed spec is a change"
        );
    }

    #[test]
    fn a_status_update_takes_only_the_status_and_managed_fields() {
        let old = task("1", "a", "nginx", "Running");
        let new = task("9", "agent", "ignored", "Failed");
        let out = prepare_status_update(&old, &new);
        let mut want = old.clone();
        want["status"] = json!({"state": "Failed"});
        want["metadata"]["managedFields"] = json!([{"manager": "agent"}]);
        assert_eq!(out, want);
        let mut no_status = new.clone();
        no_status.as_object_mut().unwrap().remove("status");
        meta_mut(&mut no_status).remove("managedFields");
        let out = prepare_status_update(&old, &no_status);
        let mut want = old.clone();
        want.as_object_mut().unwrap().remove("status");
        assert_eq!(
            out, want,
            "no status in the request removes it; managedFields stay"
        );
    }
}
