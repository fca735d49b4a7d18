//! The CustomResourceDefinitions of every Flotilla kind, generated from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

use crate::{SwarmConfig, SwarmNetwork, SwarmNode, SwarmSecret, SwarmService, Task};

/// All CRDs in a fixed order: SwarmService, Task, SwarmNode, SwarmSecret, SwarmConfig, SwarmNetwork.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        SwarmService::crd(),
        Task::crd(),
        SwarmNode::crd(),
        SwarmSecret::crd(),
        SwarmConfig::crd(),
        SwarmNetwork::crd(),
    ]
    .into_iter()
    .map(without_null_enum_values)
    .collect()
}

/// schemars 1 renders `Option<Enum>` as `enum: [a, b, null]` next to `nullable: true`; the
/// `null` is redundant (nullable already admits it) and trips enum-aware tooling, so drop it.
fn without_null_enum_values(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    values.retain(|v| !v.is_null());
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(&crd).expect("CRDs always serialize");
    walk(&mut value);
    serde_json::from_value(value).expect("only enum values were removed")
}

/// One CRD as a YAML document (no leading `---`).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> String {
    serde_yaml_ng::to_string(crd).expect("CRDs always serialize")
}

/// Every CRD as multi-document YAML, documents separated by `---`.
pub fn crds_yaml() -> String {
    crds()
        .iter()
        .map(|crd| format!("---\n{}", crd_yaml(crd)))
        .collect()
}
