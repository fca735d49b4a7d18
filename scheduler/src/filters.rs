//! Swarm's filter pipeline (`manager/scheduler/filter.go`, `pipeline.go`): each filter decides
//! whether a node can take a task and explains, in Swarm's words, why N nodes could not.

mod constraints;
mod host_ports;
mod max_replicas;
mod platform;
mod ready;
mod resources;

use crate::model::{NodeInfo, TaskInfo};

pub use constraints::ConstraintFilter;
pub use host_ports::HostPortFilter;
pub use max_replicas::MaxReplicasFilter;
pub use platform::PlatformFilter;
pub use ready::ReadyFilter;
pub use resources::ResourceFilter;

/// One check of the pipeline.
pub trait Filter: Sync {
    /// Whether the filter applies to this task at all (Swarm's `SetTask`).
    fn enabled(&self, task: &TaskInfo) -> bool;
    /// Whether `node` can take `task`.
    fn check(&self, task: &TaskInfo, node: &NodeInfo) -> bool;
    /// Why `nodes` nodes failed this filter.
    fn explain(&self, nodes: usize) -> String;
}

/// Swarm's order: the first failing filter stops evaluation and is the one counted.
static FILTERS: [&dyn Filter; 6] = [
    &ReadyFilter,
    &ResourceFilter,
    &ConstraintFilter,
    &PlatformFilter,
    &HostPortFilter,
    &MaxReplicasFilter,
];

/// The filters enabled for one task, with failure counts for the explanation.
pub struct Pipeline<'t> {
    task: &'t TaskInfo,
    checks: Vec<(&'static dyn Filter, usize)>,
}

impl<'t> Pipeline<'t> {
    pub fn new(task: &'t TaskInfo) -> Pipeline<'t> {
        let checks = FILTERS
            .iter()
            .filter(|f| f.enabled(task))
            .map(|f| (*f, 0))
            .collect();
        Pipeline { task, checks }
    }

    /// Runs the filters over `node`, counting the first failure.
    pub fn process(&mut self, node: &NodeInfo) -> bool {
        for (filter, failures) in &mut self.checks {
            if !filter.check(self.task, node) {
                *failures += 1;
                return false;
            }
        }
        true
    }

    /// Runs the filters without counting (re-checks while placing).
    pub fn passes(&self, node: &NodeInfo) -> bool {
        self.checks.iter().all(|(f, _)| f.check(self.task, node))
    }

    /// Failures by filter, most first, joined with "; " (Swarm's `Explain`).
    pub fn explain(&self) -> String {
        let mut failed: Vec<_> = self.checks.iter().filter(|(_, n)| *n > 0).collect();
        failed.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        failed
            .iter()
            .map(|(f, n)| f.explain(*n))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `no suitable node (…)` for a task that fits none of `nodes`.
pub fn no_suitable_node(task: &TaskInfo, nodes: &[NodeInfo]) -> String {
    let mut pipeline = Pipeline::new(task);
    for node in nodes {
        pipeline.process(node);
    }
    let explanation = pipeline.explain();
    if explanation.is_empty() {
        "no suitable node".to_string()
    } else {
        format!("no suitable node ({explanation})")
    }
}

/// "1 node" / "3 nodes".
pub(crate) fn nodes(n: usize) -> String {
    if n == 1 {
        "1 node".to_string()
    } else {
        format!("{n} nodes")
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use flotilla_api::node::NodeAvailability;

    use crate::model::{NodeInfo, Res, TaskInfo, TaskKey};

    pub fn node(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            ready: true,
            availability: Some(NodeAvailability::Active),
            capacity: Res {
                nano_cpus: 4_000_000_000,
                memory_bytes: 8 << 30,
            },
            ..Default::default()
        }
    }

    pub fn task(service: &str, name: &str) -> TaskInfo {
        TaskInfo {
            key: TaskKey {
                namespace: "default".into(),
                name: name.into(),
            },
            service: format!("default/{service}"),
            spec_version: 1,
            slot: 0,
            node: None,
            state: flotilla_api::TaskState::Pending,
            desired: flotilla_api::TaskState::Running,
            err: None,
            resource_version: None,
            uid: None,
            reservation: Res::default(),
            constraints: Ok(Vec::new()),
            preferences: Vec::new(),
            max_replicas: 0,
            platforms: Vec::new(),
            host_ports: Vec::new(),
            timestamp: None,
        }
    }

    pub fn with_constraints(mut t: TaskInfo, exprs: &[&str]) -> TaskInfo {
        t.constraints = exprs
            .iter()
            .map(|c| flotilla_api::constraint::parse_constraint(c))
            .collect();
        t
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn explanation_sorts_by_failures_and_counts_nodes() {
        let mut t = with_constraints(task("web", "web.1"), &["node.labels.zone==a"]);
        t.reservation.nano_cpus = 2_000_000_000;
        let mut busy = node("n4");
        busy.labels.insert("zone".into(), "a".into());
        busy.reserved.nano_cpus = 3_000_000_000;
        let nodes = vec![node("n1"), node("n2"), node("n3"), busy];
        assert_eq!(
            no_suitable_node(&t, &nodes),
            "no suitable node (scheduling constraints not satisfied on 3 nodes; insufficient resources on 1 node)"
        );
    }

    #[test]
    fn no_nodes_at_all() {
        assert_eq!(
            no_suitable_node(&task("web", "web.1"), &[]),
            "no suitable node"
        );
    }

    #[test]
    fn first_failing_filter_is_the_one_counted() {
        let mut t = with_constraints(task("web", "web.1"), &["node.labels.zone==a"]);
        t.reservation.memory_bytes = 1 << 40;
        let mut drained = node("n1");
        drained.availability = Some(flotilla_api::node::NodeAvailability::Drain);
        assert_eq!(
            no_suitable_node(&t, &[drained, node("n2")]),
            "no suitable node (1 node not available for new tasks; insufficient resources on 1 node)"
        );
    }
}
