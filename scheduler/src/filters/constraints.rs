//! `ConstraintFilter`: every placement constraint (`key==value`, `key!=value`) holds on the node.
//! Values compare case-insensitively, label keys case-sensitively; a missing attribute is "".

use std::net::IpAddr;

use flotilla_api::constraint::{Constraint, ConstraintOp, ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX};
use flotilla_api::node::NodeRole;

use super::{nodes, Filter};
use crate::model::{NodeInfo, TaskInfo};

pub struct ConstraintFilter;

impl Filter for ConstraintFilter {
    fn enabled(&self, task: &TaskInfo) -> bool {
        !matches!(&task.constraints, Ok(c) if c.is_empty())
    }

    fn check(&self, task: &TaskInfo, node: &NodeInfo) -> bool {
        match &task.constraints {
            Ok(constraints) => constraints.iter().all(|c| holds(c, node)),
            // The api-server validates constraints; one that still fails to parse matches nothing.
            Err(_) => false,
        }
    }

    fn explain(&self, n: usize) -> String {
        format!("scheduling constraints not satisfied on {}", nodes(n))
    }
}

fn holds(c: &Constraint, node: &NodeInfo) -> bool {
    let key = c.key.as_str();
    if key.eq_ignore_ascii_case("node.ip") {
        return ip_matches(c, node.addr.as_deref());
    }
    let attribute = if let Some(label) = strip_prefix(key, NODE_LABEL_PREFIX) {
        node.labels.get(label).map(String::as_str)
    } else if let Some(label) = strip_prefix(key, ENGINE_LABEL_PREFIX) {
        node.engine_labels.get(label).map(String::as_str)
    } else {
        match key.to_ascii_lowercase().as_str() {
            "node.id" => Some(node.name.as_str()),
            "node.hostname" => node.hostname.as_deref(),
            "node.role" => Some(match node.role {
                Some(NodeRole::Manager) => "manager",
                _ => "worker",
            }),
            "node.platform.os" => node.platform.os.as_deref(),
            "node.platform.arch" => node.platform.architecture.as_deref(),
            // Unknown keys never match (Swarm leaves the task pending).
            _ => return false,
        }
    };
    c.matches(attribute)
}

/// The prefix matches case-insensitively; the label key keeps its case.
fn strip_prefix<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let head = key.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &key[prefix.len()..])
}

/// `node.ip==10.0.0.5` or `node.ip!=10.0.0.0/24`.
fn ip_matches(c: &Constraint, addr: Option<&str>) -> bool {
    let node_ip = addr.and_then(|a| {
        a.parse::<IpAddr>()
            .ok()
            .or_else(|| a.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
    });
    let inside = match (node_ip, c.value.split_once('/')) {
        (Some(ip), Some((net, bits))) => in_cidr(ip, net, bits),
        (Some(ip), None) => c.value.parse::<IpAddr>().is_ok_and(|v| v == ip),
        (None, _) => false,
    };
    match c.op {
        ConstraintOp::Eq => inside,
        ConstraintOp::NotEq => !inside,
    }
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::{node, task, with_constraints};

    fn check(exprs: &[&str], node: &NodeInfo) -> bool {
        ConstraintFilter.check(&with_constraints(task("web", "web.1"), exprs), node)
    }

    #[test]
    fn labels_attributes_and_case_rules() {
        let mut n = node("n1");
        n.labels.insert("zone".into(), "A".into());
        n.engine_labels.insert("disk".into(), "ssd".into());
        n.hostname = Some("host-1".into());
        n.role = Some(NodeRole::Manager);
        n.platform.os = Some("linux".into());
        n.platform.architecture = Some("amd64".into());
        assert!(check(&["node.labels.zone==a"], &n), "values ignore case");
        assert!(check(&["NODE.LABELS.zone==a"], &n), "prefix ignores case");
        assert!(!check(&["node.labels.Zone==a"], &n), "label keys keep case");
        assert!(
            check(&["node.labels.rack!=r1"], &n),
            "missing label is \"\""
        );
        assert!(!check(&["node.labels.rack==r1"], &n));
        assert!(check(&["engine.labels.disk==SSD"], &n));
        assert!(check(&["node.id==n1", "node.hostname==host-1"], &n));
        assert!(check(
            &["node.role==manager", "node.platform.os==linux"],
            &n
        ));
        assert!(!check(&["node.role==worker"], &n));
        assert!(check(&["node.role==worker"], &node("n2")), "default role");
        assert!(!check(&["node.labels.zone==a", "node.id==n2"], &n), "ANDed");
    }

    #[test]
    fn node_ip_and_cidr() {
        let mut n = node("n1");
        n.addr = Some("10.0.0.7".into());
        assert!(check(&["node.ip==10.0.0.7"], &n));
        assert!(check(&["node.ip==10.0.0.0/24"], &n));
        assert!(!check(&["node.ip!=10.0.0.0/24"], &n));
        assert!(check(&["node.ip!=10.0.1.0/24"], &n));
        n.addr = Some("10.0.1.7:2377".into());
        assert!(check(&["node.ip==10.0.1.0/24"], &n));
    }

    #[test]
    fn disabled_without_constraints_and_explains() {
        assert!(!ConstraintFilter.enabled(&task("web", "web.1")));
        assert_eq!(
            ConstraintFilter.explain(1),
            "scheduling constraints not satisfied on 1 node"
        );
    }
}
