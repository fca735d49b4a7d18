use super::*;
use crate::patch::last_applied::LAST_APPLIED_ANNOTATION;
use crate::patch::managed::{managed_fields_of, record_update, set_managed_fields};
use serde_json::json;

const V: &str = "flotilla.dev/v1alpha1";

fn manifest(spec: Value) -> Value {
    json!({"apiVersion": V, "kind": "SwarmService",
           "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
           "spec": spec})
}

/// What the server does around `apply`: stamp server metadata on create.
fn server_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, ApplyError> {
    let managed = live
        .map(|l| managed_fields_of(l).unwrap())
        .unwrap_or_default();
    let (mut obj, entries) = apply(live, applied, manager, force, &managed, V, "t")?;
    if live.is_none() {
        obj["metadata"]["uid"] = json!("u1");
        obj["metadata"]["resourceVersion"] = json!("1");
    }
    assert_eq!(
        managed_fields_of(&obj).unwrap(),
        entries,
        "object carries the entries"
    );
    Ok(obj)
}

fn fields(obj: &Value, manager: &str) -> Value {
    managed_fields_of(obj)
        .unwrap()
        .into_iter()
        .find(|e| e.manager == manager)
        .map(|e| e.fields_v1)
        .unwrap_or(Value::Null)
}

#[test]
fn apply_creates_the_object_and_records_an_apply_entry() {
    let obj = server_apply(
        None,
        &manifest(json!({"replicas": 3, "image": "nginx"})),
        "kubectl",
        false,
    )
    .unwrap();
    assert_eq!(obj["spec"], json!({"replicas": 3, "image": "nginx"}));
    assert_eq!(obj["metadata"]["labels"], json!({"app": "web"}));
    let entry = &obj["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "kubectl");
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["apiVersion"], V);
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:image": {}, "f:replicas": {}}})
    );
}

#[test]
fn reapply_changes_and_removes_omitted_fields() {
    let v1 = server_apply(
        None,
        &manifest(json!({"replicas": 3, "image": "nginx", "mode": "x"})),
        "kubectl",
        false,
    )
    .unwrap();
    let v2 = server_apply(
        Some(&v1),
        &manifest(json!({"replicas": 4, "image": "nginx"})),
        "kubectl",
        false,
    )
    .unwrap();
    assert_eq!(
        v2["spec"],
        json!({"replicas": 4, "image": "nginx"}),
        "mode was pruned"
    );
    assert_eq!(v2["metadata"]["uid"], "u1", "server fields survive");
    assert_eq!(
        fields(&v2, "kubectl"),
        json!({"f:metadata": {"f:labels": {"f:app": {}}},
                                              "f:spec": {"f:image": {}, "f:replicas": {}}})
    );
}

#[test]
fn two_managers_keep_their_own_fields() {
    let v1 = server_apply(None, &manifest(json!({"replicas": 3})), "kubectl", false).unwrap();
    let ctrl = json!({"apiVersion": V, "kind": "SwarmService", "metadata": {"name": "web"},
                      "spec": {"image": "nginx:2"}});
    let v2 = server_apply(Some(&v1), &ctrl, "my-ctrl", false).unwrap();
    assert_eq!(v2["spec"], json!({"replicas": 3, "image": "nginx:2"}));
    // kubectl re-applies without image: image is not kubectl's, so it stays.
    let v3 = server_apply(
        Some(&v2),
        &manifest(json!({"replicas": 5})),
        "kubectl",
        false,
    )
    .unwrap();
    assert_eq!(v3["spec"], json!({"replicas": 5, "image": "nginx:2"}));
    // Applying the same value as another manager shares ownership; omitting it then keeps it.
    let shared = manifest(json!({"replicas": 5, "image": "nginx:2"}));
    let v4 = server_apply(Some(&v3), &shared, "kubectl", false).unwrap();
    let v5 = server_apply(
        Some(&v4),
        &manifest(json!({"replicas": 5})),
        "kubectl",
        false,
    )
    .unwrap();
    assert_eq!(v5["spec"]["image"], "nginx:2");
    assert_eq!(fields(&v5, "my-ctrl"), json!({"f:spec": {"f:image": {}}}));
}

