use std::time::Duration;

use super::*;
use crate::test_support::{
    created, desired, labelled, node, node_task, ready_nodes, reasons, service, snapshot, task,
};
use flotilla_api::node::{NodeAvailability, NodeState};
use flotilla_api::service::{GlobalJob, ReplicatedJob, ServiceMode};
use flotilla_api::template::RestartCondition;
use TaskState::*;

/// A defaulted replicated job (restart condition on-failure, delay 5s).
fn job(max_concurrent: i64, total: i64) -> SwarmService {
    let mut svc = service("batch", 1);
    svc.spec.mode = Some(ServiceMode {
        replicated_job: Some(ReplicatedJob {
            max_concurrent: Some(max_concurrent),
            total_completions: Some(total),
        }),
        ..ServiceMode::default()
    });
    svc.spec.update_config = None;
    svc.spec.rollback_config = None;
    std::sync::Arc::make_mut(&mut svc.spec.task_template).restart_policy = None;
    svc.spec.apply_defaults();
    svc
}

fn global_job() -> SwarmService {
    let mut svc = job(1, 1);
    svc.spec.mode = Some(ServiceMode {
        global_job: Some(GlobalJob {}),
        ..ServiceMode::default()
    });
    svc
}

/// A job task in `slot` (desired COMPLETE unless said otherwise), bound to n1.
fn jt(svc: &SwarmService, slot: i64, observed: TaskState, age: i64) -> Task {
    task(svc, slot, Some("n1"), Complete, observed, age)
}

/// A global job task on `node`.
fn on_node(svc: &SwarmService, node: &str, observed: TaskState, age: i64) -> Task {
    node_task(svc, node, Complete, observed, age)
}

fn decide_with(
    svc: &SwarmService,
    tasks: Vec<Task>,
    nodes: Vec<flotilla_api::SwarmNode>,
    restarts: &mut RestartState,
) -> Vec<Action> {
    let snap = snapshot(vec![svc.clone()], tasks, nodes);
    reconcile(&snap, svc, restarts, Instant::now())
}

fn decide(svc: &SwarmService, tasks: Vec<Task>) -> Vec<Action> {
    decide_with(
        svc,
        tasks,
        ready_nodes(&["n1"]),
        &mut RestartState::default(),
    )
}

fn slots(actions: &[Action]) -> Vec<i64> {
    created(actions)
        .iter()
        .map(|t| t.spec.slot.unwrap())
        .collect()
}

fn nodes_of(actions: &[Action]) -> Vec<String> {
    created(actions)
        .iter()
        .map(|t| t.spec.node_name.clone().unwrap())
        .collect()
}

#[test]
fn defaults_follow_the_api_maxconcurrent_one_and_total_maxconcurrent() {
    let mut svc = job(1, 1);
    svc.spec.mode.as_mut().unwrap().replicated_job = Some(ReplicatedJob {
        max_concurrent: Some(3),
        total_completions: None,
    });
    assert_eq!(limits(&svc), Some((3, 3)));
    assert_eq!(
        std::sync::Arc::make_mut(&mut svc.spec.task_template)
            .restart_policy
            .as_ref()
            .unwrap()
            .condition,
        Some(RestartCondition::OnFailure)
    );
    assert_eq!(limits(&service("web", 2)), None);
    assert_eq!(iteration(&service("web", 2)), None);
}

#[tokio::test]
async fn starts_max_concurrent_tasks_in_slots_from_zero_to_complete() {
    let svc = job(2, 5);
    let actions = decide(&svc, vec![]);
    assert_eq!(slots(&actions), [0, 1]);
    for t in created(&actions) {
        assert_eq!(t.spec.desired_state, Complete);
        assert_eq!(t.spec.job_iteration, Some(0));
    }
    assert_eq!(reasons(&actions), ["JobTasksCreated"]);
}

#[tokio::test]
async fn never_runs_more_than_max_concurrent() {
    let svc = job(2, 5);
    let busy = vec![jt(&svc, 0, Running, 1), jt(&svc, 1, Pending, 2)];
    assert!(decide(&svc, busy).is_empty(), "two of two running");
    let one_done = vec![
        jt(&svc, 0, Complete, 1),
        jt(&svc, 1, Running, 2),
        jt(&svc, 2, Complete, 3),
    ];
    assert_eq!(
        slots(&decide(&svc, one_done)),
        [3],
        "one free place, lowest free slot"
    );
}

