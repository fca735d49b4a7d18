//! Per-node load-balancer addresses (docs/networking.md#the-load-balancer-address): every node
//! that serves a SwarmNetwork gets one address of the network's subnet, as Swarm gives each node
//! an `lb-<network>` endpoint. Every node's bridge holds the same gateway address, so a node's
//! VIP proxy connecting to a task on another node needs a source address of its own for the
//! reply to come back over the overlay.
//!
//! A node serves a network while it has a task on it that runs or will run (bound to the node,
//! not being stopped, not ended). The address is sticky while the node serves the network and
//! released when it stops serving it; a deleted node takes its status, and so its addresses,
//! with it. The allocator ([`crate::allocator`]) hands the addresses out of the same pool as
//! VIPs and task addresses, so they never collide.

use std::collections::{BTreeMap, BTreeSet};

use flotilla_api::node::NodeNetworkAttachment;
use flotilla_api::TaskState;

use crate::snapshot::{ns_of, observed, runnable, Snapshot};

/// `(namespace, network name)`.
pub type NetKey = (String, String);

/// Node name → the networks it serves; the ingress network (by name, as tasks name it) is left
/// out: the routing mesh is the agents' own listener, not a bridge.
pub fn served(snap: &Snapshot, ingress: Option<&str>) -> BTreeMap<String, BTreeSet<NetKey>> {
    let mut out: BTreeMap<String, BTreeSet<NetKey>> = BTreeMap::new();
    let live = snap
        .tasks
        .iter()
        .filter(|t| runnable(t) && observed(t) <= TaskState::Running);
    for task in live {
        let Some(node) = task.spec.node_name.as_ref() else {
            continue;
        };
        let nets = task
            .spec
            .networks
            .iter()
            .filter(|a| Some(a.network.as_str()) != ingress)
            .map(|a| (ns_of(task.as_ref()), a.network.clone()));
        out.entry(node.clone()).or_default().extend(nets);
    }
    out
}

/// A node's attachments for the networks it serves, in network order: the current address where
/// it has one, else one from `allocate` (none yet when it has none to give: retried next round).
pub fn wanted(
    current: &[NodeNetworkAttachment],
    served: &BTreeSet<NetKey>,
    mut allocate: impl FnMut(&NetKey) -> Option<String>,
) -> Vec<NodeNetworkAttachment> {
    let mut out = Vec::new();
    for key in served {
        let kept = current
            .iter()
            .find(|a| a.namespace == key.0 && a.network == key.1 && !a.addresses.is_empty())
            .map(|a| a.addresses.clone());
        if let Some(addresses) = kept.or_else(|| allocate(key).map(|a| vec![a])) {
            out.push(NodeNetworkAttachment {
                namespace: key.0.clone(),
                network: key.1.clone(),
                addresses,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{service, snapshot, task};
    use flotilla_api::task::NetworkAttachment;

    fn key(net: &str) -> NetKey {
        ("default".into(), net.into())
    }

    fn attachment(net: &str, addr: &str) -> NodeNetworkAttachment {
        NodeNetworkAttachment {
            namespace: "default".into(),
            network: net.into(),
            addresses: vec![addr.into()],
        }
    }

    #[test]
    fn a_node_serves_the_networks_of_its_live_tasks_but_not_ingress() {
        let svc = service("api", 4);
        let on = |slot, node, desired, observed, nets: &[&str]| {
            let mut t = task(&svc, slot, node, desired, observed, slot);
            t.spec.networks = nets
                .iter()
                .map(|n| NetworkAttachment {
                    network: n.to_string(),
                    addresses: vec!["10.0.9.9/24".into()],
                    aliases: vec![],
                })
                .collect();
            t
        };
        use TaskState::*;
        let tasks = vec![
            on(1, Some("a"), Running, Running, &["back", "ingress"]),
            on(2, Some("b"), Running, Assigned, &["front"]),
            on(3, Some("c"), Shutdown, Running, &["back"]),
            on(4, Some("c"), Running, Failed, &["back"]),
            on(5, None, Running, Pending, &["back"]),
        ];
        let served = served(&snapshot(vec![], tasks, vec![]), Some("ingress"));
        assert_eq!(served.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(served["a"], BTreeSet::from([key("back")]));
        assert_eq!(served["b"], BTreeSet::from([key("front")]));
    }

    #[test]
    fn addresses_are_kept_while_served_allocated_when_new_and_dropped_when_not_served() {
        let current = [
            attachment("back", "10.0.9.7/24"),
            attachment("old", "10.0.8.7/24"),
        ];
        let served = BTreeSet::from([key("back"), key("front")]);
        let mut asked = Vec::new();
        let got = wanted(&current, &served, |k| {
            asked.push(k.clone());
            Some("10.0.7.2/24".into())
        });
        assert_eq!(
            got,
            [
                attachment("back", "10.0.9.7/24"),
                attachment("front", "10.0.7.2/24")
            ]
        );
        assert_eq!(
            asked,
            [key("front")],
            "a kept address is not allocated again"
        );
        let none = wanted(&current, &served, |_| None);
        assert_eq!(none, [attachment("back", "10.0.9.7/24")]);
        assert!(wanted(&current, &BTreeSet::new(), |_| None).is_empty());
    }
}
