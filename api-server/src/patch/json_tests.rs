use super::*;
use serde_json::json;

fn patched(doc: Value, ops: Value) -> Result<Value, PatchError> {
    let mut doc = doc;
    apply_json_patch(&mut doc, &ops)?;
    Ok(doc)
}

fn service() -> Value {
    json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
           "metadata": {"name": "web", "namespace": "default"},
           "spec": {"replicas": 3, "ports": [80, 443]}})
}

#[test]
fn kube_runtime_adds_first_finalizer_to_object_without_finalizers() {
    let ops = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["flotilla.dev/cleanup"]}
    ]);
    let out = patched(service(), ops).unwrap();
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["flotilla.dev/cleanup"])
    );
    assert_eq!(out["metadata"]["name"], "web");
}

#[test]
fn kube_runtime_finalizer_add_fails_when_finalizers_already_exist() {
    let mut doc = service();
    doc["metadata"]["finalizers"] = json!(["other"]);
    let ops = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["flotilla.dev/cleanup"]}
    ]);
    let err = patched(doc, ops).unwrap_err();
    assert_eq!(err.to_string(), "testing value /metadata/finalizers failed");
    assert!(!err.is_too_large());
}

#[test]
fn kube_runtime_removes_its_finalizer() {
    let mut doc = service();
    doc["metadata"]["finalizers"] = json!(["flotilla.dev/cleanup", "other"]);
    let ops = json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "flotilla.dev/cleanup"},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]);
    let out = patched(doc, ops).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["other"]));
}

#[test]
fn finalizer_removal_on_object_without_finalizers_fails_and_leaves_it_untouched() {
    let mut doc = service();
    let ops = json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "flotilla.dev/cleanup"},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]);
    let err = apply_json_patch(&mut doc, &ops).unwrap_err();
    assert_eq!(
        err.to_string(),
        "test operation does not apply: doc is missing path: /metadata/finalizers/0"
    );
    assert_eq!(doc, service());
}

#[test]
fn failed_test_rolls_back_earlier_operations() {
    let mut doc = service();
    let ops = json!([
        {"op": "replace", "path": "/spec/replicas", "value": 9},
        {"op": "test", "path": "/spec/replicas", "value": 3}
    ]);
    let err = apply_json_patch(&mut doc, &ops).unwrap_err();
    assert_eq!(
        err,
        PatchError::TestFailed {
            path: "/spec/replicas".into()
        }
    );
    assert_eq!(doc["spec"]["replicas"], 3);
}

#[test]
fn add_replace_remove_and_dash_index() {
    let ops = json!([
        {"op": "add", "path": "/spec/ports/-", "value": 8080},
        {"op": "add", "path": "/spec/ports/0", "value": 22},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "remove", "path": "/metadata/namespace"},
        {"op": "add", "path": "", "value": {"replaced": true}},
        {"op": "add", "path": "/x", "value": 1}
    ]);
    assert_eq!(
        patched(service(), ops).unwrap(),
        json!({"replaced": true, "x": 1})
    );
    let ops = json!([{"op": "add", "path": "/spec/ports/-", "value": 8080},
                     {"op": "add", "path": "/spec/ports/1", "value": 22}]);
    assert_eq!(
        patched(service(), ops).unwrap()["spec"]["ports"],
        json!([80, 22, 443, 8080])
    );
}

#[test]
fn move_and_copy() {
    let ops = json!([
        {"op": "copy", "from": "/spec/ports", "path": "/spec/oldPorts"},
        {"op": "move", "from": "/spec/replicas", "path": "/spec/count"},
        {"op": "move", "from": "/spec/ports/1", "path": "/spec/ports/0"}
    ]);
    let out = patched(service(), ops).unwrap();
    assert_eq!(
        out["spec"],
        json!({"count": 3, "ports": [443, 80], "oldPorts": [80, 443]})
    );
    let into_child = json!([{"op": "move", "from": "/spec", "path": "/spec/inner"}]);
    let err = patched(service(), into_child).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot move /spec into its own child /spec/inner"),
        "{err}"
    );
}

