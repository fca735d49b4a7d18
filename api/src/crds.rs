//! The CustomResourceDefinitions of every Flotilla kind, generated from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{SwarmConfig, SwarmNetwork, SwarmNode, SwarmSecret, SwarmService, Task};

/// All CRDs in a fixed order: SwarmService, Task, SwarmNode, SwarmSecret, SwarmConfig, SwarmNetwork.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        SwarmService::crd(),
        Task::crd(),
        SwarmNode::crd(),
        SwarmSecret::crd(),
        SwarmConfig::crd(),
        SwarmNetwork::crd(),
    ]
}

/// One CRD as a YAML document (no leading `---`).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> String {
    serde_yaml::to_string(crd).expect("CRDs always serialize")
}

/// Every CRD as multi-document YAML, documents separated by `---`.
pub fn crds_yaml() -> String {
    crds()
        .iter()
        .map(|crd| format!("---\n{}", crd_yaml(crd)))
        .collect()
}
