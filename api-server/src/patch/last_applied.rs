//! kubectl's client-side apply annotation, as seen by server-side apply.
//!
//! Changing it never conflicts: it is bookkeeping, and kubectl's follow-up apply as
//! `kubectl-last-applied` rewrites it without force. Like kube-apiserver's lastAppliedUpdater,
//! an apply by the `kubectl` manager to an object that carries the annotation refreshes it from
//! the applied configuration, so a later client-side `kubectl apply` diffs against what was
//! really applied.

use serde_json::Value;

use super::fieldset::{canonical, PathElement};

pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager whose applies refresh the annotation (kubectl `--server-side`'s default).
const KUBECTL_MANAGER: &str = "kubectl";

pub(crate) fn is_last_applied(path: &[PathElement]) -> bool {
    matches!(path, [PathElement::Field(m), PathElement::Field(a), PathElement::Field(k)]
        if m == "metadata" && a == "annotations" && k == LAST_APPLIED_ANNOTATION)
}

/// Rewrites the annotation on `new` to `applied` (minus the annotation itself) as JSON with
/// sorted keys and a trailing newline, as kubectl writes it. Only for the `kubectl` manager and
/// only when `new` already has the annotation.
pub(crate) fn sync_last_applied(new: &mut Value, applied: &Value, manager: &str) {
    if manager != KUBECTL_MANAGER {
        return;
    }
    let Some(slot) = new
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.get_mut(LAST_APPLIED_ANNOTATION))
    else {
        return;
    };
    let mut config = applied.clone();
    if let Some(annotations) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
    *slot = Value::String(format!("{}\n", canonical(&config)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn annotated(value: &str) -> Value {
        json!({"metadata": {"name": "web", "annotations": {LAST_APPLIED_ANNOTATION: value, "x": "y"}}})
    }

    #[test]
    fn kubectl_server_side_apply_refreshes_an_existing_annotation() {
        let applied = json!({"spec": {"replicas": 4}, "kind": "SwarmService",
                             "metadata": {"name": "web", "annotations": {LAST_APPLIED_ANNOTATION: "stale"}}});
        let mut new = annotated("stale");
        sync_last_applied(&mut new, &applied, "kubectl");
        assert_eq!(
            new["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
            "{\"kind\":\"SwarmService\",\"metadata\":{\"annotations\":{},\"name\":\"web\"},\"spec\":{\"replicas\":4}}\n"
        );
        assert_eq!(new["metadata"]["annotations"]["x"], "y");
    }

    #[test]
    fn other_managers_and_unannotated_objects_are_left_alone() {
        let applied = json!({"spec": {"replicas": 4}});
        let mut new = annotated("old");
        sync_last_applied(&mut new, &applied, "my-controller");
        assert_eq!(
            new["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
            "old"
        );
        let mut plain = json!({"metadata": {"name": "web"}});
        sync_last_applied(&mut plain, &applied, "kubectl");
        assert_eq!(plain, json!({"metadata": {"name": "web"}}));
    }

    #[test]
    fn recognises_the_annotation_path() {
        let path: Vec<PathElement> = ["metadata", "annotations", LAST_APPLIED_ANNOTATION]
            .into_iter()
            .map(PathElement::field)
            .collect();
        assert!(is_last_applied(&path));
        assert!(!is_last_applied(&path[..2]));
    }
}
