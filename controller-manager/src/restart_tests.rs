use super::*;
use crate::test_support::{created, desired, ready_nodes, reasons, service, snapshot, task};
use TaskState::*;

/// web (one replica, restarts after 5s, `max_attempts` within `window`) on ready node n1, the
/// cluster showing `tasks`, and the restart supervisor's memory.
struct Fixture {
    svc: SwarmService,
    snap: Snapshot,
    state: RestartState,
}

impl Fixture {
    fn new(max_attempts: i64, window: &str) -> Fixture {
        let mut svc = service("web", 1);
        let p = std::sync::Arc::make_mut(&mut svc.spec.task_template)
            .restart_policy
            .as_mut()
            .unwrap();
        p.max_attempts = Some(max_attempts);
        p.window = Some(window.into());
        p.delay = Some("5s".into());
        let snap = snapshot(vec![svc.clone()], vec![], ready_nodes(&["n1"]));
        Fixture {
            svc,
            snap,
            state: RestartState::default(),
        }
    }

    /// A task of slot 1 on n1: `observed` by the agent, `age` orders it among its slot's tasks.
    fn task(&self, observed: TaskState, age: i64) -> Task {
        task(&self.svc, 1, Some("n1"), Running, observed, age)
    }

    fn shows(&mut self, tasks: &[&Task]) {
        let tasks = tasks.iter().map(|t| (*t).clone()).collect();
        self.snap = snapshot(vec![self.svc.clone()], tasks, ready_nodes(&["n1"]));
    }

    /// The restart supervisor replaces slot 1's `old` task now.
    fn restart(&mut self, old: &Task, why: &str) -> Vec<Action> {
        let (snap, svc) = (&self.snap, &self.svc);
        let now = Instant::now();
        self.state
            .restart(snap, svc, old, Placement::Slot(1), why, now)
    }

    fn promotions(&mut self, new: &Task) -> Vec<Action> {
        self.state.promotions(&self.snap, &[new], Instant::now())
    }
}

#[tokio::test(start_paused = true)]
async fn replacement_is_promoted_after_the_delay_once_the_old_task_stopped() {
    let mut f = Fixture::new(0, "0s");
    let old = f.task(Failed, 1);
    f.shows(&[&old]);
    let actions = f.restart(&old, "failed");
    assert_eq!(desired(&actions), [("web.1.t1".to_string(), Shutdown)]);
    assert_eq!(reasons(&actions), ["TaskRestarted"]);
    let new = created(&actions)[0].clone();
    f.shows(&[&old, &new]);
    tokio::time::advance(Duration::from_secs(4)).await;
    assert!(f.promotions(&new).is_empty(), "still in its delay");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        desired(&f.promotions(&new)),
        [(new.metadata.name.clone().unwrap(), Running)]
    );
}

#[tokio::test(start_paused = true)]
async fn promotion_waits_for_a_running_predecessor_at_most_a_minute() {
    let mut f = Fixture::new(0, "0s");
    let old = f.task(Running, 1);
    f.shows(&[&old]);
    let new = created(&f.restart(&old, "node drained"))[0].clone();
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(f.promotions(&new).is_empty());
    tokio::time::advance(Duration::from_secs(40)).await;
    assert_eq!(f.promotions(&new).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn stops_after_max_attempts_and_counts_only_the_window() {
    let mut f = Fixture::new(2, "10s");
    for age in 1..=2 {
        let actions = f.restart(&f.task(Failed, age), "failed");
        assert_eq!(created(&actions).len(), 1);
    }
    let actions = f.restart(&f.task(Failed, 3), "failed");
    assert!(created(&actions).is_empty());
    assert_eq!(reasons(&actions), ["RestartRefused"]);
    tokio::time::advance(Duration::from_secs(11)).await;
    let actions = f.restart(&f.task(Failed, 4), "failed");
    assert_eq!(created(&actions).len(), 1, "old attempts left the window");
}

#[test]
fn on_failure_does_not_restart_completed_tasks() {
    let p = Policy {
        condition: RestartCondition::OnFailure,
        delay: Duration::ZERO,
        max_attempts: 0,
        window: Duration::ZERO,
    };
    assert!(refuse(&p, Complete, &[], Instant::now()).is_some());
    assert!(refuse(&p, Failed, &[], Instant::now()).is_none());
}
