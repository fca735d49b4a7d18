//! Pure tests of a scheduling pass: spread, preferences, resources, ports, max replicas and
//! explanations, without I/O.

use std::collections::BTreeMap;

use flotilla_api::endpoint::PortProtocol;
use flotilla_api::node::NodeAvailability;

use super::*;
use crate::filters::testutil::{node, task, with_constraints};

fn tasks(service: &str, n: usize) -> Vec<TaskInfo> {
    (1..=n)
        .map(|i| {
            let mut t = task(service, &format!("{service}.{i}"));
            t.slot = i as i64;
            t
        })
        .collect()
}

fn run(nodes: &mut [NodeInfo], tasks: &[TaskInfo]) -> Vec<Decision> {
    let refs: Vec<&TaskInfo> = tasks.iter().collect();
    schedule(nodes, &refs)
}

/// Tasks bound per node name.
fn per_node(decisions: &[Decision]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for d in decisions {
        if let Decision::Bind { node, .. } = d {
            *counts.entry(node.clone()).or_default() += 1;
        }
    }
    counts
}

fn unschedulable(decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Unschedulable { explanation, .. } => Some(explanation.clone()),
            _ => None,
        })
        .collect()
}

fn zoned(name: &str, zone: &str) -> NodeInfo {
    let mut n = node(name);
    n.labels.insert("zone".into(), zone.into());
    n
}

#[test]
fn six_replicas_spread_evenly_over_three_nodes() {
    let mut nodes = vec![node("n1"), node("n2"), node("n3")];
    let decisions = run(&mut nodes, &tasks("web", 6));
    let counts: Vec<usize> = per_node(&decisions).into_values().collect();
    assert_eq!(counts, [2, 2, 2]);
}

#[test]
fn existing_tasks_of_the_service_are_evened_out_first() {
    let mut nodes = vec![node("n1"), node("n2"), node("n3")];
    for i in 0..3 {
        nodes[0].add_task(&task("web", &format!("old{i}")));
    }
    // Other services' tasks only break ties.
    nodes[1].add_task(&task("db", "db.1"));
    let decisions = run(&mut nodes, &tasks("web", 4));
    let counts = per_node(&decisions);
    assert_eq!(counts.get("n1"), None);
    assert_eq!(counts["n2"], 2);
    assert_eq!(counts["n3"], 2);
    let decisions = run(&mut nodes, &tasks("api", 1));
    assert_eq!(per_node(&decisions).keys().collect::<Vec<_>>(), ["n3"]);
}

#[test]
fn spread_preference_splits_by_label_value_not_node_count() {
    let mut nodes = vec![
        zoned("a1", "a"),
        zoned("a2", "a"),
        zoned("b1", "b"),
        node("x"),
    ];
    let mut ts = tasks("web", 9);
    for t in &mut ts {
        t.preferences = vec!["node.labels.zone".into()];
    }
    let counts = per_node(&run(&mut nodes, &ts));
    // Three branches (a, b, no label): three tasks each.
    assert_eq!(counts["a1"] + counts["a2"], 3);
    assert_eq!(counts["b1"], 3);
    assert_eq!(counts["x"], 3);
}

#[test]
fn preferences_form_a_hierarchy() {
    let mut nodes = Vec::new();
    for (name, zone, rack) in [("n1", "a", "r1"), ("n2", "a", "r2"), ("n3", "b", "r1")] {
        let mut n = zoned(name, zone);
        n.labels.insert("rack".into(), rack.into());
        nodes.push(n);
    }
    let mut ts = tasks("web", 4);
    for t in &mut ts {
        t.preferences = vec!["node.labels.zone".into(), "node.labels.rack".into()];
    }
    let counts = per_node(&run(&mut nodes, &ts));
    assert_eq!(counts["n3"], 2, "zone b gets half");
    assert_eq!(
        (counts["n1"], counts["n2"]),
        (1, 1),
        "zone a's half splits by rack"
    );
}

#[test]
fn constraint_places_only_on_matching_nodes() {
    let mut nodes = vec![zoned("a1", "a"), zoned("b1", "b"), zoned("b2", "b")];
    let ts: Vec<TaskInfo> = tasks("web", 3)
        .into_iter()
        .map(|t| with_constraints(t, &["node.labels.zone==a"]))
        .collect();
    let decisions = run(&mut nodes, &ts);
    assert_eq!(per_node(&decisions)["a1"], 3);
    assert!(unschedulable(&decisions).is_empty());
}

#[test]
fn resources_run_out_and_the_rest_is_explained() {
    let mut nodes = vec![node("n1"), node("n2"), node("n3")]; // 4 CPUs each
    let mut ts = tasks("db", 7);
    for t in &mut ts {
        t.reservation.nano_cpus = 2_000_000_000;
    }
    let decisions = run(&mut nodes, &ts);
    assert_eq!(
        per_node(&decisions).into_values().collect::<Vec<_>>(),
        [2, 2, 2]
    );
    assert_eq!(
        unschedulable(&decisions),
        ["no suitable node (insufficient resources on 3 nodes)"]
    );
}

