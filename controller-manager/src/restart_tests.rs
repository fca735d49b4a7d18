use super::*;
use crate::testutil::{created, desired, ready_nodes, reasons, service, snapshot, task};
use std::sync::Arc;
use TaskState::*;

fn with_policy(max_attempts: i64, window: &str) -> SwarmService {
    let mut svc = service("web", 1);
    let p = svc.spec.task_template.restart_policy.as_mut().unwrap();
    p.max_attempts = Some(max_attempts);
    p.window = Some(window.into());
    p.delay = Some("5s".into());
    svc
}

#[tokio::test(start_paused = true)]
async fn replacement_is_promoted_after_the_delay_once_the_old_task_stopped() {
    let svc = with_policy(0, "0s");
    let old = task(&svc, 1, Some("n1"), Running, Failed, 1);
    let snap = snapshot(vec![svc.clone()], vec![old.clone()], ready_nodes(&["n1"]));
    let mut state = RestartState::default();
    let actions = state.restart(
        &snap,
        &svc,
        &old,
        Placement::Slot(1),
        "failed",
        Instant::now(),
    );
    assert_eq!(desired(&actions), [("web.1.t1".to_string(), Shutdown)]);
    assert_eq!(reasons(&actions), ["TaskRestarted"]);
    let new = created(&actions)[0].clone();
    let mut snap = snap;
    snap = crate::snapshot::Snapshot::new(
        snap.services.clone(),
        vec![Arc::new(old), Arc::new(new.clone())],
        snap.nodes.clone(),
        vec![],
        vec![],
    );
    tokio::time::advance(Duration::from_secs(4)).await;
    assert!(
        state.promotions(&snap, &[&new], Instant::now()).is_empty(),
        "still in its delay"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        desired(&state.promotions(&snap, &[&new], Instant::now())),
        [(new.metadata.name.clone().unwrap(), Running)]
    );
}

#[tokio::test(start_paused = true)]
async fn promotion_waits_for_a_running_predecessor_at_most_a_minute() {
    let svc = with_policy(0, "0s");
    let old = task(&svc, 1, Some("n1"), Running, Running, 1);
    let snap = snapshot(vec![svc.clone()], vec![old.clone()], ready_nodes(&["n1"]));
    let mut state = RestartState::default();
    let actions = state.restart(
        &snap,
        &svc,
        &old,
        Placement::Slot(1),
        "node drained",
        Instant::now(),
    );
    let new = created(&actions)[0].clone();
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(state.promotions(&snap, &[&new], Instant::now()).is_empty());
    tokio::time::advance(Duration::from_secs(40)).await;
    assert_eq!(state.promotions(&snap, &[&new], Instant::now()).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn stops_after_max_attempts_and_counts_only_the_window() {
    let svc = with_policy(2, "10s");
    let snap = snapshot(vec![svc.clone()], vec![], ready_nodes(&["n1"]));
    let mut state = RestartState::default();
    let fail = |age| task(&svc, 1, Some("n1"), Running, Failed, age);
    for age in 1..=2 {
        let actions = state.restart(
            &snap,
            &svc,
            &fail(age),
            Placement::Slot(1),
            "failed",
            Instant::now(),
        );
        assert_eq!(created(&actions).len(), 1);
    }
    let actions = state.restart(
        &snap,
        &svc,
        &fail(3),
        Placement::Slot(1),
        "failed",
        Instant::now(),
    );
    assert!(created(&actions).is_empty());
    assert_eq!(reasons(&actions), ["RestartRefused"]);
    tokio::time::advance(Duration::from_secs(11)).await;
    let actions = state.restart(
        &snap,
        &svc,
        &fail(4),
        Placement::Slot(1),
        "failed",
        Instant::now(),
    );
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
