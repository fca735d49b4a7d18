use super::*;
use crate::test_support::sample_registry;

fn flotilla_doc() -> Value {
    gv_document(&sample_registry(), "flotilla.dev", "v1alpha1")
        .expect("flotilla.dev/v1alpha1 document")
}

const NS_ITEM: &str = "/apis/flotilla.dev/v1alpha1/namespaces/{namespace}/swarmservices/{name}";

#[test]
fn root_lists_every_group_version_with_a_hash_of_its_document() {
    let v3 = OpenApiV3::build(&sample_registry());
    let paths = v3.root()["paths"].as_object().unwrap();
    let keys: Vec<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "api/v1",
            "apis/coordination.k8s.io/v1",
            "apis/events.k8s.io/v1",
            "apis/flotilla.dev/v1alpha1"
        ]
    );
    let url = paths["apis/flotilla.dev/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let bytes = v3.document("apis/flotilla.dev/v1alpha1").unwrap();
    let expected_hash = sha512_hex(bytes);
    assert_eq!(expected_hash.len(), 128);
    assert_eq!(
        url,
        format!("/openapi/v3/apis/flotilla.dev/v1alpha1?hash={expected_hash}")
    );
    assert_eq!(
        v3.hash("/apis/flotilla.dev/v1alpha1"),
        Some(expected_hash.as_str())
    );
    let doc: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(doc, flotilla_doc());
    assert!(v3.document("apis/apps/v1").is_none());
}

#[test]
fn hash_changes_when_the_document_changes() {
    let a = OpenApiV3::build(&sample_registry());
    let mut crds = crate::test_support::sample_crds();
    crds.truncate(1);
    let b = OpenApiV3::build(&Registry::from_crds(&crds));
    let key = "apis/flotilla.dev/v1alpha1";
    assert_ne!(a.hash(key), b.hash(key));
    assert_eq!(a.hash(key), OpenApiV3::build(&sample_registry()).hash(key));
}

#[test]
fn patch_operations_carry_gvk_field_validation_and_no_strategic_merge() {
    let doc = flotilla_doc();
    let patch = &doc["paths"][NS_ITEM]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "flotilla.dev", "version": "v1alpha1", "kind": "SwarmService"})
    );
    assert_eq!(patch["x-kubernetes-action"], "patch");
    let names: Vec<&str> = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for wanted in ["dryRun", "fieldManager", "fieldValidation", "force"] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    let types: Vec<&str> = patch["requestBody"]["content"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        types,
        vec![
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json"
        ]
    );
    // Every patch operation in every document, subresources included, passes kubectl's check.
    for (group, version) in [
        ("flotilla.dev", "v1alpha1"),
        ("", "v1"),
        ("coordination.k8s.io", "v1"),
    ] {
        let doc = gv_document(&sample_registry(), group, version).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            if let Some(patch) = item.get("patch") {
                let has = patch["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "fieldValidation" && p["in"] == "query");
                assert!(has, "{path}");
                assert!(
                    patch["x-kubernetes-group-version-kind"].is_object(),
                    "{path}"
                );
                assert!(!patch["requestBody"]["content"]
                    .as_object()
                    .unwrap()
                    .contains_key("application/strategic-merge-patch+json"));
            }
        }
    }
}

