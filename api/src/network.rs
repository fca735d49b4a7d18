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

/// The part of an attachable network's subnet (`10.0.1.0/24`) kept for standalone containers
/// (`docker run --network`), which get their addresses from the engine rather than from the
/// allocator: the top quarter (`10.0.1.192/26`). The allocator hands no task or VIP an address
/// there. `None` for a subnet smaller than /28, or one that is not an IPv4 CIDR.
pub fn standalone_range(subnet: &str) -> Option<String> {
    let (addr, prefix) = subnet.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    if !(8..=28).contains(&prefix) {
        return None;
    }
    let size = 1u32 << (32 - prefix);
    let base = u32::from(addr) & !(size - 1);
    let start = std::net::Ipv4Addr::from(base + size / 4 * 3);
    Some(format!("{start}/{}", prefix + 2))
}

#[cfg(test)]
mod tests {
    use super::standalone_range;

    #[test]
    fn standalone_containers_get_the_top_quarter_of_the_subnet() {
        assert_eq!(
            standalone_range("10.0.1.0/24").as_deref(),
            Some("10.0.1.192/26")
        );
        assert_eq!(
            standalone_range("10.8.0.0/16").as_deref(),
            Some("10.8.192.0/18")
        );
        assert_eq!(
            standalone_range("10.0.1.7/24").as_deref(),
            Some("10.0.1.192/26")
        );
        assert_eq!(
            standalone_range("10.0.1.0/28").as_deref(),
            Some("10.0.1.12/30")
        );
        assert_eq!(standalone_range("10.0.1.0/29"), None);
        assert_eq!(standalone_range("fd00::/64"), None);
    }
}
