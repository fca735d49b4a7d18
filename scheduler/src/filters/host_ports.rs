//! `HostPortFilter`: host-mode published ports the task needs are not already taken on the node.

use super::{nodes, Filter};
use crate::model::{NodeInfo, TaskInfo};

pub struct HostPortFilter;

impl Filter for HostPortFilter {
    fn enabled(&self, task: &TaskInfo) -> bool {
        !task.host_ports.is_empty()
    }

    fn check(&self, task: &TaskInfo, node: &NodeInfo) -> bool {
        task.host_ports.iter().all(|p| !node.host_ports.contains(p))
    }

    fn explain(&self, n: usize) -> String {
        format!("host-mode port already in use on {}", nodes(n))
    }
}

#[cfg(test)]
mod tests {
    use flotilla_api::endpoint::PortProtocol;

    use super::*;
    use crate::filters::testutil::{node, task};

    #[test]
    fn a_used_port_and_protocol_blocks_the_node() {
        let mut t = task("web", "web.1");
        assert!(!HostPortFilter.enabled(&t));
        t.host_ports = vec![(PortProtocol::Tcp, 8080)];
        let mut n = node("n1");
        assert!(HostPortFilter.check(&t, &n));
        n.host_ports.insert((PortProtocol::Udp, 8080));
        assert!(
            HostPortFilter.check(&t, &n),
            "udp/8080 does not block tcp/8080"
        );
        let placed = t.clone();
        n.add_task(&placed);
        assert!(!HostPortFilter.check(&t, &n));
        assert_eq!(
            HostPortFilter.explain(1),
            "host-mode port already in use on 1 node"
        );
    }
}
