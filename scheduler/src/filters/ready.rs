//! `ReadyFilter`: the node reports Ready and its availability is active (not paused or drained).

use flotilla_api::node::NodeAvailability;

use super::{nodes, Filter};
use crate::model::{NodeInfo, TaskInfo};

pub struct ReadyFilter;

impl Filter for ReadyFilter {
    fn enabled(&self, _task: &TaskInfo) -> bool {
        true
    }

    fn check(&self, _task: &TaskInfo, node: &NodeInfo) -> bool {
        // Availability defaults to active (Swarm's default).
        node.ready && matches!(node.availability, None | Some(NodeAvailability::Active))
    }

    fn explain(&self, n: usize) -> String {
        format!("{} not available for new tasks", nodes(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::{node, task};

    #[test]
    fn only_ready_active_nodes_pass() {
        let t = task("web", "web.1");
        assert!(ReadyFilter.check(&t, &node("n1")));
        let mut n = node("n1");
        n.availability = None;
        assert!(ReadyFilter.check(&t, &n));
        for availability in [NodeAvailability::Pause, NodeAvailability::Drain] {
            n.availability = Some(availability);
            assert!(!ReadyFilter.check(&t, &n));
        }
        let mut down = node("n2");
        down.ready = false;
        assert!(!ReadyFilter.check(&t, &down));
        assert_eq!(ReadyFilter.explain(1), "1 node not available for new tasks");
        assert_eq!(
            ReadyFilter.explain(2),
            "2 nodes not available for new tasks"
        );
    }
}
