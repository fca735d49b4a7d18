//! Synthetic CRDs for unit tests, shaped like the ones `flotilla_api::crds()` generates, so the
//! discovery/OpenAPI/table code is tested independently of the real types.

use crate::registry::Registry;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Value};

fn crd(
    kind: &str,
    plural: &str,
    scope: &str,
    extra_names: Value,
    subresources: Value,
    spec: Value,
) -> CustomResourceDefinition {
    let mut names = json!({"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()});
    names
        .as_object_mut()
        .unwrap()
        .extend(extra_names.as_object().unwrap().clone());
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.flotilla.dev")},
        "spec": {
            "group": "flotilla.dev",
            "names": names,
            "scope": scope,
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "subresources": subresources,
                "schema": {"openAPIV3Schema": {
                    "description": format!("{kind} is a test resource."),
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": spec,
                        "status": {"type": "object", "nullable": true, "x-kubernetes-preserve-unknown-fields": true}
                    }
                }}
            }]
        }
    }))
    .expect("valid CRD")
}

pub(crate) fn sample_crds() -> Vec<CustomResourceDefinition> {
    let service_spec = json!({
        "type": "object",
        "description": "Desired state of the service, as in Swarm's ServiceSpec.",
        "properties": {
            "replicas": {"type": "integer", "format": "int32", "description": "Number of tasks to run."},
            "image": {"type": "string", "description": "Container image."}
        }
    });
    vec![
        crd(
            "SwarmService",
            "swarmservices",
            "Namespaced",
            json!({"shortNames": ["ssvc"], "categories": ["all", "swarm"]}),
            json!({"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}),
            service_spec,
        ),
        crd(
            "Task",
            "tasks",
            "Namespaced",
            json!({"categories": ["swarm"]}),
            json!({"status": {}}),
            json!({"type": "object"}),
        ),
        crd(
            "SwarmNode",
            "swarmnodes",
            "Cluster",
            json!({"shortNames": ["snode"]}),
            json!({"status": {}}),
            json!({"type": "object"}),
        ),
        crd(
            "SwarmSecret",
            "swarmsecrets",
            "Namespaced",
            json!({}),
            json!({}),
            json!({"type": "object"}),
        ),
    ]
}

pub(crate) fn sample_registry() -> Registry {
    Registry::from_crds(&sample_crds())
}