#[test]
fn conflict_with_an_applier_and_with_force() {
    let v1 = server_apply(None, &manifest(json!({"replicas": 3})), "kubectl", false).unwrap();
    let other = json!({"apiVersion": V, "kind": "SwarmService", "metadata": {"name": "web"},
                       "spec": {"replicas": 9}});
    let err = server_apply(Some(&v1), &other, "my-ctrl", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
    );
    let ApplyError::Conflicts(conflicts) = err else {
        panic!("not a conflict")
    };
    assert_eq!(conflicts[0].field, ".spec.replicas");
    assert_eq!(conflicts[0].message(), "conflict with \"kubectl\"");

    let v2 = server_apply(Some(&v1), &other, "my-ctrl", true).unwrap();
    assert_eq!(v2["spec"]["replicas"], 9);
    assert_eq!(
        fields(&v2, "my-ctrl"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert_eq!(
        fields(&v2, "kubectl"),
        json!({"f:metadata": {"f:labels": {"f:app": {}}}})
    );
    // kubectl lost replicas, so its next apply without force conflicts the other way round.
    let err = server_apply(
        Some(&v2),
        &manifest(json!({"replicas": 3})),
        "kubectl",
        false,
    );
    assert!(matches!(err, Err(ApplyError::Conflicts(c)) if c[0].manager == "my-ctrl"));
}

#[test]
fn conflict_with_client_side_apply_uses_kubernetes_wording() {
    let created = manifest(json!({"replicas": 3, "image": "nginx"}));
    let entries = record_update(
        None,
        &created,
        "kubectl-client-side-apply",
        None,
        V,
        "t",
        &[],
    );
    let err = apply(
        Some(&created),
        &manifest(json!({"replicas": 4, "image": "busybox"})),
        "kubectl",
        false,
        &entries,
        V,
        "t2",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using \
         flotilla.dev/v1alpha1\n- .spec.image\n- .spec.replicas"
    );
    let one = apply(
        Some(&created),
        &manifest(json!({"replicas": 4, "image": "nginx"})),
        "kubectl",
        false,
        &entries,
        V,
        "t2",
    )
    .unwrap_err();
    assert_eq!(
        one.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using \
         flotilla.dev/v1alpha1: .spec.replicas"
    );
}

#[test]
fn kubectl_last_applied_follow_up_does_not_disturb_the_applier() {
    let mut created = manifest(json!({"replicas": 3}));
    created["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: "{\"old\":1}"});
    let entries = record_update(
        None,
        &created,
        "kubectl-client-side-apply",
        None,
        V,
        "t",
        &[],
    );
    let (v2, entries) = apply(
        Some(&created),
        &manifest(json!({"replicas": 4})),
        "kubectl",
        true,
        &entries,
        V,
        "t2",
    )
    .unwrap();
    let refreshed = v2["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
        .as_str()
        .unwrap();
    let refreshed: Value = serde_json::from_str(refreshed).unwrap();
    assert_eq!(
        refreshed,
        manifest(json!({"replicas": 4})),
        "the server refreshed it for kubectl"
    );
    let follow_up = json!({"apiVersion": V, "kind": "SwarmService",
                           "metadata": {"name": "web", "namespace": "default",
                                        "annotations": {LAST_APPLIED_ANNOTATION: "{\"new\":1}"}}});
    let (v3, _) = apply(
        Some(&v2),
        &follow_up,
        "kubectl-last-applied",
        false,
        &entries,
        V,
        "t3",
    )
    .unwrap();
    assert_eq!(v3["spec"], json!({"replicas": 4}));
    assert_eq!(v3["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(
        v3["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
        "{\"new\":1}"
    );
    assert_eq!(fields(&v3, "kubectl"), fields(&v2, "kubectl"));
    assert_eq!(
        fields(&v3, "kubectl-last-applied"),
        json!({"f:metadata": {"f:annotations": {format!("f:{LAST_APPLIED_ANNOTATION}"): {}}}})
    );
}

#[test]
fn list_map_items_are_owned_per_key() {
    let schema = FieldSchema::default().with_list("spec.ports", ListType::Map(vec!["name".into()]));
    let ctx = |manager| WriteContext {
        manager,
        api_version: V,
        now: "t",
        subresource: None,
        schema: &schema,
    };
    let a = manifest(json!({"ports": [{"name": "http", "port": 80}]}));
    let (v1, e1) = apply_with(None, &a, false, &[], &ctx("kubectl")).unwrap();
    let b = json!({"apiVersion": V, "kind": "SwarmService", "metadata": {"name": "web"},
                   "spec": {"ports": [{"name": "metrics", "port": 9090},
                                      {"name": "http", "protocol": "TCP"}]}});
    let (v2, e2) = apply_with(Some(&v1), &b, false, &e1, &ctx("ctrl")).unwrap();
    assert_eq!(
        v2["spec"]["ports"],
        json!([{"name": "http", "port": 80, "protocol": "TCP"},
                                           {"name": "metrics", "port": 9090}])
    );
    // kubectl drops http: ctrl still owns a field of it, so only kubectl's port goes.
    let (v3, e3) = apply_with(
        Some(&v2),
        &manifest(json!({"ports": []})),
        false,
        &e2,
        &ctx("kubectl"),
    )
    .unwrap();
    assert_eq!(
        v3["spec"]["ports"],
        json!([{"name": "http", "protocol": "TCP"},
                                           {"name": "metrics", "port": 9090}])
    );
    // ctrl drops everything: the items go too.
    let empty = json!({"apiVersion": V, "kind": "SwarmService", "metadata": {"name": "web"}});
    let (v4, _) = apply_with(Some(&v3), &empty, false, &e3, &ctx("ctrl")).unwrap();
    assert_eq!(v4["spec"]["ports"], json!([]));
}

#[test]
fn status_apply_through_the_subresource() {
    let schema = FieldSchema::default();
    let v1 = server_apply(None, &manifest(json!({"replicas": 3})), "kubectl", false).unwrap();
    let ctx = WriteContext {
        manager: "ctrl",
        api_version: V,
        now: "t",
        subresource: Some("status"),
        schema: &schema,
    };
    let status = json!({"apiVersion": V, "kind": "SwarmService", "metadata": {"name": "web"},
                        "status": {"readyReplicas": 3}});
    let managed = managed_fields_of(&v1).unwrap();
    let (v2, entries) = apply_with(Some(&v1), &status, false, &managed, &ctx).unwrap();
    assert_eq!(v2["status"], json!({"readyReplicas": 3}));
    let ctrl = entries.iter().find(|e| e.manager == "ctrl").unwrap();
    assert_eq!(ctrl.subresource.as_deref(), Some("status"));
    assert_eq!(ctrl.fields_v1, json!({"f:status": {"f:readyReplicas": {}}}));
}

#[test]
fn nulls_count_as_omitted_and_bodies_are_checked() {
    let v1 = server_apply(
        None,
        &manifest(json!({"replicas": 3, "image": "nginx"})),
        "kubectl",
        false,
    )
    .unwrap();
    let v2 = server_apply(
        Some(&v1),
        &manifest(json!({"replicas": 3, "image": null})),
        "kubectl",
        false,
    )
    .unwrap();
    assert!(v2["spec"].get("image").is_none());

    let yaml = b"apiVersion: flotilla.dev/v1alpha1\nkind: SwarmService\nmetadata:\n  name: web\nspec:\n  replicas: 2\n";
    assert_eq!(parse_apply_body(yaml).unwrap()["spec"]["replicas"], 2);
    let json = serde_json::to_vec(&manifest(json!({}))).unwrap();
    assert!(parse_apply_body(&json).is_ok());
    let no_kind = b"{\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\"}}";
    assert_eq!(
        parse_apply_body(no_kind).unwrap_err().to_string(),
        "invalid apply patch: kind must be set"
    );
    assert!(parse_apply_body(b"- 1\n- 2\n").is_err());
    assert!(parse_apply_body(b"a: [")
        .unwrap_err()
        .to_string()
        .contains("error decoding YAML"));
    assert!(apply(None, &json!([1]), "m", false, &[], V, "t").is_err());
}

#[test]
fn identical_reapply_keeps_managed_fields_and_timestamps() {
    let config = manifest(json!({"replicas": 3}));
    let (v1, e1) = apply(None, &config, "kubectl", false, &[], V, "t1").unwrap();
    let (v2, e2) = apply(Some(&v1), &config, "kubectl", false, &e1, V, "t2").unwrap();
    assert_eq!(e2, e1);
    assert_eq!(v2, v1, "a no-op apply is a no-op");
    let (_, e3) = apply(
        Some(&v1),
        &manifest(json!({"replicas": 4})),
        "kubectl",
        false,
        &e1,
        V,
        "t3",
    )
    .unwrap();
    assert_eq!(e3[0].time.as_deref(), Some("t3"));
}

#[test]
fn kubectl_scale_after_server_side_apply_conflicts_until_forced() {
    let config = manifest(json!({"replicas": 3, "image": "nginx"}));
    let (v1, e1) = apply(None, &config, "kubectl", false, &[], V, "t1").unwrap();
    // kubectl scale: merge patch {"spec":{"replicas":7}} through /scale.
    let mut v2 = v1.clone();
    crate::patch::apply_merge_patch(&mut v2, &json!({"spec": {"replicas": 7}}));
    let e2 = record_update(Some(&v1), &v2, "kubectl", Some("scale"), V, "t2", &e1);
    set_managed_fields(&mut v2, &e2);
    let err = apply(Some(&v2), &config, "kubectl", false, &e2, V, "t3").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using \
         flotilla.dev/v1alpha1: .spec.replicas"
    );
    let (v3, e3) = apply(Some(&v2), &config, "kubectl", true, &e2, V, "t3").unwrap();
    assert_eq!(v3["spec"]["replicas"], 3);
    assert_eq!(e3.len(), 1, "the scale entry lost its only field: {e3:?}");
}

#[test]
fn entries_are_ordered_like_kubernetes() {
    let v1 = manifest(json!({"replicas": 3}));
    let e1 = record_update(
        None,
        &v1,
        "kubectl-create",
        None,
        V,
        "2026-01-01T00:00:00Z",
        &[],
    );
    let (v2, e2) = apply(
        Some(&v1),
        &manifest(json!({"replicas": 3, "image": "x"})),
        "zz-applier",
        false,
        &e1,
        V,
        "2026-01-02T00:00:00Z",
    )
    .unwrap();
    let mut v3 = v2.clone();
    v3["spec"]["paused"] = json!(true);
    let e3 = record_update(
        Some(&v2),
        &v3,
        "a-editor",
        None,
        V,
        "2026-01-03T00:00:00Z",
        &e2,
    );
    let order: Vec<(&str, Operation)> = e3
        .iter()
        .map(|e| (e.manager.as_str(), e.operation))
        .collect();
    assert_eq!(
        order,
        [
            ("zz-applier", Operation::Apply),
            ("kubectl-create", Operation::Update),
            ("a-editor", Operation::Update)
        ]
    );
}
