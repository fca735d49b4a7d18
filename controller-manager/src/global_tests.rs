use super::*;
use crate::test_support::{
    created, desired, global_service, labelled, node, node_task, ready_nodes, reasons, snapshot,
};
use flotilla_api::node::NodeState;
use TaskState::*;

fn decide_with(
    svc: &SwarmService,
    tasks: Vec<Task>,
    nodes: Vec<SwarmNode>,
    restarts: &mut RestartState,
) -> Vec<Action> {
    let snap = snapshot(vec![svc.clone()], tasks, nodes);
    reconcile(
        &snap,
        svc,
        restarts,
        &mut UpdateState::default(),
        Instant::now(),
    )
}

fn decide(svc: &SwarmService, tasks: Vec<Task>, nodes: Vec<SwarmNode>) -> Vec<Action> {
    decide_with(svc, tasks, nodes, &mut RestartState::default())
}

fn created_on(actions: &[Action]) -> Vec<String> {
    let mut nodes: Vec<String> = created(actions)
        .iter()
        .map(|t| t.spec.node_name.clone().unwrap())
        .collect();
    nodes.sort();
    nodes
}

#[tokio::test]
async fn one_task_per_eligible_node_with_the_node_preset() {
    let svc = global_service("mon", &["node.labels.zone==a"]);
    let nodes = vec![
        labelled(
            node("n1", NodeAvailability::Active, NodeState::Ready),
            &[("zone", "a")],
        ),
        labelled(
            node("n2", NodeAvailability::Active, NodeState::Ready),
            &[("zone", "b")],
        ),
        labelled(
            node("n3", NodeAvailability::Drain, NodeState::Ready),
            &[("zone", "a")],
        ),
        labelled(
            node("n4", NodeAvailability::Active, NodeState::Down),
            &[("zone", "a")],
        ),
        labelled(
            node("n5", NodeAvailability::Pause, NodeState::Ready),
            &[("zone", "a")],
        ),
        labelled(
            node("n6", NodeAvailability::Active, NodeState::Unknown),
            &[("zone", "A")],
        ),
    ];
    let actions = decide(&svc, vec![], nodes);
    assert_eq!(created_on(&actions), ["n1", "n6"]);
    for t in created(&actions) {
        let name = t.name_any();
        let node = t.spec.node_name.as_deref().unwrap();
        assert!(name.starts_with(&format!("mon.{node}.")), "{name}");
        assert_eq!(name.len(), format!("mon.{node}.").len() + 25);
        assert_eq!((t.spec.slot, t.spec.desired_state), (None, Running));
        assert_eq!(t.owner_references()[0].uid, "uid-mon");
    }
    assert_eq!(reasons(&actions), ["TasksCreated"]);
}

#[tokio::test]
async fn a_joining_node_gets_a_task_and_the_others_keep_theirs() {
    let svc = global_service("mon", &[]);
    let tasks = vec![
        node_task(&svc, "n1", Running, Running, 1),
        node_task(&svc, "n2", Running, Pending, 2),
    ];
    let actions = decide(&svc, tasks, ready_nodes(&["n1", "n2", "n3"]));
    assert_eq!(created_on(&actions), ["n3"]);
    assert!(desired(&actions).is_empty(), "{actions:?}");
}

#[tokio::test]
async fn tasks_on_drained_down_or_no_longer_matching_nodes_are_shut_down_not_moved() {
    let svc = global_service("mon", &["node.labels.zone==a"]);
    let zone_a = |n| labelled(n, &[("zone", "a")]);
    let nodes = vec![
        zone_a(node("n1", NodeAvailability::Drain, NodeState::Ready)),
        zone_a(node("n2", NodeAvailability::Active, NodeState::Down)),
        labelled(
            node("n3", NodeAvailability::Active, NodeState::Ready),
            &[("zone", "b")],
        ),
        zone_a(node("n4", NodeAvailability::Active, NodeState::Ready)),
    ];
    let tasks = vec![
        node_task(&svc, "n1", Running, Running, 1),
        node_task(&svc, "n2", Running, Running, 2),
        node_task(&svc, "n3", Running, Running, 3),
        node_task(&svc, "n4", Running, Running, 4),
        node_task(&svc, "gone", Running, Running, 5),
    ];
    let actions = decide(&svc, tasks, nodes);
    assert_eq!(
        desired(&actions),
        [
            ("mon.n1.t1".to_string(), Shutdown),
            ("mon.n2.t2".to_string(), Shutdown),
            ("mon.n3.t3".to_string(), Shutdown),
            ("mon.gone.t5".to_string(), Remove),
        ]
    );
    assert!(created(&actions).is_empty(), "global tasks are not moved");
    let messages: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some(e.message.clone()),
            _ => None,
        })
        .collect();
    assert!(messages.contains(&"task mon.n1.t1 on node n1 shut down: node is drained".into()));
    assert!(messages.contains(
        &"task mon.n3.t3 on node n3 shut down: node no longer satisfies the service's placement constraints"
            .into()
    ));
}

