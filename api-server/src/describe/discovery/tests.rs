use super::*;
use crate::test_support::sample_registry;

const KUBECTL_127: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const KUBECTL_133: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[test]
fn negotiation_follows_exactly_what_the_client_listed() {
    assert_eq!(
        negotiate_discovery(Some(KUBECTL_127)),
        DiscoveryFormat::V2Beta1
    );
    assert_eq!(negotiate_discovery(Some(KUBECTL_133)), DiscoveryFormat::V2);
    assert_eq!(negotiate_discovery(None), DiscoveryFormat::Legacy);
    assert_eq!(
        negotiate_discovery(Some("application/json, */*")),
        DiscoveryFormat::Legacy
    );
    assert_eq!(negotiate_discovery(Some("*/*")), DiscoveryFormat::Legacy);
    // Parameters in any order, spaces tolerated.
    let reordered = "application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io";
    assert_eq!(negotiate_discovery(Some(reordered)), DiscoveryFormat::V2);
    // Wrong group, wrong kind, protobuf, unknown version or q=0 are not aggregated requests.
    for accept in [
        "application/json;g=other.io;v=v2;as=APIGroupDiscoveryList",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupList",
        "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0",
    ] {
        assert_eq!(
            negotiate_discovery(Some(accept)),
            DiscoveryFormat::Legacy,
            "{accept}"
        );
    }
}

#[test]
fn content_types_are_exact() {
    assert_eq!(
        DiscoveryFormat::V2.content_type(),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(
        DiscoveryFormat::V2Beta1.content_type(),
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    );
    assert_eq!(DiscoveryFormat::Legacy.content_type(), "application/json");
}

#[test]
fn version_reports_kubernetes_1_30_and_flotilla_version() {
    let v = version_info();
    assert_eq!(v["major"], "1");
    assert_eq!(v["minor"], "30");
    assert!(v["gitVersion"].as_str().unwrap().starts_with("v1.30."));
    assert_eq!(v["flotillaVersion"], env!("CARGO_PKG_VERSION"));
    for field in [
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ] {
        assert!(v[field].is_string(), "{field}");
    }
}

#[test]
fn root_documents_follow_the_negotiated_format() {
    let reg = sample_registry();
    let (ct, api) = discovery_root(&reg, DiscoveryRoot::Api, None, "127.0.0.1:6443");
    assert_eq!(ct, "application/json");
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));
    assert_eq!(
        api["serverAddressByClientCIDRs"][0]["serverAddress"],
        "127.0.0.1:6443"
    );

    let (_, apis) = discovery_root(
        &reg,
        DiscoveryRoot::Apis,
        Some("application/json, */*"),
        "x",
    );
    assert_eq!(apis["kind"], "APIGroupList");
    let names: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["flotilla.dev", "coordination.k8s.io", "events.k8s.io"]
    );
    assert_eq!(
        apis["groups"][0]["preferredVersion"]["groupVersion"],
        "flotilla.dev/v1alpha1"
    );

    let (ct, agg) = discovery_root(&reg, DiscoveryRoot::Apis, Some(KUBECTL_127), "x");
    assert_eq!(ct, DiscoveryFormat::V2Beta1.content_type());
    assert_eq!(agg["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    assert_eq!(agg["items"].as_array().unwrap().len(), 3);

    let (_, core) = discovery_root(&reg, DiscoveryRoot::Api, Some(KUBECTL_133), "x");
    assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
    assert_eq!(core["items"][0]["metadata"]["name"], "");
    let core_resources = &core["items"][0]["versions"][0]["resources"];
    assert!(core_resources
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["resource"] == "namespaces"));
}