#[test]
fn pointer_escapes_address_annotation_keys() {
    let mut doc = service();
    doc["metadata"]["annotations"] = json!({"a/b": "1", "m~n": "2"});
    let ops = json!([
        {"op": "test", "path": "/metadata/annotations/a~1b", "value": "1"},
        {"op": "replace", "path": "/metadata/annotations/m~0n", "value": "3"},
        {"op": "add", "path": "/metadata/annotations/kubectl.kubernetes.io~1restartedAt", "value": "now"}
    ]);
    let out = patched(doc, ops).unwrap();
    assert_eq!(
        out["metadata"]["annotations"],
        json!({"a/b": "1", "m~n": "3", "kubectl.kubernetes.io/restartedAt": "now"})
    );
}

#[test]
fn errors_name_the_operation_and_path() {
    let cases = [
        (
            json!([{"op": "replace", "path": "/spec/nope", "value": 1}]),
            "replace operation does not apply: doc is missing path: /spec/nope",
        ),
        (
            json!([{"op": "remove", "path": "/spec/ports/5"}]),
            "remove operation does not apply: /spec/ports/5: array index out of range",
        ),
        (
            json!([{"op": "add", "path": "/nope/deeper", "value": 1}]),
            "add operation does not apply: doc is missing path: /nope/deeper",
        ),
        (
            json!([{"op": "add", "path": "/spec/replicas/x", "value": 1}]),
            "add operation does not apply: /spec/replicas/x: parent is not an object or array",
        ),
        (
            json!([{"op": "copy", "from": "/nope", "path": "/x"}]),
            "copy operation does not apply: doc is missing path: /nope",
        ),
        (
            json!([{"op": "frobnicate", "path": "/x"}]),
            "invalid JSON patch operation 0: unknown op \"frobnicate\"",
        ),
        (
            json!([{"op": "add", "path": "/x"}]),
            "invalid JSON patch operation 0: missing field \"value\"",
        ),
        (
            json!([{"op": "test", "value": 1}, {"op": "add"}]),
            "invalid JSON patch operation 0: missing string field \"path\"",
        ),
        (
            json!([{"op": "add", "path": "x", "value": 1}]),
            "invalid JSON patch operation 0: JSON pointer \"x\" must start with '/'",
        ),
        (
            json!([{"op": "add", "path": "/a~2", "value": 1}]),
            "invalid JSON patch operation 0: JSON pointer \"/a~2\" has an invalid '~' escape",
        ),
        (
            json!({"op": "add"}),
            "the JSON patch must be an array of operations",
        ),
    ];
    for (ops, want) in cases {
        assert_eq!(
            patched(service(), ops.clone()).unwrap_err().to_string(),
            want,
            "{ops}"
        );
    }
}

#[test]
fn test_of_null_member_and_whole_document() {
    let mut doc = service();
    doc["spec"]["paused"] = Value::Null;
    let ops = json!([
        {"op": "test", "path": "/spec/paused", "value": null},
        {"op": "test", "path": "/spec/ports/1", "value": 443},
        {"op": "test", "path": "/spec/ports/7", "value": null}
    ]);
    assert!(patched(doc.clone(), ops).is_ok());
    let whole = json!([{"op": "test", "path": "", "value": doc.clone()}]);
    assert!(patched(doc.clone(), whole).is_ok());
    let wrong = json!([{"op": "test", "path": "/spec/replicas", "value": "3"}]);
    assert_eq!(
        patched(doc, wrong).unwrap_err().to_string(),
        "testing value /spec/replicas failed"
    );
}

#[test]
fn operation_cap_is_ten_thousand() {
    let op = json!({"op": "test", "path": "/spec/replicas", "value": 3});
    let at_cap = Value::Array(vec![op.clone(); MAX_OPERATIONS]);
    assert!(patched(service(), at_cap).is_ok());
    let over = Value::Array(vec![op; MAX_OPERATIONS + 1]);
    let err = patched(service(), over).unwrap_err();
    assert!(err.is_too_large());
    assert_eq!(
        err.to_string(),
        "The allowed operations in a JSON patch are limited to 10000, got 10001"
    );
}
