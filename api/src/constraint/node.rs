//! Evaluating constraints against a node (swarmkit `constraint.NodeMatches`), shared by the
//! scheduler's ConstraintFilter and the controller-manager (global orchestrator, enforcer).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::{Constraint, ConstraintOp, ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX};
use crate::node::NodeRole;
use crate::SwarmNode;

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// What a constraint can see of a node.
#[derive(Clone, Copy, Debug)]
pub struct NodeFacts<'a> {
    /// `node.id` (the SwarmNode's name).
    pub id: &'a str,
    pub hostname: Option<&'a str>,
    pub role: Option<NodeRole>,
    pub os: Option<&'a str>,
    pub arch: Option<&'a str>,
    /// `node.ip`: an IP, or `ip:port`.
    pub addr: Option<&'a str>,
    pub labels: &'a BTreeMap<String, String>,
    pub engine_labels: &'a BTreeMap<String, String>,
}

impl<'a> NodeFacts<'a> {
    pub fn of(node: &'a SwarmNode) -> NodeFacts<'a> {
        let status = node.status.as_ref();
        let platform = status.and_then(|s| s.platform.as_ref());
        NodeFacts {
            id: node.metadata.name.as_deref().unwrap_or_default(),
            hostname: status.and_then(|s| s.hostname.as_deref()),
            role: node.spec.role,
            os: platform.and_then(|p| p.os.as_deref()),
            arch: platform.and_then(|p| p.architecture.as_deref()),
            addr: status.and_then(|s| s.addr.as_deref()),
            labels: node.metadata.labels.as_ref().unwrap_or(&NO_LABELS),
            engine_labels: status
                .and_then(|s| s.engine.as_ref())
                .map(|e| &e.labels)
                .unwrap_or(&NO_LABELS),
        }
    }
}

/// Whether every constraint holds on the node (they are ANDed; none = any node).
pub fn node_matches(constraints: &[Constraint], node: &NodeFacts) -> bool {
    constraints.iter().all(|c| c.holds(node))
}

impl Constraint {
    /// Values compare case-insensitively, label keys case-sensitively; a missing attribute is "";
    /// an unknown key never matches.
    pub fn holds(&self, node: &NodeFacts) -> bool {
        let key = self.key.as_str();
        if key.eq_ignore_ascii_case("node.ip") {
            return ip_matches(self, node.addr);
        }
        let attribute = if let Some(label) = strip_prefix(key, NODE_LABEL_PREFIX) {
            node.labels.get(label).map(String::as_str)
        } else if let Some(label) = strip_prefix(key, ENGINE_LABEL_PREFIX) {
            node.engine_labels.get(label).map(String::as_str)
        } else {
            match key.to_ascii_lowercase().as_str() {
                "node.id" => Some(node.id),
                "node.hostname" => node.hostname,
                "node.role" => Some(match node.role {
                    Some(NodeRole::Manager) => "manager",
                    _ => "worker",
                }),
                "node.platform.os" => node.os,
                "node.platform.arch" => node.arch,
                _ => return false,
            }
        };
        self.matches(attribute)
    }
}

/// The prefix matches case-insensitively; the label key keeps its case.
fn strip_prefix<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let head = key.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &key[prefix.len()..])
}

/// `node.ip==10.0.0.5` or `node.ip!=10.0.0.0/24`. As in swarmkit, a value that is neither an
/// address nor a network matches no node whatever the operator; a node without a parseable
/// address equals no address and is outside every network.
fn ip_matches(c: &Constraint, addr: Option<&str>) -> bool {
    let node_ip = addr.and_then(|a| {
        a.parse::<IpAddr>()
            .ok()
            .or_else(|| a.parse::<SocketAddr>().ok().map(|s| s.ip()))
    });
    let inside = if let Ok(ip) = c.value.parse::<IpAddr>() {
        node_ip == Some(ip)
    } else if let Some(net) = c.value.split_once('/').and_then(Cidr::parse) {
        node_ip.is_some_and(|ip| net.contains(ip))
    } else {
        return false;
    };
    match c.op {
        ConstraintOp::Eq => inside,
        ConstraintOp::NotEq => !inside,
    }
}

/// A network as Go's `net.ParseCIDR` reads it (host bits may be set; they are masked).
struct Cidr {
    net: IpAddr,
    bits: u32,
}

impl Cidr {
    fn parse((net, bits): (&str, &str)) -> Option<Cidr> {
        let net = net.parse::<IpAddr>().ok()?;
        let bits = bits.parse::<u32>().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Cidr { net, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (ip, self.net) {
            (IpAddr::V4(ip), IpAddr::V4(net)) => {
                let mask = u32::MAX.checked_shl(32 - self.bits).unwrap_or(0);
                u32::from(ip) & mask == u32::from(net) & mask
            }
            (IpAddr::V6(ip), IpAddr::V6(net)) => {
                let mask = u128::MAX.checked_shl(128 - self.bits).unwrap_or(0);
                u128::from(ip) & mask == u128::from(net) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constraint::parse_constraint;
    use crate::SwarmNodeSpec;

    fn holds(exprs: &[&str], node: &SwarmNode) -> bool {
        let cs: Vec<Constraint> = exprs.iter().map(|e| parse_constraint(e).unwrap()).collect();
        node_matches(&cs, &NodeFacts::of(node))
    }

    #[test]
    fn facts_come_from_the_swarm_node() {
        let mut n = SwarmNode::new("n1", SwarmNodeSpec::default());
        assert!(holds(&["node.id==N1", "node.role==worker"], &n));
        assert!(holds(&["node.labels.zone!=a"], &n), "no labels at all");
        n.metadata.labels = Some([("zone".to_string(), "a".to_string())].into());
        n.status = Some(crate::SwarmNodeStatus {
            addr: Some("10.0.0.7".into()),
            hostname: Some("host-1".into()),
            ..Default::default()
        });
        assert!(holds(&["node.labels.zone==A", "node.hostname==host-1"], &n));
        assert!(holds(&["node.ip==10.0.0.0/24"], &n));
        assert!(!holds(&["node.ip!=10.0.0.0/24"], &n));
        assert!(!holds(&["node.labels.zone==a", "node.id==n2"], &n), "ANDed");
    }

    #[test]
    fn node_ip_networks_and_malformed_values() {
        let mut n = SwarmNode::new("n1", SwarmNodeSpec::default());
        assert!(holds(&["node.ip!=10.0.0.7"], &n), "no address: equals none");
        assert!(!holds(&["node.ip==10.0.0.0/8"], &n));
        n.status = Some(crate::SwarmNodeStatus {
            addr: Some("10.0.1.7:2377".into()),
            ..Default::default()
        });
        assert!(holds(&["node.ip==10.0.1.7", "node.ip==10.0.1.99/24"], &n));
        assert!(!holds(&["node.ip==::1/64"], &n), "other family");
        assert!(holds(&["node.ip!=::1/64"], &n));
        // swarmkit rejects the constraint outright, so `!=` does not match either.
        for value in ["10.0.0.300", "10.0.0.0/33", "10.0.0.0/x", "web"] {
            assert!(!holds(&[&format!("node.ip=={value}")], &n), "{value}");
            assert!(!holds(&[&format!("node.ip!={value}")], &n), "{value}");
        }
    }
}
