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
    /// It fits nowhere: stays Pending with this explanation in `status.err` (`no suitable node (…)`,
    /// or for a preassigned task the bare reason, e.g. `1 node not available for new tasks`).
    Unschedulable { task: TaskKey, explanation: String },
}

/// Decides every task in `pending` (Pending tasks wanting scheduling) against `nodes`, whose
/// usage already includes every task bound so far. `nodes` is updated with the decisions.
pub fn schedule(nodes: &mut [NodeInfo], pending: &[&TaskInfo]) -> Vec<Decision> {
    let mut decisions = Vec::with_capacity(pending.len());
    let mut groups: BTreeMap<(&str, i64), Vec<&TaskInfo>> = BTreeMap::new();
    for task in pending {
        match &task.node {
            Some(node) => decisions.extend(preassigned(nodes, task, node)),
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

/// Swarm's `taskFitNode`: a task whose node is gone gets no decision (it stays Pending, silently);
/// one the node cannot take is explained with the bare pipeline explanation, as Swarm does.
fn preassigned(nodes: &mut [NodeInfo], task: &TaskInfo, node: &str) -> Option<Decision> {
    let info = nodes.iter_mut().find(|n| n.name == node)?;
    let mut pipeline = Pipeline::new(task);
    if !pipeline.process(info) {
        return Some(Decision::Unschedulable {
            task: task.key.clone(),
            explanation: pipeline.explain(),
        });
    }
    info.add_task(task);
    Some(Decision::Confirm {
        task: task.key.clone(),
        node: node.to_string(),
    })
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
