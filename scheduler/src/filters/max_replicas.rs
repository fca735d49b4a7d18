//! `MaxReplicasFilter`: fewer than `maxReplicas` active tasks of the service on the node.

use super::Filter;
use crate::model::{NodeInfo, TaskInfo};

pub struct MaxReplicasFilter;

impl Filter for MaxReplicasFilter {
    fn enabled(&self, task: &TaskInfo) -> bool {
        task.max_replicas > 0
    }

    fn check(&self, task: &TaskInfo, node: &NodeInfo) -> bool {
        (node.service_tasks(&task.service) as u64) < task.max_replicas
    }

    fn explain(&self, _n: usize) -> String {
        // Swarm's wording, without a count.
        "max replicas per node limit exceed".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::{node, task};

    #[test]
    fn counts_only_this_service() {
        let mut t = task("web", "web.1");
        assert!(!MaxReplicasFilter.enabled(&t));
        t.max_replicas = 2;
        let mut n = node("n1");
        n.add_task(&task("other", "other.1"));
        n.add_task(&task("web", "web.2"));
        assert!(MaxReplicasFilter.check(&t, &n));
        n.add_task(&task("web", "web.3"));
        assert!(!MaxReplicasFilter.check(&t, &n));
        assert_eq!(
            MaxReplicasFilter.explain(4),
            "max replicas per node limit exceed"
        );
    }
}