#[test]
fn collection_item_and_subresource_paths_exist_with_actions() {
    let doc = flotilla_doc();
    let paths = doc["paths"].as_object().unwrap();
    let coll = &paths["/apis/flotilla.dev/v1alpha1/namespaces/{namespace}/swarmservices"];
    assert_eq!(coll["get"]["x-kubernetes-action"], "list");
    assert_eq!(coll["post"]["x-kubernetes-action"], "post");
    assert_eq!(coll["delete"]["x-kubernetes-action"], "deletecollection");
    assert_eq!(
        coll["post"]["operationId"],
        "createFlotillaDevV1alpha1NamespacedSwarmService"
    );
    let post_params: Vec<&str> = coll["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        post_params.contains(&"fieldValidation")
            && post_params.contains(&"dryRun")
            && post_params.contains(&"fieldManager")
    );
    for method in ["get", "put", "patch", "delete"] {
        assert!(paths[NS_ITEM][method].is_object(), "{method}");
    }
    assert_eq!(paths[NS_ITEM]["parameters"][1]["name"], "name");
    assert!(
        paths.contains_key("/apis/flotilla.dev/v1alpha1/swarmservices"),
        "all-namespaces list"
    );
    assert_eq!(
        paths[&format!("{NS_ITEM}/status")]["patch"]["x-kubernetes-group-version-kind"]["kind"],
        "SwarmService"
    );
    let scale = &paths[&format!("{NS_ITEM}/scale")];
    assert_eq!(
        scale["get"]["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    let binding = "/apis/flotilla.dev/v1alpha1/namespaces/{namespace}/tasks/{name}/binding";
    assert_eq!(
        paths[binding]["post"]["x-kubernetes-group-version-kind"]["kind"],
        "Binding"
    );
    // Cluster-scoped: no namespace segment.
    assert!(paths.contains_key("/apis/flotilla.dev/v1alpha1/swarmnodes/{name}"));
    // Core paths live under /api/v1.
    let core = gv_document(&sample_registry(), "", "v1").unwrap();
    assert!(core["paths"]
        .as_object()
        .unwrap()
        .contains_key("/api/v1/namespaces/{namespace}/events"));
    assert!(core["paths"]
        .as_object()
        .unwrap()
        .contains_key("/api/v1/namespaces/{name}"));
}

#[test]
fn schemas_carry_gvk_lists_descriptions_and_object_meta() {
    let doc = flotilla_doc();
    let schemas = &doc["components"]["schemas"];
    let ssvc = &schemas["dev.flotilla.v1alpha1.SwarmService"];
    assert_eq!(
        ssvc["x-kubernetes-group-version-kind"],
        json!([{"group": "flotilla.dev", "kind": "SwarmService", "version": "v1alpha1"}])
    );
    assert_eq!(
        ssvc["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(ssvc["properties"]["apiVersion"]["description"].is_string());
    assert_eq!(
        ssvc["properties"]["spec"]["description"],
        "Desired state of the service, as in Swarm's ServiceSpec."
    );
    assert_eq!(
        ssvc["properties"]["spec"]["properties"]["replicas"]["description"],
        "Number of tasks to run."
    );
    let list = &schemas["dev.flotilla.v1alpha1.SwarmServiceList"];
    assert_eq!(
        list["x-kubernetes-group-version-kind"][0]["kind"],
        "SwarmServiceList"
    );
    let meta = &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"];
    assert!(meta["properties"]["labels"]["description"]
        .as_str()
        .unwrap()
        .contains("organize"));
    // Every $ref resolves inside the same document.
    let text = serde_json::to_string(&doc).unwrap();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(schemas.get(name).is_some(), "dangling $ref {name}");
    }
    let lease = gv_document(&sample_registry(), "coordination.k8s.io", "v1").unwrap();
    assert!(
        lease["components"]["schemas"]["io.k8s.api.coordination.v1.Lease"]
            ["x-kubernetes-group-version-kind"]
            .is_array()
    );
}

#[test]
fn schema_names_follow_kube_apiserver() {
    use super::super::operations::schema_name;
    assert_eq!(
        schema_name("flotilla.dev", "v1alpha1", "SwarmService"),
        "dev.flotilla.v1alpha1.SwarmService"
    );
    assert_eq!(
        schema_name("coordination.k8s.io", "v1", "Lease"),
        "io.k8s.api.coordination.v1.Lease"
    );
    assert_eq!(
        schema_name("", "v1", "Namespace"),
        "io.k8s.api.core.v1.Namespace"
    );
    assert_eq!(gv_key("", "v1"), "api/v1");
    assert_eq!(
        gv_key("flotilla.dev", "v1alpha1"),
        "apis/flotilla.dev/v1alpha1"
    );
}
