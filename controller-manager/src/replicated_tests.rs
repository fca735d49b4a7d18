use super::*;
use crate::test_support::{created, desired, ready_nodes, service, snapshot, task};
use TaskState::*;

fn decide(svc: &SwarmService, tasks: Vec<Task>, nodes: &[&str]) -> Vec<Action> {
    let snap = snapshot(vec![svc.clone()], tasks, ready_nodes(nodes));
    let mut restarts = RestartState::default();
    let mut updates = UpdateState::default();
    reconcile(&snap, svc, &mut restarts, &mut updates, Instant::now())
}

/// One replica with restart condition `none`.
fn never_restarted(name: &str) -> SwarmService {
    let mut svc = service(name, 1);
    std::sync::Arc::make_mut(&mut svc.spec.task_template)
        .restart_policy
        .as_mut()
        .unwrap()
        .condition = Some(flotilla_api::template::RestartCondition::None);
    svc
}

fn slots(actions: &[Action]) -> Vec<i64> {
    created(actions)
        .iter()
        .map(|t| t.spec.slot.unwrap())
        .collect()
}

#[tokio::test]
async fn creates_one_task_per_slot() {
    let svc = service("web", 3);
    let actions = decide(&svc, vec![], &["n1"]);
    assert_eq!(slots(&actions), [1, 2, 3]);
    assert!(created(&actions)
        .iter()
        .all(|t| t.spec.desired_state == Running));
}

#[tokio::test]
async fn scale_up_fills_the_lowest_free_slots() {
    let svc = service("web", 4);
    let tasks = vec![
        task(&svc, 2, Some("n1"), Running, Running, 1),
        task(&svc, 5, Some("n1"), Running, Running, 2),
    ];
    assert_eq!(slots(&decide(&svc, tasks, &["n1"])), [1, 3]);
}

#[tokio::test]
async fn scale_down_removes_from_the_most_loaded_node_first() {
    let svc = service("web", 2);
    let tasks = vec![
        task(&svc, 1, Some("n1"), Running, Running, 1),
        task(&svc, 2, Some("n1"), Running, Running, 2),
        task(&svc, 3, Some("n1"), Running, Running, 3),
        task(&svc, 4, Some("n2"), Running, Running, 4),
    ];
    let removed = desired(&decide(&svc, tasks, &["n1", "n2"]));
    assert_eq!(
        removed,
        [
            ("web.2.t2".to_string(), Remove),
            ("web.3.t3".to_string(), Remove)
        ]
    );
}

#[tokio::test]
async fn scale_down_prefers_tasks_that_are_not_running() {
    let svc = service("web", 1);
    let tasks = vec![
        task(&svc, 1, Some("n1"), Running, Running, 1),
        task(&svc, 2, Some("n2"), Running, Preparing, 2),
    ];
    assert_eq!(
        desired(&decide(&svc, tasks, &["n1", "n2"])),
        [("web.2.t2".to_string(), Remove)]
    );
}

#[tokio::test]
async fn failed_task_is_replaced_in_its_slot_with_desired_ready() {
    let svc = service("web", 2);
    let tasks = vec![
        task(&svc, 1, Some("n1"), Running, Failed, 1),
        task(&svc, 2, Some("n1"), Running, Running, 2),
    ];
    let actions = decide(&svc, tasks, &["n1"]);
    assert_eq!(desired(&actions), [("web.1.t1".to_string(), Shutdown)]);
    let new = created(&actions);
    assert_eq!(new.len(), 1, "no extra scale-up for the restarted slot");
    assert_eq!(
        (new[0].spec.slot, new[0].spec.desired_state),
        (Some(1), Ready)
    );
}

#[tokio::test]
async fn tasks_on_a_down_node_are_replaced() {
    use flotilla_api::node::{NodeAvailability, NodeState};
    let svc = service("web", 1);
    let tasks = vec![task(&svc, 1, Some("n1"), Running, Running, 1)];
    let nodes = vec![crate::test_support::node(
        "n1",
        NodeAvailability::Active,
        NodeState::Down,
    )];
    let snap = snapshot(vec![svc.clone()], tasks, nodes);
    let actions = reconcile(
        &snap,
        &svc,
        &mut RestartState::default(),
        &mut UpdateState::default(),
        Instant::now(),
    );
    assert_eq!(desired(&actions), [("web.1.t1".to_string(), Shutdown)]);
    assert_eq!(slots(&actions), [1]);
}

#[tokio::test]
async fn a_slot_given_up_by_the_restart_policy_is_not_refilled() {
    let mut svc = never_restarted("web");
    let tasks = vec![task(&svc, 1, Some("n1"), Shutdown, Failed, 1)];
    assert!(created(&decide(&svc, tasks.clone(), &["n1"])).is_empty());
    svc.metadata.generation = Some(2);
    assert_eq!(
        slots(&decide(&svc, tasks, &["n1"])),
        [1],
        "a service update refills it"
    );
}

#[tokio::test]
async fn refused_restart_does_not_trigger_a_scale_up() {
    let svc = never_restarted("web");
    let actions = decide(
        &svc,
        vec![task(&svc, 1, Some("n1"), Running, Failed, 1)],
        &["n1"],
    );
    assert_eq!(desired(&actions), [("web.1.t1".to_string(), Shutdown)]);
    assert!(created(&actions).is_empty(), "{actions:?}");
}

/// A READY task of the old spec (a restart waiting out its delay) is replaced by the update; it
/// used to be promoted to RUNNING in the same round, two contradicting writes racing.
#[tokio::test]
async fn update_replacing_a_ready_task_does_not_promote_it() {
    let mut svc = service("web", 1);
    let waiting = task(&svc, 1, Some("n1"), Ready, Ready, 1);
    svc.metadata.generation = Some(2);
    std::sync::Arc::make_mut(&mut svc.spec.task_template)
        .container_spec
        .image = "nginx:2".into();
    let actions = decide(&svc, vec![waiting], &["n1"]);
    assert_eq!(slots(&actions), [1], "the update replaces slot 1");
    assert_eq!(desired(&actions), [("web.1.t1".to_string(), Shutdown)]);
}

/// An update's new task fails and its restart is refused; the old task it replaced stopped in
/// the same second. The slot stays given up whichever of the two sorts as newest (it used to be
/// refilled when the old task won the tie on its name).
#[tokio::test]
async fn a_slot_given_up_after_an_update_is_not_refilled() {
    let mut svc = never_restarted("web");
    let mut old = task(&svc, 1, Some("n1"), Shutdown, Shutdown, 1);
    old.metadata.name = Some("web.1.zzz".into());
    svc.metadata.generation = Some(2);
    std::sync::Arc::make_mut(&mut svc.spec.task_template)
        .container_spec
        .image = "nginx:2".into();
    let mut new = task(&svc, 1, Some("n1"), Shutdown, Failed, 1);
    new.metadata.name = Some("web.1.aaa".into());
    let actions = decide(&svc, vec![old, new], &["n1"]);
    assert!(created(&actions).is_empty(), "{actions:?}");
}
