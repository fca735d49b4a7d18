use super::*;
use crate::test_support::{created, desired, ready_nodes, reasons, service, snapshot, task};
use flotilla_api::SwarmServiceStatus;
use flotilla_api::TaskState::*;

/// web with 4 running tasks of generation 1, updated to generation 2 (new image).
fn updated(parallelism: i64, action: FailureAction) -> (SwarmService, Vec<Task>) {
    let mut svc = service("web", 4);
    let tasks: Vec<Task> = (1..=4)
        .map(|s| task(&svc, s, Some("n1"), Running, Running, s))
        .collect();
    let previous = svc.spec.clone();
    svc.metadata.generation = Some(2);
    std::sync::Arc::make_mut(&mut svc.spec.task_template)
        .container_spec
        .image = "nginx:2".into();
    let cfg = svc.spec.update_config.as_mut().unwrap();
    cfg.parallelism = Some(parallelism);
    cfg.failure_action = Some(action);
    cfg.monitor = Some("5s".into());
    svc.status = Some(SwarmServiceStatus {
        previous_spec: Some(Box::new(previous)),
        ..Default::default()
    });
    (svc, tasks)
}

fn run(state: &mut UpdateState, svc: &SwarmService, tasks: &[Task]) -> Vec<Action> {
    let snap = snapshot(vec![svc.clone()], tasks.to_vec(), ready_nodes(&["n1"]));
    let refs: Vec<&Task> = tasks
        .iter()
        .filter(|t| crate::snapshot::runnable(t))
        .collect();
    state.reconcile(
        &snap,
        svc,
        &refs,
        &mut RestartState::default(),
        Instant::now(),
    )
}

