//! `SwarmNetwork`: an overlay network; the allocator hands out VIPs and task addresses from it.

// Repeated `printcolumn(type_ = …)` arguments are distinct columns, not duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Networks are immutable except for their labels (Swarm has no network update).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "SwarmNetwork",
    plural = "swarmnetworks",
    namespaced,
    status = "SwarmNetworkStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "snet",
    category = "swarm",
    doc = "A Docker-Swarm-style overlay network (flotilla.dev).",
    printcolumn(name = "Driver", type_ = "string", json_path = ".spec.driver"),
    printcolumn(name = "Subnet", type_ = "string", json_path = ".spec.subnet"),
    printcolumn(name = "Ingress", type_ = "boolean", json_path = ".spec.ingress"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SwarmNetworkSpec {
    /// Only `overlay` (the default) is supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The routing-mesh network (at most one should exist). Default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<bool>,
    /// IPv4 or IPv6 CIDR, e.g. `10.0.1.0/24`; allocated automatically when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Must lie inside `subnet`; defaults to its first address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Standalone containers may attach. Default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachable: Option<bool>,
    /// No route outside the network: tasks reach each other but nothing beyond (Swarm's
    /// `--internal`). Default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,
    /// Network labels (distinct from the object's metadata.labels, like `docker network create --label`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwarmNetworkStatus {
    /// The allocator accepted the network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated: Option<bool>,
    /// Subnet in use (the spec's, or the one allocated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The VXLAN network identifier of the overlay between nodes, unique per network (Swarm
    /// assigns VXLAN IDs from 4096).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
}