#[tokio::test]
async fn stops_creating_at_total_completions() {
    let svc = job(2, 5);
    let mut tasks: Vec<Task> = (0..4).map(|s| jt(&svc, s, Complete, s)).collect();
    tasks.push(jt(&svc, 4, Running, 9));
    assert!(
        decide(&svc, tasks.clone()).is_empty(),
        "last one still running"
    );
    tasks[4] = jt(&svc, 4, Complete, 9);
    assert!(decide(&svc, tasks).is_empty(), "done: nothing more");
}

#[tokio::test]
async fn completed_tasks_are_never_restarted_even_with_condition_any() {
    let mut svc = job(1, 2);
    std::sync::Arc::make_mut(&mut svc.spec.task_template)
        .restart_policy
        .as_mut()
        .unwrap()
        .condition = Some(RestartCondition::Any);
    let actions = decide(&svc, vec![jt(&svc, 0, Complete, 1)]);
    assert!(desired(&actions).is_empty(), "{actions:?}");
    assert_eq!(slots(&actions), [1], "only the next slot starts");
}

#[tokio::test(start_paused = true)]
async fn failed_task_is_retried_in_its_slot_after_the_delay() {
    let svc = job(1, 3);
    let failed = jt(&svc, 0, Failed, 1);
    let mut restarts = RestartState::default();
    let nodes = || ready_nodes(&["n1"]);
    let actions = decide_with(&svc, vec![failed.clone()], nodes(), &mut restarts);
    assert_eq!(desired(&actions), [("batch.0.t1".to_string(), Shutdown)]);
    assert_eq!(
        slots(&actions),
        [0],
        "replacement only: slot 0 still counts as running"
    );
    let replacement = created(&actions)[0].clone();
    assert_eq!(replacement.spec.desired_state, Ready);
    assert_eq!(replacement.spec.job_iteration, Some(0));
    let mut old = failed;
    old.spec.desired_state = Shutdown;
    let tasks = vec![old, replacement.clone()];
    let early = decide_with(&svc, tasks.clone(), nodes(), &mut restarts);
    assert!(early.is_empty(), "in its restart delay: {early:?}");
    tokio::time::advance(Duration::from_secs(5)).await;
    let name = replacement.metadata.name.clone().unwrap();
    let promoted = decide_with(&svc, tasks, nodes(), &mut restarts);
    assert_eq!(
        desired(&promoted),
        [(name, Complete)],
        "promoted to run to completion"
    );
}

#[tokio::test]
async fn a_slot_that_failed_for_good_is_not_refilled() {
    let mut svc = job(2, 3);
    let policy = std::sync::Arc::make_mut(&mut svc.spec.task_template)
        .restart_policy
        .as_mut()
        .unwrap();
    policy.condition = Some(RestartCondition::None);
    let actions = decide(&svc, vec![jt(&svc, 0, Failed, 1), jt(&svc, 1, Complete, 2)]);
    assert_eq!(desired(&actions), [("batch.0.t1".to_string(), Shutdown)]);
    assert!(reasons(&actions).contains(&"RestartRefused"));
    assert_eq!(
        slots(&actions),
        [2],
        "slot 0 gave up; slot 2 is the last one missing"
    );
    let mut stopped = jt(&svc, 0, Failed, 1);
    stopped.spec.desired_state = Shutdown;
    let later = vec![stopped, jt(&svc, 1, Complete, 2), jt(&svc, 2, Complete, 3)];
    assert!(decide(&svc, later).is_empty(), "the job ends with 2 of 3");
}

#[tokio::test]
async fn max_attempts_limits_retries() {
    let mut svc = job(1, 1);
    std::sync::Arc::make_mut(&mut svc.spec.task_template)
        .restart_policy
        .as_mut()
        .unwrap()
        .max_attempts = Some(1);
    let mut restarts = RestartState::default();
    let first = jt(&svc, 0, Failed, 1);
    let actions = decide_with(
        &svc,
        vec![first.clone()],
        ready_nodes(&["n1"]),
        &mut restarts,
    );
    assert_eq!(slots(&actions), [0]);
    let mut first = first;
    first.spec.desired_state = Shutdown;
    let second = jt(&svc, 0, Failed, 2);
    let actions = decide_with(
        &svc,
        vec![first, second],
        ready_nodes(&["n1"]),
        &mut restarts,
    );
    assert!(reasons(&actions).contains(&"RestartRefused"), "{actions:?}");
    assert!(created(&actions).is_empty());
}

