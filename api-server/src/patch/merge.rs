//! RFC 7386 JSON merge patch (`application/merge-patch+json`).
//!
//! kubectl uses it for client-side apply, `edit`, `label`, `annotate`, `scale` and
//! `patch --type merge`; kube-rs for `Patch::Merge`.

use serde_json::{Map, Value};

/// Applies `patch` to `target` in place: `null` deletes a key, objects merge recursively,
/// anything else (scalars, arrays, a non-object patch) replaces the target value.
pub fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            apply_merge_patch(target.entry(key.as_str()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(target: Value, patch: Value) -> Value {
        let mut target = target;
        apply_merge_patch(&mut target, &patch);
        target
    }

    #[test]
    fn rfc7386_appendix_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                merged(target.clone(), patch.clone()),
                want,
                "{target} + {patch}"
            );
        }
    }

    #[test]
    fn kubectl_label_and_scale_patches() {
        let live = json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 3, "image": "nginx"}
        });
        let labelled = merged(live.clone(), json!({"metadata":{"labels":{"tier":"fe"}}}));
        assert_eq!(
            labelled["metadata"]["labels"],
            json!({"app":"web","tier":"fe"})
        );
        let scaled = merged(live, json!({"spec":{"replicas":7}}));
        assert_eq!(scaled["spec"], json!({"replicas":7,"image":"nginx"}));
    }

    #[test]
    fn removing_a_label_with_null() {
        let live = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
        let out = merged(live, json!({"metadata":{"labels":{"tier":null}}}));
        assert_eq!(out, json!({"metadata": {"labels": {"app": "web"}}}));
    }
}