#[test]
fn aggregated_resources_describe_scope_names_and_subresources() {
    let reg = sample_registry();
    let agg = aggregated_discovery(&reg, DiscoveryRoot::Apis, DiscoveryFormat::V2);
    let flotilla = &agg["items"][0];
    assert_eq!(flotilla["metadata"]["name"], "flotilla.dev");
    let version = &flotilla["versions"][0];
    assert_eq!(version["version"], "v1alpha1");
    assert_eq!(version["freshness"], "Current");
    let find = |name: &str| {
        version["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == name)
            .cloned()
            .unwrap()
    };
    let ssvc = find("swarmservices");
    assert_eq!(ssvc["scope"], "Namespaced");
    assert_eq!(ssvc["singularResource"], "swarmservice");
    assert_eq!(
        ssvc["responseKind"],
        json!({"group": "flotilla.dev", "version": "v1alpha1", "kind": "SwarmService"})
    );
    assert_eq!(ssvc["shortNames"], json!(["ssvc"]));
    assert!(ssvc["categories"]
        .as_array()
        .unwrap()
        .contains(&json!("all")));
    assert_eq!(ssvc["subresources"][0]["subresource"], "status");
    assert_eq!(
        ssvc["subresources"][1]["responseKind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    assert_eq!(find("swarmnodes")["scope"], "Cluster");
    let task_subs = find("tasks")["subresources"].clone();
    let binding = task_subs
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["subresource"] == "binding")
        .unwrap();
    assert_eq!(binding["verbs"], json!(["create"]));
}

#[test]
fn resource_lists_always_have_singular_name_and_verbs() {
    let reg = sample_registry();
    for g in reg.groups() {
        for v in &g.versions {
            let list = api_resource_list(&reg, &g.name, v).unwrap();
            assert_eq!(list["kind"], "APIResourceList");
            for r in list["resources"].as_array().unwrap() {
                assert!(r["singularName"].is_string(), "{r}");
                assert!(r["verbs"].is_array(), "{r}");
            }
        }
    }
    let list = api_resource_list(&reg, "flotilla.dev", "v1alpha1").unwrap();
    assert_eq!(list["groupVersion"], "flotilla.dev/v1alpha1");
    let entry = |name: &str| {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        entry("swarmservices")["verbs"],
        json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ])
    );
    assert_eq!(
        entry("swarmservices/status"),
        json!({"name": "swarmservices/status", "singularName": "", "namespaced": true, "kind": "SwarmService", "verbs": ["get", "patch", "update"]})
    );
    assert_eq!(
        entry("swarmservices/scale"),
        json!({"name": "swarmservices/scale", "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
    );
    assert_eq!(entry("tasks/binding")["verbs"], json!(["create"]));
    assert_eq!(entry("tasks/status")["kind"], "Task");
    assert_eq!(
        api_resource_list(&reg, "", "v1").unwrap()["groupVersion"],
        "v1"
    );
    assert!(api_resource_list(&reg, "apps", "v1").is_none());
}

#[test]
fn api_group_serves_named_groups_only() {
    let reg = sample_registry();
    let g = api_group(&reg, "coordination.k8s.io").unwrap();
    assert_eq!(g["kind"], "APIGroup");
    assert_eq!(
        g["versions"],
        json!([{"groupVersion": "coordination.k8s.io/v1", "version": "v1"}])
    );
    assert!(api_group(&reg, "").is_none());
    assert!(api_group(&reg, "nope.io").is_none());
}

/// The documents deserialize into the client libraries' own types (kube-rs, k8s-openapi), which is
/// what `Discovery::run()` / `run_aggregated()` and `kubectl` do with them.
#[test]
fn documents_decode_with_client_types() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        APIGroup, APIGroupList, APIResourceList, APIVersions,
    };
    use kube::core::discovery::v2::APIGroupDiscoveryList;
    let reg = sample_registry();
    let versions: APIVersions = serde_json::from_value(legacy_api_versions(&reg, "h:1")).unwrap();
    assert_eq!(versions.versions, vec!["v1"]);
    let groups: APIGroupList = serde_json::from_value(api_group_list(&reg)).unwrap();
    assert_eq!(groups.groups.len(), 3);
    let group: APIGroup = serde_json::from_value(api_group(&reg, "flotilla.dev").unwrap()).unwrap();
    assert_eq!(group.preferred_version.unwrap().version, "v1alpha1");
    for (g, v) in [
        ("", "v1"),
        ("flotilla.dev", "v1alpha1"),
        ("coordination.k8s.io", "v1"),
    ] {
        let list: APIResourceList =
            serde_json::from_value(api_resource_list(&reg, g, v).unwrap()).unwrap();
        assert!(!list.resources.is_empty());
    }
    let agg: APIGroupDiscoveryList = serde_json::from_value(aggregated_discovery(
        &reg,
        DiscoveryRoot::Apis,
        DiscoveryFormat::V2,
    ))
    .unwrap();
    let ssvc = &agg.items[0].versions[0].resources[0];
    assert_eq!(ssvc.resource.as_deref(), Some("swarmservices"));
    assert_eq!(ssvc.subresources.len(), 2);
}