#[tokio::test]
async fn spec_change_starts_a_new_iteration_and_removes_unfinished_old_tasks() {
    let old = job(2, 3);
    let tasks = vec![
        jt(&old, 0, Complete, 1),
        jt(&old, 1, Running, 2),
        jt(&old, 2, Assigned, 3),
    ];
    let mut svc = old.clone();
    svc.metadata.generation = Some(2);
    std::sync::Arc::make_mut(&mut svc.spec.task_template).force_update = Some(1);
    let actions = decide(&svc, tasks);
    assert_eq!(
        desired(&actions),
        [
            ("batch.1.t2".to_string(), Remove),
            ("batch.2.t3".to_string(), Remove)
        ],
        "the completed task stays as history"
    );
    assert!(reasons(&actions).contains(&"JobIterationStarted"));
    assert_eq!(slots(&actions), [0, 1], "old completions do not count");
    assert!(created(&actions)
        .iter()
        .all(|t| t.spec.job_iteration == Some(1)));
}

#[tokio::test]
async fn global_job_runs_once_on_every_eligible_node() {
    let svc = global_job();
    let nodes = vec![
        node("n1", NodeAvailability::Active, NodeState::Ready),
        node("n2", NodeAvailability::Drain, NodeState::Ready),
        node("n3", NodeAvailability::Active, NodeState::Down),
        node("n4", NodeAvailability::Pause, NodeState::Ready),
        labelled(
            node("n5", NodeAvailability::Active, NodeState::Ready),
            &[("batch", "no")],
        ),
        node("n6", NodeAvailability::Active, NodeState::Ready),
    ];
    let mut constrained = svc.clone();
    std::sync::Arc::make_mut(&mut constrained.spec.task_template)
        .placement
        .get_or_insert_default()
        .constraints = vec!["node.labels.batch!=no".into()];
    let actions = decide_with(&constrained, vec![], nodes, &mut RestartState::default());
    assert_eq!(nodes_of(&actions), ["n1", "n6"]);
    let t = created(&actions)[0];
    assert_eq!((t.spec.desired_state, t.spec.slot), (Complete, None));
    assert!(t.metadata.name.as_deref().unwrap().starts_with("batch.n1."));
}

#[tokio::test]
async fn global_job_adds_no_task_after_completion_but_one_for_a_new_node() {
    let svc = global_job();
    let tasks = vec![
        on_node(&svc, "n1", Complete, 1),
        on_node(&svc, "n2", Running, 2),
    ];
    let two = decide_with(
        &svc,
        tasks.clone(),
        ready_nodes(&["n1", "n2"]),
        &mut RestartState::default(),
    );
    assert!(two.is_empty(), "{two:?}");
    let three = decide_with(
        &svc,
        tasks,
        ready_nodes(&["n1", "n2", "n3"]),
        &mut RestartState::default(),
    );
    assert_eq!(nodes_of(&three), ["n3"]);
}

#[tokio::test]
async fn global_job_retries_on_the_same_node_but_not_on_a_drained_or_paused_one() {
    let svc = global_job();
    let tasks = vec![
        on_node(&svc, "n1", Failed, 1),
        on_node(&svc, "n2", Running, 2),
        on_node(&svc, "n3", Failed, 3),
    ];
    let nodes = vec![
        node("n1", NodeAvailability::Active, NodeState::Ready),
        node("n2", NodeAvailability::Drain, NodeState::Ready),
        node("n3", NodeAvailability::Pause, NodeState::Ready),
    ];
    let actions = decide_with(&svc, tasks, nodes, &mut RestartState::default());
    assert_eq!(
        desired(&actions),
        [
            ("batch.n1.t1".to_string(), Shutdown),
            ("batch.n2.t2".to_string(), Shutdown),
            ("batch.n3.t3".to_string(), Shutdown)
        ]
    );
    assert_eq!(
        nodes_of(&actions),
        ["n1"],
        "no replacement on the drained or the paused node"
    );
    assert_eq!(created(&actions)[0].spec.desired_state, Ready);
}

#[test]
fn progress_prefers_done_over_active_over_gave_up() {
    let svc = job(3, 3);
    let mut gave_up = jt(&svc, 1, Failed, 1);
    gave_up.spec.desired_state = Shutdown;
    let tasks = [
        jt(&svc, 0, Complete, 1),
        jt(&svc, 0, Failed, 0),
        gave_up,
        jt(&svc, 1, Running, 2),
        jt(&svc, 2, Rejected, 3),
    ];
    let refs: Vec<&Task> = tasks.iter().collect();
    let p = progress(&refs, &[], &[set_desired(&tasks[4], Shutdown)], |t| {
        t.slot()
    });
    assert_eq!(
        p.into_iter().collect::<Vec<_>>(),
        [
            (0, Progress::Done),
            (1, Progress::Active),
            (2, Progress::GaveUp)
        ]
    );
}
