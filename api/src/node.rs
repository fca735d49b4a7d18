//! `SwarmNode`: a machine that runs tasks (cluster-scoped). Its labels are `metadata.labels`
//! (matched by `node.labels.<k>` constraints).

// Repeated `printcolumn(type_ = …)` arguments are distinct columns, not duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::template::{Platform, Resources};

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "SwarmNode",
    plural = "swarmnodes",
    status = "SwarmNodeStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "snode",
    category = "swarm",
    category = "all",
    doc = "A Docker-Swarm-style node that runs tasks (flotilla.dev).",
    printcolumn(name = "Status", type_ = "string", json_path = ".status.state"),
    printcolumn(
        name = "Availability",
        type_ = "string",
        json_path = ".spec.availability"
    ),
    printcolumn(name = "Role", type_ = "string", json_path = ".spec.role"),
    printcolumn(name = "Address", type_ = "string", json_path = ".status.addr"),
    printcolumn(
        name = "Engine Version",
        type_ = "string",
        json_path = ".status.engine.engineVersion"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SwarmNodeSpec {
    /// `active` (default), `pause` (keep tasks, take no new ones) or `drain` (move tasks away).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability: Option<NodeAvailability>,
    /// `worker` (default) or `manager`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<NodeRole>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeAvailability {
    Active,
    Pause,
    Drain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Worker,
    Manager,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwarmNodeStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<NodeState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Address other nodes reach this one at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Total capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineDescription>,
    /// The node's load-balancer address on each SwarmNetwork it serves (Swarm's
    /// `Node.Attachments`, its `lb-<network>` endpoint): written by the controller-manager's
    /// allocator; the node's VIP proxy connects to remote tasks from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_attachments: Vec<NodeNetworkAttachment>,
}

/// A node's address on one SwarmNetwork (networks are namespaced, nodes are not).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeNetworkAttachment {
    pub namespace: String,
    /// SwarmNetwork name.
    pub network: String,
    /// Addresses in CIDR notation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Unknown,
    Down,
    Ready,
    Disconnected,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EngineDescription {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Engine labels, matched by `engine.labels.<k>` constraints.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}
