use std::sync::Arc;

use super::*;
use crate::test_support::{node, reasons};
use flotilla_api::node::NodeAvailability;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

/// A Lease for `node` renewed at wall-clock second `renewed` (deliberately far in the past: the
/// controller must not compare it with its own clock).
fn lease(node: &str, renewed: i64) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.to_string()),
            namespace: Some("flotilla-node-lease".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.to_string()),
            lease_duration_seconds: Some(40),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
            ..Default::default()
        }),
    }
}

fn with_message(mut n: SwarmNode, message: &str) -> SwarmNode {
    n.status.as_mut().unwrap().message = Some(message.into());
    n
}

fn snap(nodes: Vec<SwarmNode>, leases: Vec<Lease>) -> Snapshot {
    Snapshot::new(
        vec![],
        vec![],
        nodes.into_iter().map(Arc::new).collect(),
        vec![],
        leases.into_iter().map(Arc::new).collect(),
    )
}

fn ready(name: &str) -> SwarmNode {
    node(name, NodeAvailability::Active, NodeState::Ready)
}

fn down(name: &str, message: &str) -> SwarmNode {
    with_message(
        node(name, NodeAvailability::Active, NodeState::Down),
        message,
    )
}

/// (node, state, message) of every NodeStatus write.
fn statuses(actions: &[Action]) -> Vec<(String, String, serde_json::Value)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::NodeStatus { name, patch } => Some((
                name.clone(),
                patch["state"].as_str().unwrap().to_string(),
                patch["message"].clone(),
            )),
            _ => None,
        })
        .collect()
}

async fn tick(secs: u64) -> Instant {
    tokio::time::advance(Duration::from_secs(secs)).await;
    Instant::now()
}

#[tokio::test(start_paused = true)]
async fn renewing_node_stays_ready_and_goes_down_one_grace_period_after_the_last_renewal() {
    let mut monitor = NodeMonitor::default();
    let last = 1_025;
    for renewed in (1_000..=last).step_by(5) {
        let s = snap(vec![ready("n1")], vec![lease("n1", renewed)]);
        assert!(monitor.reconcile(&s, tick(5).await).is_empty());
    }
    // The agent stops renewing: still ready within the grace period…
    let stale = snap(vec![ready("n1")], vec![lease("n1", last)]);
    assert!(monitor.reconcile(&stale, tick(5).await).is_empty());
    assert!(monitor.reconcile(&stale, tick(9).await).is_empty(), "14 s");
    // …down once 15 s passed without a renewal, with Swarm's message.
    let actions = monitor.reconcile(&stale, tick(1).await);
    assert_eq!(
        statuses(&actions),
        [("n1".into(), "down".into(), json!(HEARTBEAT_FAILURE))]
    );
    assert_eq!(reasons(&actions), ["NodeDown"]);
}

#[tokio::test(start_paused = true)]
async fn first_sighting_gets_a_full_grace_period_whatever_the_wall_clock_says() {
    let mut monitor = NodeMonitor::new(Duration::from_secs(3));
    // renewTime is from 1970: a controller that just started (or took over) still waits.
    let s = snap(vec![ready("n1"), ready("n2")], vec![lease("n1", 10)]);
    assert!(monitor.reconcile(&s, Instant::now()).is_empty());
    assert!(monitor.reconcile(&s, tick(2).await).is_empty());
    let actions = monitor.reconcile(&s, tick(1).await);
    let names: Vec<String> = statuses(&actions).into_iter().map(|s| s.0).collect();
    assert_eq!(
        names,
        ["n1", "n2"],
        "a node without a Lease never beats either"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_taken_down_comes_back_when_its_lease_is_renewed() {
    let mut monitor = NodeMonitor::default();
    let gone = snap(vec![ready("n1")], vec![lease("n1", 100)]);
    monitor.reconcile(&gone, Instant::now());
    assert_eq!(statuses(&monitor.reconcile(&gone, tick(15).await)).len(), 1);
    let marked = snap(vec![down("n1", HEARTBEAT_FAILURE)], vec![lease("n1", 100)]);
    assert!(monitor.reconcile(&marked, tick(1).await).is_empty());
    let back = snap(vec![down("n1", HEARTBEAT_FAILURE)], vec![lease("n1", 200)]);
    let actions = monitor.reconcile(&back, tick(1).await);
    assert_eq!(
        statuses(&actions),
        [("n1".into(), "ready".into(), serde_json::Value::Null)]
    );
    assert_eq!(reasons(&actions), ["NodeReady"]);
}

#[tokio::test(start_paused = true)]
async fn does_not_fight_the_agent() {
    let mut monitor = NodeMonitor::default();
    // The agent stopped and said so: its still-fresh Lease does not bring the node back.
    let stopped = |renewed| {
        snap(
            vec![down("n1", "node agent stopped")],
            vec![lease("n1", renewed)],
        )
    };
    monitor.reconcile(&stopped(100), Instant::now());
    assert!(monitor.reconcile(&stopped(105), tick(5).await).is_empty());
    // Long after, the agent registers as ready before renewing its (stale) Lease: that is a
    // heartbeat, not a node to take down at once.
    tick(60).await;
    let registered = snap(vec![ready("n1")], vec![lease("n1", 105)]);
    assert!(monitor.reconcile(&registered, tick(1).await).is_empty());
    assert!(monitor.reconcile(&registered, tick(14).await).is_empty());
    assert_eq!(
        statuses(&monitor.reconcile(&registered, tick(1).await)).len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_a_down_node_needs_a_renewal_to_come_back() {
    let mut monitor = NodeMonitor::default();
    let s = snap(vec![down("n1", HEARTBEAT_FAILURE)], vec![lease("n1", 100)]);
    assert!(
        monitor.reconcile(&s, Instant::now()).is_empty(),
        "first sighting is no renewal"
    );
    assert!(monitor.reconcile(&s, tick(5).await).is_empty());
    let renewed = snap(vec![down("n1", HEARTBEAT_FAILURE)], vec![lease("n1", 105)]);
    assert_eq!(
        statuses(&monitor.reconcile(&renewed, tick(1).await))[0].1,
        "ready"
    );
}
