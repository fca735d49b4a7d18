//! `ConstraintFilter`: every placement constraint (`key==value`, `key!=value`) holds on the node.
//! Values compare case-insensitively, label keys case-sensitively; a missing attribute is "".

use flotilla_api::constraint::{Constraint, NodeFacts};

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
    c.holds(&NodeFacts {
        id: &node.name,
        hostname: node.hostname.as_deref(),
        role: node.role,
        os: node.platform.os.as_deref(),
        arch: node.platform.architecture.as_deref(),
        addr: node.addr.as_deref(),
        labels: &node.labels,
        engine_labels: &node.engine_labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::{node, task, with_constraints};
    use flotilla_api::node::NodeRole;

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
