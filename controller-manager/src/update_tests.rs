use super::*;
use crate::testutil::{created, desired, ready_nodes, reasons, service, snapshot, task};
use flotilla_api::SwarmServiceStatus;
use TaskState::*;

/// web with 4 running tasks of generation 1, updated to generation 2 (new image).
fn updated(parallelism: i64, action: FailureAction) -> (SwarmService, Vec<Task>) {
    let mut svc = service("web", 4);
    let tasks: Vec<Task> = (1..=4)
        .map(|s| task(&svc, s, Some("n1"), Running, Running, s))
        .collect();
    let previous = svc.spec.clone();
    svc.metadata.generation = Some(2);
    svc.spec.task_template.container_spec.image = "nginx:2".into();
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
