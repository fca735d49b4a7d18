//! Container mounts (Swarm's `Mount`): bind, volume and tmpfs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A filesystem mounted into the task's container. `target` is required and unique per spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// bind, volume or tmpfs. Defaults to `volume`, like `docker service create --mount`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<MountType>,
    /// Host path (bind, must be absolute) or volume name (volume; empty = anonymous volume).
    /// Must be empty for tmpfs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Path inside the container.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<MountConsistency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Volume,
    Tmpfs,
}

impl MountType {
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Volume => "volume",
            MountType::Tmpfs => "tmpfs",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MountConsistency {
    Default,
    Consistent,
    Cached,
    Delegated,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindOptions {
    /// Mount propagation; the runtime's default is `rprivate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_recursive: Option<bool>,
    /// Create the host path if missing (CLI `bind-create-src`); otherwise a missing source fails the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_mountpoint: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only_non_recursive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only_force_recursive: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Rprivate,
    Private,
    Rshared,
    Shared,
    Rslave,
    Slave,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeOptions {
    /// Do not copy the image's content at the target into a new volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_copy: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Volume driver; `name` defaults to `local`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<Driver>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// A named driver with options (volume drivers, log drivers, secret templating).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Driver {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TmpfsOptions {
    /// Size limit in bytes; unlimited when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Permission bits of the tmpfs root as a number (JSON has no octal: 1023 = 0o1777, the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<i64>,
    /// Raw mount options, comma separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}
