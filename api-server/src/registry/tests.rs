use super::*;
use crate::test_support::sample_registry;

#[test]
fn crd_resources_carry_names_scope_and_subresources() {
    let reg = sample_registry();
    let ssvc = reg
        .get("flotilla.dev", "v1alpha1", "swarmservices")
        .expect("swarmservices");
    assert_eq!(ssvc.kind, "SwarmService");
    assert_eq!(ssvc.list_kind, "SwarmServiceList");
    assert_eq!(ssvc.singular, "swarmservice");
    assert!(ssvc.namespaced);
    assert_eq!(ssvc.short_names, vec!["ssvc"]);
    assert!(ssvc.categories.contains(&"all".to_string()));
    assert!(ssvc.status_subresource);
    assert_eq!(
        ssvc.scale.as_ref().unwrap().spec_replicas_path,
        ".spec.replicas"
    );
    assert_eq!(ssvc.api_version(), "flotilla.dev/v1alpha1");
    assert_eq!(ssvc.group_resource(), "swarmservices.flotilla.dev");
    assert_eq!(ssvc.gv_path(), "/apis/flotilla.dev/v1alpha1");
    assert_eq!(
        ssvc.schema["properties"]["spec"]["properties"]["replicas"]["type"],
        "integer"
    );
    assert!(!ssvc.encrypted);
    assert!(!ssvc.binding_subresource);

    let node = reg.get("flotilla.dev", "v1alpha1", "swarmnodes").unwrap();
    assert!(!node.namespaced);
    let task = reg.get("flotilla.dev", "v1alpha1", "tasks").unwrap();
    assert!(task.binding_subresource);
    assert!(
        reg.get("flotilla.dev", "v1alpha1", "swarmsecrets")
            .unwrap()
            .encrypted
    );
}

#[test]
fn builtins_are_served_and_core_is_never_empty() {
    let reg = sample_registry();
    let lease = reg.get("coordination.k8s.io", "v1", "leases").unwrap();
    assert!(lease.namespaced);
    assert_eq!(lease.api_version(), "coordination.k8s.io/v1");
    assert!(reg.get("events.k8s.io", "v1", "events").unwrap().namespaced);
    let core_events = reg.get("", "v1", "events").unwrap();
    assert_eq!(core_events.api_version(), "v1");
    assert_eq!(core_events.gv_path(), "/api/v1");
    let ns = reg.get("", "v1", "namespaces").unwrap();
    assert!(!ns.namespaced);
    assert_eq!(ns.group_resource(), "namespaces");
    assert!(Registry::from_crds(&[]).resources_in("", "v1").count() >= 1);
}

#[test]
fn groups_list_core_and_every_api_group_once() {
    let names: Vec<String> = sample_registry()
        .groups()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(
        names,
        vec!["flotilla.dev", "", "coordination.k8s.io", "events.k8s.io"]
    );
    assert!(sample_registry().group("flotilla.dev").is_some());
    assert!(sample_registry().group("apps").is_none());
}

#[test]
fn versions_sort_by_kubernetes_priority() {
    let mut v = vec![
        "v1alpha1",
        "foo",
        "v2",
        "v1beta1",
        "v1",
        "v1beta2",
        "v10alpha1",
    ];
    v.sort_by(|a, b| compare_versions(a, b));
    assert_eq!(
        v,
        vec![
            "v2",
            "v1",
            "v1beta2",
            "v1beta1",
            "v10alpha1",
            "v1alpha1",
            "foo"
        ]
    );
}

#[test]
fn review_resources_are_create_only_and_cluster_scoped() {
    let resources = builtins::review_resources();
    assert_eq!(resources.len(), 5);
    assert!(resources
        .iter()
        .all(|r| r.verbs == ["create"] && !r.namespaced && r.version == "v1"));
}
