//! The mesh's decisions, pure: which ports a service publishes, and where one connection goes.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use flotilla_api::endpoint::{PortConfig, PortProtocol, PublishMode};
use flotilla_api::SwarmService;

/// A port the mesh serves: ingress-published port and its protocol (TCP and UDP are separate
/// ports, as in Swarm: `53/tcp` and `53/udp` may lead to different services).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Published {
    pub protocol: PortProtocol,
    pub port: u16,
}

/// Where a published port leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// `<namespace>/<service>`.
    pub service: String,
    pub target_port: u16,
    /// The service's `status.runningNodes`: the node of each Running task.
    pub nodes: Vec<String>,
}

/// The ingress TCP and UDP ports a service publishes: `status.endpoint.ports` (allocated) if set,
/// else the spec's ports that name a published port. SCTP is not served.
pub fn routes_of(service: &SwarmService) -> Vec<(Published, Route)> {
    let ns = service.metadata.namespace.clone().unwrap_or_default();
    let name = service.metadata.name.clone().unwrap_or_default();
    let nodes = service
        .status
        .as_ref()
        .map(|s| s.running_nodes.clone())
        .unwrap_or_default();
    let status_ports = service
        .status
        .as_ref()
        .and_then(|s| s.endpoint.as_ref())
        .map(|e| e.ports.clone())
        .unwrap_or_default();
    let ports: Vec<PortConfig> = if status_ports.is_empty() {
        service
            .spec
            .endpoint
            .clone()
            .map(|e| e.ports)
            .unwrap_or_default()
    } else {
        status_ports
    };
    ports
        .iter()
        .filter(|p| p.publish_mode.unwrap_or(PublishMode::Ingress) == PublishMode::Ingress)
        .filter_map(|p| {
            let protocol = p.protocol.unwrap_or(PortProtocol::Tcp);
            if protocol == PortProtocol::Sctp {
                return None;
            }
            let port = u16::try_from(p.published_port?).ok()?;
            let target_port = u16::try_from(p.target_port).ok()?;
            let route = Route {
                service: format!("{ns}/{name}"),
                target_port,
                nodes: nodes.clone(),
            };
            Some((Published { protocol, port }, route))
        })
        .collect()
}

/// Picks a backend: local ones first, else remote ones, round robin by `turn`.
pub fn pick<T: Copy>(local: &[T], remote: &[T], turn: usize) -> Option<T> {
    let pool = if local.is_empty() { remote } else { local };
    if pool.is_empty() {
        return None;
    }
    Some(pool[turn % pool.len()])
}

/// The other nodes a connection may go to: each of `running` (one entry per Running task, so
/// a node with two tasks gets two shares) but `me`, at its address and the published `port`.
/// Nothing when the connection came `from` another node: that node chose us for a local task.
pub fn remote_backends(
    running: &[String],
    me: &str,
    peers: &BTreeMap<String, IpAddr>,
    port: u16,
    from: IpAddr,
) -> Vec<SocketAddr> {
    if peers.values().any(|a| *a == from) {
        return Vec::new();
    }
    running
        .iter()
        .filter(|n| n.as_str() != me)
        .filter_map(|n| peers.get(n))
        .map(|ip| SocketAddr::new(*ip, port))
        .collect()
}

/// A backend chosen for one connection or flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    pub addr: SocketAddr,
    /// Another node's mesh (then we connect from our own node address).
    pub via_peer: bool,
}
