//! Helpers shared by the integration tests: build objects from a valid base plus a patch.
#![allow(dead_code)]

use flotilla_api::{FieldError, FieldErrorKind};
use serde_json::{json, Value};

/// RFC 7386 merge: objects merge recursively, `null` deletes, everything else replaces.
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(&k);
                } else {
                    merge(b.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p,
    }
}

pub fn object(kind: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "default"},
        "spec": spec,
    })
}

/// A minimal valid service with `patch` merged into its spec.
pub fn service(patch: Value) -> Value {
    let mut spec = json!({"taskTemplate": {"containerSpec": {"image": "nginx:1.27"}}});
    merge(&mut spec, patch);
    object("SwarmService", spec)
}

/// A minimal valid task with `patch` merged into its spec.
pub fn task(patch: Value) -> Value {
    let mut spec = json!({
        "serviceName": "web",
        "slot": 1,
        "desiredState": "Running",
        "template": {"containerSpec": {"image": "nginx:1.27"}},
    });
    merge(&mut spec, patch);
    object("Task", spec)
}

/// Validation errors of a new object as `(path, kind)` pairs.
pub fn errors(obj: &Value) -> Vec<(String, FieldErrorKind)> {
    pairs(&validate(obj, None))
}

/// Validation errors of an update as `(path, kind)` pairs.
pub fn update_errors(new: &Value, old: &Value) -> Vec<(String, FieldErrorKind)> {
    pairs(&validate(new, Some(old)))
}

pub fn validate(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let kind = obj["kind"].as_str().expect("kind");
    assert_one_pass_is_two_steps(kind, obj, old);
    flotilla_api::validate_object(kind, obj, old)
}

/// The api-server's one-pass `default_and_validate` gives what defaulting then validating gives:
/// the same object and the same errors (checked on every object these tests validate).
pub fn assert_one_pass_is_two_steps(kind: &str, obj: &Value, old: Option<&Value>) {
    let mut two = obj.clone();
    let two_errs = match flotilla_api::default_object(kind, &mut two) {
        Ok(()) => flotilla_api::validate_object(kind, &two, old),
        Err(errs) => errs,
    };
    let mut one = obj.clone();
    let one_errs = flotilla_api::default_and_validate(kind, &mut one, old).err();
    let text = |errs: &[FieldError]| errs.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    assert_eq!(
        text(&one_errs.unwrap_or_default()),
        text(&two_errs),
        "errors of {obj}"
    );
    if two_errs.is_empty() {
        assert_eq!(one, two, "defaulted object of {obj}");
    }
}

pub fn pairs(errs: &[FieldError]) -> Vec<(String, FieldErrorKind)> {
    errs.iter().map(|e| (e.path.clone(), e.kind)).collect()
}

/// One expected error.
pub fn err(path: &str, kind: FieldErrorKind) -> Vec<(String, FieldErrorKind)> {
    vec![(path.to_string(), kind)]
}

/// The spec after defaulting.
pub fn defaulted(mut obj: Value) -> Value {
    let kind = obj["kind"].as_str().expect("kind").to_string();
    flotilla_api::default_object(&kind, &mut obj).expect("defaulting succeeds");
    obj["spec"].take()
}