#[test]
fn impossible_reservation_with_constraints_explains_both() {
    let mut nodes = vec![zoned("a1", "a"), node("n2"), node("n3"), node("n4")];
    nodes[0].reserved.memory_bytes = 4 << 30;
    // Fits the 8 GiB of n2..n4 (which fail the constraint), not what is left on a1.
    let mut t = with_constraints(task("big", "big.1"), &["node.labels.zone==a"]);
    t.reservation.memory_bytes = 6 << 30;
    let decisions = run(&mut nodes, &[t]);
    assert_eq!(
        unschedulable(&decisions),
        ["no suitable node (scheduling constraints not satisfied on 3 nodes; insufficient resources on 1 node)"]
    );
}

#[test]
fn drained_and_paused_nodes_receive_nothing() {
    let mut nodes = vec![node("n1"), node("n2"), node("n3")];
    nodes[1].availability = Some(NodeAvailability::Drain);
    nodes[2].availability = Some(NodeAvailability::Pause);
    let decisions = run(&mut nodes, &tasks("web", 4));
    assert_eq!(per_node(&decisions).keys().collect::<Vec<_>>(), ["n1"]);
    nodes[0].ready = false;
    assert_eq!(
        unschedulable(&run(&mut nodes, &tasks("api", 1))),
        ["no suitable node (3 nodes not available for new tasks)"]
    );
}

#[test]
fn host_ports_allow_one_task_per_node() {
    let mut nodes = vec![node("n1"), node("n2")];
    let mut ts = tasks("edge", 3);
    for t in &mut ts {
        t.host_ports = vec![(PortProtocol::Tcp, 80)];
    }
    let decisions = run(&mut nodes, &ts);
    assert_eq!(
        per_node(&decisions).into_values().collect::<Vec<_>>(),
        [1, 1]
    );
    assert_eq!(
        unschedulable(&decisions),
        ["no suitable node (host-mode port already in use on 2 nodes)"]
    );
}

#[test]
fn max_replicas_per_node() {
    let mut nodes = vec![node("n1"), node("n2"), node("n3")];
    let mut ts = tasks("web", 5);
    for t in &mut ts {
        t.max_replicas = 1;
    }
    let decisions = run(&mut nodes, &ts);
    assert_eq!(per_node(&decisions).len(), 3);
    assert_eq!(
        unschedulable(&decisions),
        [
            "no suitable node (max replicas per node limit exceed)",
            "no suitable node (max replicas per node limit exceed)"
        ]
    );
}

#[test]
fn preassigned_tasks_are_confirmed_or_explained() {
    let mut nodes = vec![node("n1"), node("n2")];
    nodes[1].availability = Some(NodeAvailability::Drain);
    let mut ok = task("agent", "agent.n1");
    ok.node = Some("n1".into());
    let mut drained = task("agent", "agent.n2");
    drained.node = Some("n2".into());
    let mut gone = task("agent", "agent.n9");
    gone.node = Some("n9".into());
    let decisions = run(&mut nodes, &[ok.clone(), drained.clone(), gone]);
    assert_eq!(
        decisions,
        [
            Decision::Confirm {
                task: ok.key,
                node: "n1".into()
            },
            // Swarm's taskFitNode: the bare explanation, no "no suitable node (…)" around it…
            Decision::Unschedulable {
                task: drained.key,
                explanation: "1 node not available for new tasks".into()
            },
            // …and no decision at all for a node that does not exist.
        ]
    );
    assert_eq!(
        nodes[0].service_tasks("default/agent"),
        1,
        "confirmed task counts"
    );
}

#[test]
fn large_spread_is_even() {
    let mut nodes: Vec<NodeInfo> = (0..100).map(|i| node(&format!("n{i:03}"))).collect();
    let counts = per_node(&run(&mut nodes, &tasks("web", 1_000)));
    assert_eq!(counts.len(), 100);
    assert!(counts.values().all(|&c| c == 10), "{counts:?}");
}

#[test]
fn preassigned_task_is_checked_against_the_node_without_itself() {
    // 3 of the node's 4 CPUs and its port 80: fits once, not twice.
    let mut first = task("agent", "agent.n1");
    first.node = Some("n1".into());
    first.reservation.nano_cpus = 3_000_000_000;
    first.host_ports = vec![(PortProtocol::Tcp, 80)];
    let mut nodes = vec![node("n1")];
    let decisions = run(&mut nodes, std::slice::from_ref(&first));
    assert!(
        matches!(decisions[..], [Decision::Confirm { .. }]),
        "{decisions:?}"
    );
    let mut second = first.clone();
    second.key.name = "agent2.n1".into();
    second.service = "default/agent2".into();
    second.host_ports.clear();
    assert_eq!(
        unschedulable(&run(&mut nodes, &[second])),
        ["insufficient resources on 1 node"]
    );
}

#[test]
fn nodes_where_the_service_keeps_failing_go_last() {
    let mut nodes = vec![node("n1"), node("n2"), node("n3")];
    let mut crashed = task("web", "web.old");
    crashed.node = Some("n1".into());
    for _ in 0..crate::failures::MAX_FAILURES {
        crate::failures::record(&mut nodes[0], &crashed);
    }
    let counts = per_node(&run(&mut nodes, &tasks("web", 4)));
    assert_eq!(counts.get("n1"), None, "{counts:?}");
    assert_eq!((counts["n2"], counts["n3"]), (2, 2));
    // Still eligible when it is the only node left.
    let decisions = run(&mut nodes[..1], &tasks("web", 1));
    assert_eq!(per_node(&decisions)["n1"], 1);
}