#[tokio::test]
async fn a_failed_task_restarts_on_the_same_node() {
    let svc = global_service("mon", &[]);
    let tasks = vec![node_task(&svc, "n1", Running, Failed, 1)];
    let actions = decide(&svc, tasks, ready_nodes(&["n1"]));
    assert_eq!(desired(&actions), [("mon.n1.t1".to_string(), Shutdown)]);
    let new = created(&actions);
    assert_eq!(new.len(), 1, "the restart is the node's only new task");
    assert_eq!(new[0].spec.node_name.as_deref(), Some("n1"));
    assert_eq!(new[0].spec.desired_state, Ready, "promoted after the delay");
    assert!(reasons(&actions).contains(&"TaskRestarted"));
}

#[tokio::test]
async fn a_node_given_up_by_the_restart_policy_stays_empty_until_the_next_update() {
    let mut svc = global_service("mon", &[]);
    let policy = std::sync::Arc::make_mut(&mut svc.spec.task_template)
        .restart_policy
        .as_mut()
        .unwrap();
    policy.condition = Some(flotilla_api::template::RestartCondition::None);
    let mut restarts = RestartState::default();
    let failed = node_task(&svc, "n1", Running, Failed, 1);
    let actions = decide_with(
        &svc,
        vec![failed.clone()],
        ready_nodes(&["n1"]),
        &mut restarts,
    );
    assert_eq!(desired(&actions), [("mon.n1.t1".to_string(), Shutdown)]);
    assert!(created(&actions).is_empty(), "{actions:?}");
    let mut stopped = failed;
    stopped.spec.desired_state = Shutdown;
    let again = decide_with(
        &svc,
        vec![stopped.clone()],
        ready_nodes(&["n1"]),
        &mut restarts,
    );
    assert!(created(&again).is_empty(), "not refilled: {again:?}");
    svc.metadata.generation = Some(2);
    let updated = decide_with(&svc, vec![stopped], ready_nodes(&["n1"]), &mut restarts);
    assert_eq!(created_on(&updated), ["n1"], "a service update refills it");
}

#[tokio::test]
async fn paused_node_keeps_its_task_but_gets_no_new_one_and_no_restart() {
    let svc = global_service("mon", &[]);
    let paused = || vec![node("n1", NodeAvailability::Pause, NodeState::Ready)];
    let running = vec![node_task(&svc, "n1", Running, Running, 1)];
    assert!(decide(&svc, running, paused()).is_empty());
    let failed = vec![node_task(&svc, "n1", Running, Failed, 1)];
    let actions = decide(&svc, failed, paused());
    assert_eq!(desired(&actions), [("mon.n1.t1".to_string(), Shutdown)]);
    assert!(created(&actions).is_empty());
    assert_eq!(reasons(&actions), ["RestartRefused"]);
}

#[tokio::test]
async fn a_template_change_rolls_out_node_by_node() {
    let mut svc = global_service("mon", &[]);
    let tasks = vec![
        node_task(&svc, "n1", Running, Running, 1),
        node_task(&svc, "n2", Running, Running, 2),
    ];
    svc.metadata.generation = Some(2);
    std::sync::Arc::make_mut(&mut svc.spec.task_template)
        .container_spec
        .image = "nginx:2".into();
    let actions = decide(&svc, tasks, ready_nodes(&["n1", "n2"]));
    // Default update config: parallelism 1, stop-first.
    assert_eq!(desired(&actions), [("mon.n1.t1".to_string(), Shutdown)]);
    let new = created(&actions);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].spec.node_name.as_deref(), Some("n1"));
    assert_eq!(new[0].spec.template.container_spec.image, "nginx:2");
    assert!(reasons(&actions).contains(&"UpdateStarted"));
}
