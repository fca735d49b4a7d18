use super::*;
use serde_json::json;

/// The paths [`prune_unknown`] reports, leaving `obj` as it is.
fn unknown_fields(schema: &Value, obj: &Value) -> Vec<String> {
    prune_unknown(schema, &mut obj.clone())
}

fn schema() -> Value {
    json!({"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                      "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
            "anything": {},
            "endpoint": {"type": "object", "properties": {
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "port": {"type": "integer"}}}}}},
            "volumes": {"type": "object", "additionalProperties": {"type": "object",
                        "properties": {"size": {"type": "string"}}}},
            "choice": {"type": "object", "oneOf": [
                {"properties": {"file": {"type": "string"}}},
                {"properties": {"inline": {"type": "string"}}}]},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "properties": {"spec": {"type": "object", "properties": {}}}}
        }},
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
    }})
}

#[test]
fn valid_objects_have_no_unknown_fields() {
    let obj = json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
        "metadata": {"name": "web", "labels": {"a": "b"}, "managedFields": []},
        "spec": {"replicas": 1, "labels": {"any": "x"}, "extra": {"free": {"x": 1}, "known": {"a": "y"}},
                 "anything": {"deep": [1]}, "endpoint": {"ports": [{"name": "http", "port": 80}]},
                 "volumes": {"data": {"size": "1Gi"}}, "choice": {"file": "f", "inline": "i"},
                 "template": {"apiVersion": "v1", "kind": "X", "metadata": {"name": "t"}, "spec": {}}},
        "status": {"replicas": 0}});
    assert_eq!(unknown_fields(&schema(), &obj), Vec::<String>::new());
}

#[test]
fn unknown_fields_are_reported_with_kubernetes_paths() {
    let obj = json!({"apiVersion": "v", "kind": "k", "bogusTop": 1,
        "metadata": {"name": "web", "nmae": "typo"},
        "spec": {"foo": 1, "endpoint": {"ports": [{"name": "a"}, {"name": "b", "bogus": true}]},
                 "extra": {"known": {"a": "x", "b": "y"}},
                 "volumes": {"data": {"size": "1", "sise": "2"}},
                 "choice": {"neither": 1},
                 "template": {"metadata": {"x": 1}, "spec": {"y": 2}}}});
    let mut got = unknown_fields(&schema(), &obj);
    got.sort();
    assert_eq!(
        got,
        [
            "bogusTop",
            "metadata.nmae",
            "spec.choice.neither",
            "spec.endpoint.ports[1].bogus",
            "spec.extra.known.b",
            "spec.foo",
            "spec.template.metadata.x",
            "spec.template.spec.y",
            "spec.volumes.data.sise",
        ]
    );
}

#[test]
fn prune_removes_exactly_the_unknown_fields() {
    let mut obj = json!({"apiVersion": "v", "kind": "k", "metadata": {"name": "web", "x": 1},
        "spec": {"replicas": 2, "foo": {"bar": 1}, "endpoint": {"ports": [{"port": 1, "q": 2}]}}});
    let pruned = prune_unknown(&schema(), &mut obj);
    assert_eq!(pruned.len(), 3, "{pruned:?}");
    assert_eq!(
        obj,
        json!({"apiVersion": "v", "kind": "k", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "endpoint": {"ports": [{"port": 1}]}}})
    );
    assert!(unknown_fields(&schema(), &obj).is_empty());
}

#[test]
fn the_real_swarm_service_crd_accepts_the_web_example_and_flags_typos() {
    let crd = flotilla_api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == "SwarmService")
        .expect("SwarmService CRD");
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref());
    let schema = serde_json::to_value(schema.expect("openAPIV3Schema")).unwrap();
    let web: Value = serde_yaml_ng::from_str(include_str!("../../../examples/web.yaml")).unwrap();
    assert_eq!(unknown_fields(&schema, &web), Vec::<String>::new());
    let mut typo = web.clone();
    typo["spec"]["endpoint"]["ports"][0]["publishedPrt"] = json!(1);
    typo["spec"]["replicas"] = json!(3);
    let mut got = unknown_fields(&schema, &typo);
    got.sort();
    assert_eq!(
        got,
        ["spec.endpoint.ports[0].publishedPrt", "spec.replicas"]
    );
}
