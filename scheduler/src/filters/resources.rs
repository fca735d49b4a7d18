//! `ResourceFilter`: the task's CPU and memory reservations fit in the node's capacity minus what
//! its tasks already reserve. Limits play no part (only the runtime enforces them).

use super::{nodes, Filter};
use crate::model::{NodeInfo, TaskInfo};

pub struct ResourceFilter;

impl Filter for ResourceFilter {
    fn enabled(&self, task: &TaskInfo) -> bool {
        !task.reservation.is_zero()
    }

    fn check(&self, task: &TaskInfo, node: &NodeInfo) -> bool {
        let available = node.available();
        task.reservation.nano_cpus <= available.nano_cpus
            && task.reservation.memory_bytes <= available.memory_bytes
    }

    fn explain(&self, n: usize) -> String {
        format!("insufficient resources on {}", nodes(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::{node, task};

    #[test]
    fn reservations_must_fit_what_is_left() {
        let mut t = task("db", "db.1");
        assert!(!ResourceFilter.enabled(&t), "no reservation, no filter");
        t.reservation.nano_cpus = 3_000_000_000;
        t.reservation.memory_bytes = 1 << 30;
        assert!(ResourceFilter.enabled(&t));
        let mut n = node("n1"); // 4 CPUs, 8 GiB
        assert!(ResourceFilter.check(&t, &n));
        n.reserved.nano_cpus = 1_000_000_000;
        assert!(ResourceFilter.check(&t, &n), "exactly fits");
        n.reserved.nano_cpus = 1_000_000_001;
        assert!(!ResourceFilter.check(&t, &n));
        n.reserved.nano_cpus = 0;
        n.reserved.memory_bytes = (8 << 30) - (1 << 29);
        assert!(!ResourceFilter.check(&t, &n), "memory short");
        assert_eq!(
            ResourceFilter.explain(3),
            "insufficient resources on 3 nodes"
        );
    }
}
