use super::*;
use serde_json::json;

fn service() -> Value {
    json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "SwarmService",
        "metadata": {
            "name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7",
            "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "web"},
            "finalizers": ["flotilla.dev/cleanup"],
            "managedFields": [{"manager": "x"}]
        },
        "spec": {
            "replicas": 3,
            "args": ["-v", "-x"],
            "endpoint": {"ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]},
            "resources": {}
        },
        "status": {"replicas": 1}
    })
}

fn ports_schema() -> FieldSchema {
    FieldSchema::default().with_list("spec.endpoint.ports", ListType::Map(vec!["name".into()]))
}

#[test]
fn fields_v1_of_a_service_ignores_server_metadata() {
    let set = fields_of_with(&service(), &ports_schema());
    assert_eq!(
        set.to_fields_v1(),
        json!({
            "f:metadata": {
                "f:labels": {"f:app": {}},
                "f:finalizers": {"v:\"flotilla.dev/cleanup\"": {}}
            },
            "f:spec": {
                "f:replicas": {},
                "f:args": {},
                "f:endpoint": {"f:ports": {
                    "k:{\"name\":\"http\"}": {".": {}, "f:name": {}, "f:port": {}},
                    "k:{\"name\":\"https\"}": {".": {}, "f:name": {}, "f:port": {}}
                }},
                "f:resources": {}
            },
            "f:status": {"f:replicas": {}}
        })
    );
}

#[test]
fn lists_are_atomic_by_default_and_when_items_do_not_fit() {
    let set = fields_of(&service());
    assert!(set.contains(&[
        PathElement::field("spec"),
        PathElement::field("endpoint"),
        PathElement::field("ports")
    ]));
    let dup = json!({"spec": {"endpoint": {"ports": [{"name": "a"}, {"name": "a"}]}}});
    assert_eq!(
        fields_of_with(&dup, &ports_schema()).to_fields_v1(),
        json!({"f:spec": {"f:endpoint": {"f:ports": {}}}})
    );
    let unkeyed = json!({"spec": {"endpoint": {"ports": [{"port": 1}]}}});
    assert_eq!(fields_of_with(&unkeyed, &ports_schema()).iter().count(), 1);
}

#[test]
fn list_types_come_from_the_openapi_schema() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["port", "protocol"],
                  "items": {"type": "object", "properties": {
                      "hosts": {"type": "array", "x-kubernetes-list-type": "set"}}}},
        "args": {"type": "array", "x-kubernetes-list-type": "atomic"}
    }}}});
    let fs = FieldSchema::from_openapi(&schema);
    assert_eq!(
        fs.list_type("spec.ports"),
        &ListType::Map(vec!["port".into(), "protocol".into()])
    );
    assert_eq!(fs.list_type("spec.ports.hosts"), &ListType::Set);
    assert_eq!(fs.list_type("spec.args"), &ListType::Atomic);
    assert_eq!(fs.list_type("metadata.finalizers"), &ListType::Set);
    assert_eq!(fs.list_type("spec.other"), &ListType::Atomic);
}

#[test]
fn value_at_and_remove_at_follow_keys() {
    let mut svc = service();
    let set = fields_of_with(&svc, &ports_schema());
    let https = set
        .iter()
        .find(|p| {
            crate::patch::fieldset::path_string(p) == ".spec.endpoint.ports[name=\"https\"].port"
        })
        .unwrap()
        .clone();
    assert_eq!(value_at(&svc, &https), Some(&json!(443)));
    remove_at(&mut svc, &https[..https.len() - 1]);
    assert_eq!(
        svc["spec"]["endpoint"]["ports"],
        json!([{"name": "http", "port": 80}])
    );
    remove_at(
        &mut svc,
        &[PathElement::field("spec"), PathElement::field("replicas")],
    );
    remove_at(
        &mut svc,
        &[PathElement::field("nope"), PathElement::field("deeper")],
    );
    assert!(svc["spec"].get("replicas").is_none());
    let finalizer = [
        PathElement::field("metadata"),
        PathElement::field("finalizers"),
        PathElement::value_of(&json!("flotilla.dev/cleanup")),
    ];
    remove_at(&mut svc, &finalizer);
    assert_eq!(svc["metadata"]["finalizers"], json!([]));
}
