//! Which nodes a node's end of a SwarmNetwork's VXLAN overlay sends to: a pure decision, kept
//! apart from the netlink plumbing ([`super::vxlan`]) so it can be tested without a kernel.
//!
//! The peers of network X are the Ready nodes, other than this one, that run a serving task of
//! a service on X (the services' `runningNodes`, which the controller-manager writes from the
//! Tasks the scheduler bound), at their SwarmNode `status.addr`. Not every Ready node: a node
//! without a task on X has no bridge for X, so flooding ARP and broadcasts to it would only
//! cost bandwidth, and in a big cluster most nodes run no task of a given network (Swarm's
//! overlay driver also peers only the nodes that have the network). The cost of the narrower
//! choice: a task still starting (not yet serving) is reached from other nodes only once it
//! serves, as it is only then in DNS anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use flotilla_api::node::NodeState;
use flotilla_api::{SwarmNode, SwarmService};

/// Every Ready node with an IPv4 address: name → address.
pub fn ready_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a SwarmNode>,
) -> BTreeMap<String, Ipv4Addr> {
    let mut out = BTreeMap::new();
    for node in nodes {
        let Some(status) = node.status.as_ref() else {
            continue;
        };
        if status.state != Some(NodeState::Ready) {
            continue;
        }
        // `status.addr` is an address, sometimes written with a port.
        let addr = status.addr.as_deref().unwrap_or_default();
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        if let (Some(name), Ok(ip)) = (node.metadata.name.clone(), host.parse()) {
            out.insert(name, ip);
        }
    }
    out
}

/// Whether `service` (in namespace `ns`) has tasks on network `network`.
fn on_network(service: &SwarmService, ns: &str, network: &str) -> bool {
    if service.metadata.namespace.as_deref().unwrap_or_default() != ns {
        return false;
    }
    let Some(status) = service.status.as_ref() else {
        return false;
    };
    let by_vip = status
        .endpoint
        .iter()
        .flat_map(|e| e.virtual_ips.iter())
        .any(|v| v.network == network);
    by_vip || status.task_addresses.iter().any(|a| a.network == network)
}

/// The underlay addresses network `<ns>/<network>` on node `me` floods to.
pub fn desired_peers<'a>(
    ns: &str,
    network: &str,
    services: impl IntoIterator<Item = &'a SwarmService>,
    ready: &BTreeMap<String, Ipv4Addr>,
    me: &str,
) -> BTreeSet<Ipv4Addr> {
    let mut peers = BTreeSet::new();
    for svc in services.into_iter().filter(|s| on_network(s, ns, network)) {
        let running = svc.status.iter().flat_map(|s| s.running_nodes.iter());
        for node in running.filter(|n| n.as_str() != me) {
            if let Some(ip) = ready.get(node) {
                peers.insert(*ip);
            }
        }
    }
    // Two agents on one address (several nodes of one host) need no tunnel to each other.
    if let Some(mine) = ready.get(me) {
        peers.remove(mine);
    }
    peers
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::node::SwarmNodeStatus;
    use serde_json::json;

    fn node(name: &str, addr: &str, state: NodeState) -> SwarmNode {
        let mut n: SwarmNode = serde_json::from_value(json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNode",
            "metadata": {"name": name}, "spec": {}}))
        .unwrap();
        n.status = Some(SwarmNodeStatus {
            state: Some(state),
            addr: Some(addr.into()),
            ..Default::default()
        });
        n
    }

    /// A service in `default` on `network` (by its task addresses) running on `nodes`.
    fn service(name: &str, network: &str, nodes: &[&str]) -> SwarmService {
        serde_json::from_value(json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"taskTemplate": {"containerSpec": {"image": "busybox"}}},
            "status": {"runningNodes": nodes,
                       "taskAddresses": [{"network": network, "addresses": ["10.0.0.5"]}]}}))
        .unwrap()
    }

    fn ips(list: &[&str]) -> BTreeSet<Ipv4Addr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn ready_nodes_with_an_address_count_and_a_port_is_dropped() {
        let nodes = [
            node("a", "172.20.0.2", NodeState::Ready),
            node("b", "172.20.0.3:2377", NodeState::Ready),
            node("c", "172.20.0.4", NodeState::Down),
            node("d", "not-an-ip", NodeState::Ready),
        ];
        let ready = ready_nodes(&nodes);
        let names: Vec<&str> = ready.keys().map(String::as_str).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(ready["b"], "172.20.0.3".parse::<Ipv4Addr>().unwrap());
    }

    #[test]
    fn peers_are_the_other_ready_nodes_running_tasks_on_the_network() {
        let nodes = [
            node("a", "172.20.0.2", NodeState::Ready),
            node("b", "172.20.0.3", NodeState::Ready),
            node("c", "172.20.0.4", NodeState::Ready),
            node("d", "172.20.0.5", NodeState::Down),
        ];
        let ready = ready_nodes(&nodes);
        let services = [
            service("api", "backend", &["a", "b", "d"]),
            service("web", "backend", &["a"]),
            service("other", "front", &["c"]),
        ];
        // On a: b runs api; c is only on front; d is down.
        assert_eq!(
            desired_peers("default", "backend", &services, &ready, "a"),
            ips(&["172.20.0.3"])
        );
        assert_eq!(
            desired_peers("default", "backend", &services, &ready, "b"),
            ips(&["172.20.0.2"])
        );
        // c runs nothing on backend but may still ask (a stale bridge): it reaches a and b.
        assert_eq!(
            desired_peers("default", "backend", &services, &ready, "c"),
            ips(&["172.20.0.2", "172.20.0.3"])
        );
        assert_eq!(
            desired_peers("other-ns", "backend", &services, &ready, "a"),
            ips(&[])
        );
        assert_eq!(
            desired_peers("default", "front", &services, &ready, "a"),
            ips(&["172.20.0.4"])
        );
    }

    #[test]
    fn nodes_sharing_an_address_are_not_peers_of_each_other() {
        let nodes = [
            node("a", "127.0.0.1", NodeState::Ready),
            node("b", "127.0.0.1", NodeState::Ready),
        ];
        let services = [service("api", "backend", &["a", "b"])];
        let peers = desired_peers("default", "backend", &services, &ready_nodes(&nodes), "a");
        assert!(peers.is_empty(), "{peers:?}");
    }
}
