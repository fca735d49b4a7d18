use super::*;
use crate::patch::fieldset::FieldPath;
use serde_json::json;

const V: &str = "flotilla.dev/v1alpha1";

fn svc(replicas: i64, labels: Value) -> Value {
    json!({"apiVersion": V, "kind": "SwarmService",
           "metadata": {"name": "web", "namespace": "default", "uid": "u1", "labels": labels},
           "spec": {"replicas": replicas, "image": "nginx"},
           "status": {"replicas": 0}})
}

fn entry<'a>(entries: &'a [ManagedFieldsEntry], manager: &str) -> &'a ManagedFieldsEntry {
    entries
        .iter()
        .find(|e| e.manager == manager)
        .unwrap_or_else(|| panic!("no {manager}"))
}

#[test]
fn create_records_every_field_except_ignored_ones_and_status() {
    let obj = svc(3, json!({"app": "web"}));
    let entries = record_update(
        None,
        &obj,
        "kubectl-create",
        None,
        V,
        "2026-11-25T08:00:00Z",
        &[],
    );
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        serde_json::to_value(e).unwrap(),
        json!({"manager": "kubectl-create", "operation": "Update", "apiVersion": V,
               "time": "2026-11-25T08:00:00Z", "fieldsType": "FieldsV1",
               "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:image": {}, "f:replicas": {}}}})
    );
}

#[test]
fn label_and_scale_take_ownership_from_the_creator() {
    let v1 = svc(3, json!({"app": "web"}));
    let created = record_update(None, &v1, "kubectl-client-side-apply", None, V, "t1", &[]);
    let v2 = svc(3, json!({"app": "web", "tier": "fe"}));
    let labelled = record_update(Some(&v1), &v2, "kubectl-label", None, V, "t2", &created);
    assert_eq!(
        entry(&labelled, "kubectl-label").fields_v1,
        json!({"f:metadata": {"f:labels": {"f:tier": {}}}})
    );
    let v3 = svc(7, json!({"app": "web", "tier": "fe"}));
    let scaled = record_update(Some(&v2), &v3, "kubectl-scale", None, V, "t3", &labelled);
    assert_eq!(
        entry(&scaled, "kubectl-scale").fields_v1,
        json!({"f:spec": {"f:replicas": {}}})
    );
    let csa = entry(&scaled, "kubectl-client-side-apply");
    assert_eq!(
        csa.fields_v1,
        json!({"f:metadata": {"f:labels": {"f:app": {}}},
                                     "f:spec": {"f:image": {}}})
    );
    assert_eq!(
        csa.time.as_deref(),
        Some("t1"),
        "untouched managers keep their time"
    );
}

#[test]
fn removing_fields_drops_them_everywhere_and_empty_managers_disappear() {
    let v1 = svc(3, json!({"app": "web"}));
    let entries = record_update(None, &v1, "creator", None, V, "t1", &[]);
    let entries = record_update(
        Some(&v1),
        &svc(3, json!({"app": "web", "x": "1"})),
        "labeler",
        None,
        V,
        "t2",
        &entries,
    );
    let v3 = svc(3, json!({"app": "web"}));
    let entries = record_update(
        Some(&svc(3, json!({"app": "web", "x": "1"}))),
        &v3,
        "editor",
        None,
        V,
        "t3",
        &entries,
    );
    let managers: Vec<&str> = entries.iter().map(|e| e.manager.as_str()).collect();
    assert_eq!(
        managers,
        ["creator"],
        "labeler lost its only field, editor changed nothing kept"
    );
}

/// `v1` with `status.replicas` 3, written through the status subresource by the controller at t2.
fn controller_sets_status_replicas(
    v1: &Value,
    entries: &[ManagedFieldsEntry],
) -> (Value, Vec<ManagedFieldsEntry>) {
    let mut v2 = v1.clone();
    v2["status"]["replicas"] = json!(3);
    let entries = record_update(
        Some(v1),
        &v2,
        "flotilla-controller",
        Some("status"),
        V,
        "t2",
        entries,
    );
    (v2, entries)
}

#[test]
fn status_subresource_writes_track_status_only() {
    let v1 = svc(3, json!({"app": "web"}));
    let entries = record_update(None, &v1, "kubectl-create", None, V, "t1", &[]);
    let (_, entries) = controller_sets_status_replicas(&v1, &entries);
    let ctrl = entry(&entries, "flotilla-controller");
    assert_eq!(ctrl.subresource.as_deref(), Some("status"));
    assert_eq!(ctrl.fields_v1, json!({"f:status": {"f:replicas": {}}}));
    assert_eq!(serde_json::to_value(ctrl).unwrap()["subresource"], "status");
}

#[test]
fn a_manager_whose_fields_a_write_leaves_alone_keeps_its_entry_as_it_was() {
    let v1 = svc(3, json!({"app": "web"}));
    // Written by another client in a form this server would not produce itself (a "." leaf).
    let mut creator = record_update(None, &v1, "kubectl-create", None, V, "t1", &[]);
    creator[0].fields_v1["f:metadata"]["."] = json!({});
    let (v2, entries) = controller_sets_status_replicas(&v1, &creator);
    assert_eq!(entry(&entries, "kubectl-create"), &creator[0]);
    // One that loses a field is written anew.
    let mut v3 = v2.clone();
    v3["spec"]["replicas"] = json!(5);
    let entries = record_update(Some(&v2), &v3, "kubectl-scale", None, V, "t3", &entries);
    let creator_now = entry(&entries, "kubectl-create");
    assert_eq!(creator_now.time.as_deref(), Some("t1"));
    assert!(creator_now.fields_v1["f:spec"].get("f:replicas").is_none());
}

