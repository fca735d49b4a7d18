use super::*;
use crate::test_support::{labelled, node, reasons, service, snapshot, task};
use flotilla_api::template::{Placement, ResourceRequirements, Resources};
use TaskState::*;

fn rejected(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::TaskState {
                name,
                state: Rejected,
                message,
                err,
                ..
            } => {
                assert_eq!(message, REJECTED_MESSAGE);
                assert_eq!(err.as_deref(), Some(REJECTED_ERR));
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}

fn constrained(name: &str, constraints: &[&str]) -> SwarmService {
    let mut svc = service(name, 1);
    std::sync::Arc::make_mut(&mut svc.spec.task_template).placement = Some(Placement {
        constraints: constraints.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    });
    svc
}

fn zone(name: &str, availability: NodeAvailability, zone: &str) -> SwarmNode {
    labelled(
        node(name, availability, NodeState::Ready),
        &[("zone", zone)],
    )
}

#[test]
fn tasks_on_active_nodes_that_no_longer_match_are_rejected() {
    let svc = constrained("db", &["node.labels.zone==a"]);
    let tasks = vec![
        task(&svc, 1, Some("n1"), Running, Running, 1),
        task(&svc, 2, Some("n2"), Running, Running, 2),
        task(&svc, 3, Some("paused"), Running, Running, 3),
        task(&svc, 4, Some("drained"), Running, Running, 4),
        task(&svc, 5, Some("n2"), Running, Failed, 5),
        task(&svc, 6, Some("n2"), Shutdown, Running, 6),
        task(&svc, 7, Some("n2"), Running, Pending, 7),
    ];
    let nodes = vec![
        zone("n1", NodeAvailability::Active, "a"),
        zone("n2", NodeAvailability::Active, "b"),
        zone("paused", NodeAvailability::Pause, "b"),
        zone("drained", NodeAvailability::Drain, "b"),
    ];
    let actions = reconcile(&snapshot(vec![svc], tasks, nodes));
    assert_eq!(rejected(&actions), ["db.2.t2"]);
    assert_eq!(reasons(&actions), ["TaskRejected"]);
}

#[test]
fn the_services_current_constraints_count_not_the_tasks() {
    let old = constrained("db", &["node.labels.zone==b"]);
    let tasks = vec![task(&old, 1, Some("n1"), Running, Running, 1)];
    let nodes = vec![zone("n1", NodeAvailability::Active, "a")];
    let now_a = constrained("db", &["node.labels.zone==a"]);
    let snap = snapshot(vec![now_a], tasks.clone(), nodes.clone());
    assert!(
        rejected(&reconcile(&snap)).is_empty(),
        "the service now wants zone a"
    );
    let now_c = constrained("db", &["node.labels.zone==c"]);
    let snap = snapshot(vec![now_c], tasks.clone(), nodes.clone());
    assert_eq!(rejected(&reconcile(&snap)), ["db.1.t1"]);
    // Serviceless tasks fall back to their own constraints.
    assert_eq!(
        rejected(&reconcile(&snapshot(vec![], tasks, nodes))),
        ["db.1.t1"]
    );
}

#[test]
fn reservations_beyond_the_nodes_capacity_reject_the_newest_tasks() {
    let mut svc = service("db", 3);
    std::sync::Arc::make_mut(&mut svc.spec.task_template).resources = Some(ResourceRequirements {
        reservations: Some(Resources {
            nano_cpus: Some(1_000_000_000),
            ..Default::default()
        }),
        ..Default::default()
    });
    let tasks: Vec<Task> = (1..=3)
        .map(|i| task(&svc, i, Some("n1"), Running, Running, i))
        .collect();
    let mut small = node("n1", NodeAvailability::Active, NodeState::Ready);
    let snap = snapshot(vec![svc.clone()], tasks.clone(), vec![small.clone()]);
    assert!(
        rejected(&reconcile(&snap)).is_empty(),
        "no capacity reported"
    );
    small.status.as_mut().unwrap().resources = Some(Resources {
        nano_cpus: Some(2_000_000_000),
        memory_bytes: Some(1 << 30),
        ..Default::default()
    });
    let snap = snapshot(vec![svc], tasks, vec![small]);
    assert_eq!(rejected(&reconcile(&snap)), ["db.3.t3"]);
}
