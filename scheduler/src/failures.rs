//! Swarm's penalty for nodes where a service keeps failing (swarmkit `nodeLess` and
//! `countRecentFailures`): a node with at least [`MAX_FAILURES`] failed or rejected tasks of the
//! same service and spec version in the last [`MONITOR_FAILURES`] goes after the others, the
//! one with more failures last. Below the threshold failures play no part.
//!
//! Swarm records the moment it sees a failure; Flotilla, deciding over a snapshot, takes the
//! failed task's status timestamp.

use std::time::Duration;

use flotilla_api::TaskState;
use k8s_openapi::jiff::Timestamp;

use crate::model::{NodeInfo, TaskInfo};

pub const MAX_FAILURES: usize = 5;
pub const MONITOR_FAILURES: Duration = Duration::from_secs(5 * 60);

/// Whether `task` failed (or was rejected) on its node within [`MONITOR_FAILURES`] before `now`.
pub fn failed_recently(task: &TaskInfo, now: Timestamp) -> bool {
    let failed = matches!(task.state, TaskState::Failed | TaskState::Rejected);
    let window = k8s_openapi::jiff::SignedDuration::try_from(MONITOR_FAILURES).unwrap_or_default();
    failed
        && task.node.is_some()
        && task
            .timestamp
            .is_some_and(|at| at <= now && now.duration_since(at) <= window)
}

/// Counts a recent failure of `task` on `node`.
pub fn record(node: &mut NodeInfo, task: &TaskInfo) {
    *node
        .recent_failures
        .entry((task.service.clone(), task.spec_version))
        .or_default() += 1;
}

/// The ordering penalty of `node` for tasks like `task`: its recent failures once they reach
/// [`MAX_FAILURES`], else 0.
pub fn penalty(node: &NodeInfo, task: &TaskInfo) -> usize {
    if node.recent_failures.is_empty() {
        return 0;
    }
    let key = (task.service.clone(), task.spec_version);
    let failures = node.recent_failures.get(&key).copied().unwrap_or(0);
    if failures >= MAX_FAILURES {
        failures
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::{node, task};

    fn failed(at: Timestamp) -> TaskInfo {
        let mut t = task("web", "web.old");
        t.node = Some("n1".into());
        t.state = TaskState::Failed;
        t.timestamp = Some(at);
        t
    }

    #[test]
    fn only_failures_of_the_last_five_minutes_count() {
        let now: Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
        let ago = |secs: i64| now - k8s_openapi::jiff::SignedDuration::from_secs(secs);
        assert!(failed_recently(&failed(ago(299)), now));
        assert!(!failed_recently(&failed(ago(301)), now));
        let mut rejected = failed(ago(10));
        rejected.state = TaskState::Rejected;
        assert!(failed_recently(&rejected, now));
        let mut shutdown = failed(ago(10));
        shutdown.state = TaskState::Shutdown;
        assert!(!failed_recently(&shutdown, now));
    }

    #[test]
    fn penalty_starts_at_five_failures_of_the_same_version() {
        let mut n = node("n1");
        let t = task("web", "web.1");
        for _ in 0..4 {
            record(&mut n, &failed(Timestamp::UNIX_EPOCH));
        }
        assert_eq!(penalty(&n, &t), 0, "four failures do not count");
        record(&mut n, &failed(Timestamp::UNIX_EPOCH));
        assert_eq!(penalty(&n, &t), 5);
        let mut next_version = t.clone();
        next_version.spec_version = 2;
        assert_eq!(
            penalty(&n, &next_version),
            0,
            "a new spec version starts over"
        );
    }
}