#[test]
fn managed_fields_round_trip_on_objects() {
    let mut obj = svc(3, json!({}));
    assert_eq!(managed_fields_of(&obj).unwrap(), vec![]);
    let entries = record_update(None, &obj, "m", None, V, "t", &[]);
    set_managed_fields(&mut obj, &entries);
    assert_eq!(managed_fields_of(&obj).unwrap(), entries);
    assert_eq!(
        obj["metadata"]["managedFields"][0]["fieldsType"],
        "FieldsV1"
    );
    set_managed_fields(&mut obj, &[]);
    assert!(obj["metadata"].get("managedFields").is_none());
    obj["metadata"]["managedFields"] = json!([{"manager": "m", "operation": "Bogus"}]);
    let err = managed_fields_of(&obj).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("metadata.managedFields: unknown variant `Bogus`"),
        "{err}"
    );
}

#[test]
fn no_op_writes_leave_managed_fields_alone() {
    let v1 = svc(3, json!({"app": "web"}));
    let entries = record_update(None, &v1, "kubectl-create", None, V, "t1", &[]);
    let same = record_update(
        Some(&v1),
        &v1.clone(),
        "kubectl-edit",
        None,
        V,
        "t2",
        &entries,
    );
    assert_eq!(same, entries, "no kubectl-edit entry, no new timestamp");
    let mut status_only = v1.clone();
    status_only["status"]["replicas"] = json!(5);
    let main = record_update(
        Some(&v1),
        &status_only,
        "kubectl-edit",
        None,
        V,
        "t2",
        &entries,
    );
    assert_eq!(
        main, entries,
        "status changes through the main resource are not tracked"
    );
}

#[test]
fn into_value_writes_what_serialize_writes() {
    let full = ManagedFieldsEntry {
        manager: "kubectl".into(),
        operation: Operation::Apply,
        api_version: "flotilla.dev/v1alpha1".into(),
        time: Some("2026-12-01T00:00:00Z".into()),
        fields_type: "FieldsV1".into(),
        fields_v1: json!({"f:spec": {"f:replicas": {}}}),
        subresource: Some("status".into()),
    };
    let bare = ManagedFieldsEntry {
        api_version: String::new(),
        time: None,
        subresource: None,
        operation: Operation::Update,
        ..full.clone()
    };
    for entry in [full, bare] {
        assert_eq!(
            entry.clone().into_value(),
            serde_json::to_value(&entry).unwrap()
        );
    }
}

#[test]
fn another_status_writer_takes_the_fields_it_changes_from_the_one_before() {
    let v1 = svc(3, json!({"app": "web"}));
    let created = record_update(None, &v1, "kubectl-create", None, V, "t1", &[]);
    let (v2, entries) = controller_sets_status_replicas(&v1, &created);
    let mut v3 = v2.clone();
    v3["status"]["replicas"] = json!(4);
    v3["status"]["ready"] = json!(true);
    let entries = record_update(Some(&v2), &v3, "agent", Some("status"), V, "t3", &entries);
    assert!(entries.iter().all(|e| e.manager != "flotilla-controller"));
    let agent = entry(&entries, "agent");
    assert_eq!(
        agent.fields_v1,
        json!({"f:status": {"f:ready": {}, "f:replicas": {}}})
    );
    assert_eq!(entry(&entries, "kubectl-create"), &created[0]);
}

#[test]
fn only_entries_that_may_own_a_changed_path_are_decoded() {
    let field =
        |names: &[&str]| -> FieldPath { names.iter().map(|n| PathElement::field(n)).collect() };
    let tree = json!({"f:spec": {"f:replicas": {}, "f:template": {".": {}, "f:image": {}},
                                "f:ports": {}},
                      "f:status": {"f:state": {}}});
    assert!(may_own(&tree, &field(&["spec", "replicas"])));
    assert!(
        may_own(&tree, &field(&["spec", "template"])),
        "marked with a dot"
    );
    assert!(
        !may_own(&tree, &field(&["spec"])),
        "only a parent of owned fields"
    );
    assert!(!may_own(&tree, &field(&["status", "message"])));
    assert!(!may_own(&tree, &field(&["metadata", "labels"])));
    let mut item = field(&["spec", "ports"]);
    item.push(PathElement::Key(r#"{"port":80}"#.into()));
    assert!(may_own(&tree, &item), "list items are left to the decoder");
    let mut elsewhere = field(&["spec", "volumes"]);
    elsewhere.push(PathElement::Key(r#"{"name":"a"}"#.into()));
    assert!(!may_own(&tree, &elsewhere), "under a field it does not own");
    let changes = |path: FieldPath| Changes {
        changed: [path].into_iter().collect(),
        removed: FieldSet::new(),
    };
    assert!(!may_own_any(&tree, &changes(field(&["status", "message"]))));
    assert!(may_own_any(
        &json!({}),
        &changes(field(&["status", "message"]))
    ));
    assert!(may_own_any(
        &json!([]),
        &changes(field(&["status", "message"]))
    ));
}
