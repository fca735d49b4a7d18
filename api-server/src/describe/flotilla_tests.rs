//! The description layer against Flotilla's real CRDs (`flotilla_api::crds()`) and typed objects,
//! so a renamed field in the api crate shows up here rather than as a blank kubectl column.

use crate::describe::discovery::{
    aggregated_discovery, api_resource_list, DiscoveryFormat, DiscoveryRoot,
};
use crate::describe::openapi::{v2, v3};
use crate::describe::table::{render_table, IncludeObject};
use crate::registry::Registry;
use chrono::{Duration, TimeZone, Utc};
use flotilla_api::{
    SwarmNode, SwarmService, SwarmServiceStatus, Task, TaskSpec, TaskState, TaskStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use prost::Message;
use serde_json::{json, Value};

fn reg() -> Registry {
    Registry::flotilla()
}

#[test]
fn registry_serves_every_flotilla_kind_with_its_subresources() {
    let reg = reg();
    let plurals: Vec<&str> = reg
        .resources_in("flotilla.dev", "v1alpha1")
        .map(|r| r.plural.as_str())
        .collect();
    assert_eq!(
        plurals,
        vec![
            "swarmservices",
            "tasks",
            "swarmnodes",
            "swarmsecrets",
            "swarmconfigs",
            "swarmnetworks"
        ]
    );
    let ssvc = reg
        .get("flotilla.dev", "v1alpha1", "swarmservices")
        .unwrap();
    assert!(ssvc.categories.contains(&"all".to_string()));
    assert_eq!(ssvc.short_names, vec!["ssvc"]);
    assert!(ssvc.status_subresource);
    assert_eq!(
        ssvc.scale.as_ref().unwrap().spec_replicas_path,
        ".spec.mode.replicated.replicas"
    );
    assert!(
        reg.get("flotilla.dev", "v1alpha1", "tasks")
            .unwrap()
            .binding_subresource
    );
    assert!(
        reg.get("flotilla.dev", "v1alpha1", "swarmsecrets")
            .unwrap()
            .encrypted
    );
    assert!(
        !reg.get("flotilla.dev", "v1alpha1", "swarmconfigs")
            .unwrap()
            .encrypted
    );
    assert!(
        !reg.get("flotilla.dev", "v1alpha1", "swarmnodes")
            .unwrap()
            .namespaced
    );
}

#[test]
fn discovery_lists_subresources_of_the_real_kinds() {
    let reg = reg();
    let list = api_resource_list(&reg, "flotilla.dev", "v1alpha1").unwrap();
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for want in [
        "swarmservices",
        "swarmservices/status",
        "swarmservices/scale",
        "tasks/status",
        "tasks/binding",
        "swarmnodes/status",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let agg = aggregated_discovery(&reg, DiscoveryRoot::Apis, DiscoveryFormat::V2);
    assert_eq!(agg["items"][0]["metadata"]["name"], "flotilla.dev");
}

/// `kubectl explain ssvc.spec` prints these descriptions: they come from the api crate's doc comments.
#[test]
fn openapi_v3_carries_descriptions_from_the_api_types() {
    let doc = v3::gv_document(&reg(), "flotilla.dev", "v1alpha1").unwrap();
    let ssvc = &doc["components"]["schemas"]["dev.flotilla.v1alpha1.SwarmService"];
    assert_eq!(
        ssvc["x-kubernetes-group-version-kind"][0]["kind"],
        "SwarmService"
    );
    let spec = &ssvc["properties"]["spec"];
    let mode = spec["properties"]["mode"]["description"]
        .as_str()
        .unwrap_or("");
    assert!(
        mode.contains("replicated"),
        "spec.mode description: {mode:?}"
    );
    assert!(spec["properties"]["taskTemplate"].is_object());
    let text = serde_json::to_string(&doc).unwrap();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
    let v3 = v3::OpenApiV3::build(&reg());
    assert!(v3.root()["paths"]["apis/flotilla.dev/v1alpha1"]["serverRelativeURL"].is_string());
}

#[test]
fn openapi_v2_protobuf_covers_every_kind() {
    let bytes = v2::protobuf(&reg());
    let doc = v2::Document::decode(bytes.as_slice()).unwrap();
    let paths = doc.paths.unwrap().path;
    for kind in flotilla_api::KINDS {
        let yaml = format!("group: \"flotilla.dev\"\nkind: {kind}\nversion: v1alpha1\n");
        let ok = paths
            .iter()
            .filter_map(|p| p.value.as_ref()?.patch.as_ref())
            .any(|op| {
                op.vendor_extension
                    .iter()
                    .any(|e| e.value.as_ref().is_some_and(|v| v.yaml == yaml))
                    && op.parameters.iter().any(|p| {
                        p.parameter
                            .as_ref()
                            .and_then(|p| p.non_body_parameter.as_ref())
                            .and_then(|n| n.query_parameter_sub_schema.as_ref())
                            .is_some_and(|q| q.name == "fieldValidation")
                    })
            });
        assert!(ok, "{kind}");
    }
}

fn time(t: chrono::DateTime<Utc>) -> Time {
    serde_json::from_value(json!(t.to_rfc3339())).unwrap()
}

#[test]
fn tables_render_typed_objects() {
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    let mut web: SwarmService =
        serde_yaml_ng::from_str(include_str!("../../../examples/web.yaml")).unwrap();
    web.metadata.creation_timestamp = Some(time(now - Duration::minutes(4)));
    web.status = Some(SwarmServiceStatus {
        replicas: Some(3),
        running_replicas: Some(2),
        ..Default::default()
    });
    let reg = reg();
    let res = reg
        .get("flotilla.dev", "v1alpha1", "swarmservices")
        .unwrap();
    let t = render_table(
        res,
        &[serde_json::to_value(&web).unwrap()],
        IncludeObject::Metadata,
        true,
        now,
    );
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "web",
            "replicated",
            "2/3",
            "flotilla/web:latest",
            "*:8080->80/tcp",
            "4m"
        ])
    );

    let mut task = Task::new(
        "web.1",
        TaskSpec {
            service_name: "web".into(),
            node_name: Some("node-1".into()),
            desired_state: TaskState::Running,
            ..Default::default()
        },
    );
    std::sync::Arc::make_mut(&mut task.spec.template)
        .container_spec
        .image = "flotilla/web:latest".into();
    task.status = Some(TaskStatus {
        state: Some(TaskState::Running),
        timestamp: Some(time(now - Duration::seconds(6))),
        ..Default::default()
    });
    let res = reg.get("flotilla.dev", "v1alpha1", "tasks").unwrap();
    let t = render_table(
        res,
        &[serde_json::to_value(&task).unwrap()],
        IncludeObject::None,
        true,
        now,
    );
    let cells: Vec<Value> = t["rows"][0]["cells"].as_array().unwrap().clone();
    assert_eq!(
        cells[..6],
        [
            json!("web.1"),
            json!("flotilla/web:latest"),
            json!("node-1"),
            json!("Running"),
            json!("Running 6 seconds ago"),
            json!("")
        ]
    );

    let node: SwarmNode = serde_json::from_value(json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNode", "metadata": {"name": "node-1"},
        "spec": {"availability": "pause", "role": "manager"},
        "status": {"state": "down", "hostname": "h1", "engine": {"engineVersion": "27.3.1"}}
    }))
    .unwrap();
    let res = reg.get("flotilla.dev", "v1alpha1", "swarmnodes").unwrap();
    let t = render_table(
        res,
        &[serde_json::to_value(&node).unwrap()],
        IncludeObject::None,
        true,
        now,
    );
    assert_eq!(
        t["rows"][0]["cells"].as_array().unwrap()[..6],
        [
            json!("node-1"),
            json!("h1"),
            json!("Down"),
            json!("Pause"),
            json!("manager"),
            json!("27.3.1")
        ]
    );
}
