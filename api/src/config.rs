//! `SwarmConfig`: non-sensitive configuration files, stored in plain text.

use k8s_openapi::ByteString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::mounts::Driver;

/// Data is base64 in JSON/YAML, 1 byte to < 500 KiB decoded, immutable.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "SwarmConfig",
    plural = "swarmconfigs",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    shortname = "scfg",
    category = "swarm",
    doc = "A Docker-Swarm-style config (flotilla.dev).",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SwarmConfigSpec {
    /// Base64-encoded payload.
    #[schemars(with = "String", extend("format" = "byte"))]
    pub data: ByteString,
    /// `name: golang` renders the data as a Go template per task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templating: Option<Driver>,
}
