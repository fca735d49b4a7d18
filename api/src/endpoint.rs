//! Published ports and service discovery mode (Swarm's `EndpointSpec`), and what was allocated.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSpec {
    /// `vip` (default): one virtual IP load-balanced over the tasks; `dnsrr`: DNS round robin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<EndpointMode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    Vip,
    Dnsrr,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Default `tcp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<PortProtocol>,
    /// Port inside the container, 1–65535.
    pub target_port: i64,
    /// Port on the routing mesh / host. 0 or unset with `ingress` = allocate from 30000–32767.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_port: Option<i64>,
    /// `ingress` (default, routing mesh on every node) or `host` (only where a task runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_mode: Option<PublishMode>,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    Tcp,
    Udp,
    Sctp,
}

impl PortProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
            PortProtocol::Sctp => "sctp",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    Ingress,
    Host,
}

/// What the allocator assigned: ports with their published port filled in, and one VIP per network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ips: Vec<VirtualIp>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualIp {
    /// SwarmNetwork name.
    pub network: String,
    /// Address in CIDR notation, e.g. `10.0.0.5/24`.
    pub addr: String,
}