#[tokio::test(start_paused = true)]
async fn updates_at_most_parallelism_slots_at_once() {
    let (svc, tasks) = updated(2, FailureAction::Pause);
    let mut state = UpdateState::default();
    let actions = run(&mut state, &svc, &tasks);
    let new = created(&actions);
    assert_eq!(
        new.iter().map(|t| t.spec.slot.unwrap()).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(
        new.iter().all(|t| t.spec.desired_state == Ready),
        "stop-first: new tasks wait"
    );
    assert_eq!(
        desired(&actions).len(),
        2,
        "old tasks of slots 1 and 2 stop"
    );
    assert_eq!(reasons(&actions), ["UpdateStarted"]);
    // Nothing progressed: no further slot starts.
    let mut tasks = tasks;
    tasks.extend(new.into_iter().cloned());
    assert!(created(&run(&mut state, &svc, &tasks)).is_empty());
}

#[tokio::test(start_paused = true)]
async fn failing_new_task_rolls_back() {
    let (svc, mut tasks) = updated(1, FailureAction::Rollback);
    let mut state = UpdateState::default();
    let actions = run(&mut state, &svc, &tasks);
    let mut new = created(&actions)[0].clone();
    new.status = Some(flotilla_api::TaskStatus {
        state: Some(Failed),
        ..Default::default()
    });
    tasks[0].spec.desired_state = Shutdown;
    tasks.push(new);
    let actions = run(&mut state, &svc, &tasks);
    let rolled = actions.iter().find_map(|a| match a {
        Action::ServiceSpec { spec, .. } => Some(spec.task_template.container_spec.image.clone()),
        _ => None,
    });
    assert_eq!(rolled.as_deref(), Some("nginx"));
    assert!(reasons(&actions).contains(&"UpdateRolledBack"));
    // The spec write failed (the service still has the failed spec): it is written again.
    let again = run(&mut state, &svc, &tasks);
    assert!(
        matches!(&again[..], [Action::ServiceSpec { spec, .. }] if spec.task_template.container_spec.image == "nginx"),
        "{again:?}"
    );
}

#[test]
fn manual_rollback_uses_the_annotation() {
    let (mut svc, _) = updated(1, FailureAction::Pause);
    assert!(manual_rollback(&svc).is_empty());
    svc.metadata.annotations = Some([(ROLLBACK_ANNOTATION.to_string(), "true".to_string())].into());
    let actions = manual_rollback(&svc);
    assert!(
        matches!(&actions[1], Action::ServiceSpec { spec, annotations, .. }
        if spec.task_template.container_spec.image == "nginx" && annotations[ROLLBACK_ANNOTATION].is_null())
    );
}

/// The status patch's (state, message) in `actions`.
fn update_status(actions: &[Action]) -> Option<(Phase, String)> {
    actions.iter().find_map(|a| match a {
        Action::ServiceStatus { patch, .. } => Some((
            serde_json::from_value(patch["updateStatus"]["state"].clone()).ok()?,
            patch["updateStatus"]["message"].as_str()?.to_string(),
        )),
        _ => None,
    })
}

/// Rolling back a replicas-only change redeploys nothing; the rollback still completes (it stayed
/// `rollback_started` forever).
#[tokio::test(start_paused = true)]
async fn rollback_with_nothing_to_redeploy_completes() {
    let mut svc = service("web", 2);
    let tasks: Vec<Task> = (1..=2)
        .map(|s| task(&svc, s, Some("n1"), Running, Running, s))
        .collect();
    svc.metadata.generation = Some(3);
    svc.status = Some(SwarmServiceStatus {
        update_status: Some(flotilla_api::update::UpdateStatus {
            state: Some(Phase::RollbackStarted),
            message: Some("manually requested rollback".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    let actions = run(&mut UpdateState::default(), &svc, &tasks);
    assert!(created(&actions).is_empty());
    assert_eq!(
        update_status(&actions),
        Some((Phase::RollbackCompleted, "rollback completed".into()))
    );
    assert_eq!(reasons(&actions), ["RollbackCompleted"]);
    // Nothing in progress: a clean spec change writes nothing.
    svc.status = None;
    assert!(run(&mut UpdateState::default(), &svc, &tasks).is_empty());
}

/// Two updates of one service complete with different event messages, so the applier's dedupe
/// (same reason and message within 10 minutes) does not swallow the second.
#[tokio::test(start_paused = true)]
async fn completion_events_name_the_spec_version() {
    let mut svc = service("web", 2);
    svc.metadata.generation = Some(2);
    let tasks: Vec<Task> = (1..=2)
        .map(|s| task(&svc, s, Some("n1"), Running, Running, s))
        .collect();
    svc.status = Some(SwarmServiceStatus {
        update_status: Some(flotilla_api::update::UpdateStatus {
            state: Some(Phase::Updating),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut messages = Vec::new();
    for generation in [2, 3] {
        svc.metadata.generation = Some(generation);
        for a in run(&mut UpdateState::default(), &svc, &tasks) {
            if let Action::Event(e) = a {
                messages.push(e.message);
            }
        }
    }
    assert_eq!(
        messages,
        [
            "update completed (spec version 2)",
            "update completed (spec version 3)"
        ]
    );
}

/// `updated` as a controller-manager finds it after an update was paused (`status.updateStatus`
/// PAUSED), e.g. a new leader with nothing in memory.
fn paused(parallelism: i64) -> (SwarmService, Vec<Task>) {
    let (mut svc, tasks) = updated(parallelism, FailureAction::Pause);
    svc.status.as_mut().unwrap().update_status = Some(flotilla_api::update::UpdateStatus {
        state: Some(Phase::Paused),
        message: Some("update paused due to failure or early termination of task web.1.t9".into()),
        ..Default::default()
    });
    (svc, tasks)
}

/// The paused update of the current spec (its failed task is there) stays paused under a new
/// leader, round after round: no task is replaced and the status is left as it is.
#[tokio::test(start_paused = true)]
async fn a_new_leader_keeps_the_current_specs_update_paused() {
    let (svc, mut tasks) = paused(1);
    tasks[0].spec.desired_state = Shutdown;
    tasks.push(task(&svc, 1, Some("n1"), Running, Failed, 9));
    let mut state = UpdateState::default();
    for round in 0..2 {
        let actions = run(&mut state, &svc, &tasks);
        assert!(actions.is_empty(), "round {round}: {actions:?}");
    }
}

/// A pause of an older spec does not hold the user's new spec: the new update starts, whichever
/// controller-manager sees it (the pause was only honoured by a leader without memory of it).
#[tokio::test(start_paused = true)]
async fn a_new_spec_after_a_pause_starts_its_update_under_a_new_leader() {
    let (svc, tasks) = paused(1);
    let actions = run(&mut UpdateState::default(), &svc, &tasks);
    assert_eq!(reasons(&actions), ["UpdateStarted"]);
    assert_eq!(
        update_status(&actions),
        Some((Phase::Updating, "update in progress".into()))
    );
    assert_eq!(created(&actions).len(), 1, "parallelism 1: one slot starts");
}
