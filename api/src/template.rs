//! The task template (Swarm's `TaskSpec`): what each task of a service runs and where.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::container::ContainerSpec;
use crate::mounts::Driver;

/// Template copied into every task. Any change (except constraint-only changes on nodes that
/// still match) redeploys the tasks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskTemplate {
    pub container_spec: ContainerSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// SwarmNetworks (same namespace) the tasks attach to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkAttachmentConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<Driver>,
    /// Counter: bumping it redeploys every task (`docker service update --force`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_update: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// Enforced by the runtime (cgroups) only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resources>,
    /// Drive scheduling: a node must have this much unreserved capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resources>,
    /// Swap limit in bytes; -1 = unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
}

/// An amount of CPU and memory. Also used for node capacity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU in units of 1e-9 CPUs (1000000000 = one CPU). Non-zero values must be ≥ 1000000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// Memory in bytes. Non-zero values must be ≥ 4 MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<i64>,
    /// Generic resources such as GPUs (`{kind: GPU, namedValue: UUID}` or `{kind: SSD, discreteValue: 2}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic: Vec<GenericResource>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenericResource {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discrete_value: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestartPolicy {
    /// Default `any` (`on-failure` for jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<RestartCondition>,
    /// Wait between a task stopping and its replacement starting. Default `5s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// 0 = unlimited (default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
    /// Window for counting attempts; `0s` (default) = the task's lifetime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    None,
    OnFailure,
    Any,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// `key==value` / `key!=value`, all ANDed. Keys: node.id, node.hostname, node.role,
    /// node.platform.os, node.platform.arch, node.ip, node.labels.<k>, engine.labels.<k>.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Soft spread preferences, first = highest precedence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
    /// Hard limit of this service's tasks per node; 0/unset = unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i64>,
    /// A node must match one (empty field = wildcard).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementPreference {
    pub spread: SpreadOver,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpreadOver {
    /// `node.labels.<k>` or `engine.labels.<k>`.
    pub spread_descriptor: String,
}

/// OS and CPU architecture (`linux`/`amd64`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAttachmentConfig {
    /// SwarmNetwork name.
    pub target: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}
