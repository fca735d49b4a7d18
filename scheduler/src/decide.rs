//! One scheduling pass over a snapshot: preassigned tasks are confirmed first, then unassigned
//! tasks are decided per (service, spec version) group, sharing one spread decision.

use std::collections::BTreeMap;

use crate::filters::{no_suitable_node, Pipeline};
use crate::model::{NodeInfo, TaskInfo, TaskKey};
use crate::spread;

/// What the pass decided for one Pending task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Bind the task to the node (Pending → Assigned).
    Bind { task: TaskKey, node: String },
    /// The preassigned node can run it (Pending → Assigned, "scheduler confirmed …").
    Confirm { task: TaskKey, node: String },
    /// It fits nowhere: stays Pending with this `no suitable node (…)` explanation.
    Unschedulable { task: TaskKey, explanation: String },
}

/// Decides every task in `pending` (Pending tasks wanting scheduling) against `nodes`, whose
/// usage already includes every task bound so far. `nodes` is updated with the decisions.
pub fn schedule(nodes: &mut [NodeInfo], pending: &[&TaskInfo]) -> Vec<Decision> {
    let mut decisions = Vec::with_capacity(pending.len());
    let mut groups: BTreeMap<(&str, i64), Vec<&TaskInfo>> = BTreeMap::new();
    for task in pending {
        match &task.node {
            Some(node) => decisions.push(preassigned(nodes, task, node)),
            None => groups
                .entry((task.service.as_str(), task.spec_version))
                .or_default()
                .push(task),
        }
    }
    for group in groups.values_mut() {
        group.sort_by(|a, b| (a.slot, &a.key).cmp(&(b.slot, &b.key)));
        decide_group(nodes, group, &mut decisions);
    }
    decisions
}

fn preassigned(nodes: &mut [NodeInfo], task: &TaskInfo, node: &str) -> Decision {
    let Some(info) = nodes.iter_mut().find(|n| n.name == node) else {
        return Decision::Unschedulable {
            task: task.key.clone(),
            explanation: format!("no suitable node (node {node} not found)"),
        };
    };
    if Pipeline::new(task).passes(info) {
        info.add_task(task);
        Decision::Confirm {
            task: task.key.clone(),
            node: node.to_string(),
        }
    } else {
        Decision::Unschedulable {
            task: task.key.clone(),
            explanation: no_suitable_node(task, std::slice::from_ref(info)),
        }
    }
}

fn decide_group(nodes: &mut [NodeInfo], group: &[&TaskInfo], out: &mut Vec<Decision>) {
    let prototype = group[0];
    let chosen = spread::place(nodes, prototype, group.len());
    for (task, &node) in group.iter().zip(&chosen) {
        out.push(Decision::Bind {
            task: task.key.clone(),
            node: nodes[node].name.clone(),
        });
    }
    if chosen.len() < group.len() {
        let explanation = no_suitable_node(prototype, nodes);
        for task in &group[chosen.len()..] {
            out.push(Decision::Unschedulable {
                task: task.key.clone(),
                explanation: explanation.clone(),
            });
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
