//! Property tests of the request path: whatever bytes arrive as a query, a path, a body, a
//! selector or a patch, the parsers answer (an error is fine) without panicking, and the rules
//! that keep stored data sound hold. A bounded number of cases, so it runs in seconds.

use flotilla_api::validation::{validate_object_meta, MAX_LABEL_VALUE};
use flotilla_api_server::admission::duplicate_keys::duplicate_fields;
use flotilla_api_server::admission::parse_body;
use flotilla_api_server::patch::{apply_json_patch, apply_merge_patch};
use flotilla_api_server::selectors::{FieldSelector, LabelSelector};
use flotilla_api_server::wire::request::{Query, MAX_TIMEOUT_SECONDS};
use flotilla_api_server::wire::route::Route;
use proptest::prelude::*;
use serde_json::{json, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep, with keys drawn from a small alphabet (so objects collide).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9 ._/~-]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]{1,2}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn query_parsing_never_panics_and_bounds_timeouts(raw in ".{0,80}") {
        if let Ok(q) = Query::parse(Some(&raw)) {
            prop_assert!(q.timeout_seconds.unwrap_or(0) <= MAX_TIMEOUT_SECONDS);
        }
    }

    #[test]
    fn timeout_seconds_is_a_400_when_negative_and_capped_when_huge(n in any::<i64>()) {
        let parsed = Query::parse(Some(&format!("watch=1&timeoutSeconds={n}")));
        match n < 0 {
            true => prop_assert_eq!(parsed.unwrap_err().code(), 400),
            false => prop_assert_eq!(
                parsed.unwrap().timeout_seconds,
                Some((n as u64).min(MAX_TIMEOUT_SECONDS))
            ),
        }
    }

    #[test]
    fn a_resource_path_never_names_a_key_outside_its_collection(
        segs in prop::collection::vec("[a-zA-Z0-9.%/_+-]{0,6}", 1..6)
    ) {
        let path = format!("/apis/flotilla.dev/v1alpha1/namespaces/{}", segs.join("/"));
        if let Route::Resource(p) = Route::parse(&path) {
            for s in [p.namespace, p.name].into_iter().flatten() {
                prop_assert!(!s.contains('/') && !s.contains('%'), "{s:?} from {path}");
                prop_assert!(s != "." && s != "..", "{s:?} from {path}");
            }
        }
    }

    #[test]
    fn body_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_body(&bytes, false);
        let _ = parse_body(&bytes, true);
        let _ = duplicate_fields(&bytes);
    }

    #[test]
    fn duplicate_keys_are_found_exactly(v in json_value(), key in "[a-z]{1,3}") {
        let encoded = serde_json::to_string(&v).unwrap();
        prop_assert!(duplicate_fields(encoded.as_bytes()).is_empty(), "{encoded}");
        let doubled = format!(r#"{{"{key}": 1, "x": {encoded}, "{key}": 2}}"#);
        prop_assert_eq!(duplicate_fields(doubled.as_bytes()), vec![key]);
    }

    #[test]
    fn selectors_parse_or_refuse(s in ".{0,60}") {
        let _ = LabelSelector::parse(&s);
        let _ = FieldSelector::parse(&s);
    }

    #[test]
    fn selector_matching_never_panics(s in "[a-z=!,() ]{0,30}", obj in json_value()) {
        if let Ok(sel) = LabelSelector::parse(&s) {
            let _ = sel.matches_object(&obj);
        }
        if let Ok(sel) = FieldSelector::parse(&s) {
            let _ = sel.matches_object(&obj);
        }
    }

    #[test]
    fn merge_patches_are_idempotent(target in json_value(), patch in json_value()) {
        let mut once = target;
        apply_merge_patch(&mut once, &patch);
        let mut twice = once.clone();
        apply_merge_patch(&mut twice, &patch);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn json_patches_apply_whole_or_not_at_all(
        target in json_value(),
        ops in prop::collection::vec(
            (
                prop_oneof![Just("add"), Just("remove"), Just("replace"), Just("move"),
                    Just("copy"), Just("test"), Just("bogus")],
                "(/[a-c0-9~-]{0,2}){0,3}",
                json_value(),
            ),
            0..6,
        )
    ) {
        let ops: Vec<Value> = ops
            .into_iter()
            .map(|(op, path, value)| json!({"op": op, "path": path, "from": path, "value": value}))
            .collect();
        let mut patched = target.clone();
        if apply_json_patch(&mut patched, &Value::Array(ops)).is_err() {
            prop_assert_eq!(patched, target, "a failed patch changes nothing");
        }
    }

    #[test]
    fn metadata_that_validates_keeps_kubernetes_bounds(meta in json_value()) {
        if validate_object_meta(&meta).is_empty() {
            if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
                for (k, v) in labels {
                    let v = v.as_str().expect("a valid label value is a string");
                    prop_assert!(v.len() <= MAX_LABEL_VALUE && !k.is_empty());
                }
            }
        }
    }
}
