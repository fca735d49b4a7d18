//! Swarm's spread (`nodeset.tree`, `scheduleNTasksOnSubtree`, `scheduleNTasksOnNodes`): placement
//! preferences form a tree whose levels split tasks evenly across label values; within a leaf,
//! each task goes to the node with fewest tasks of the service (then fewest
//! tasks overall). Resource usage is not part of the score, only of the filters.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};

use flotilla_api::constraint::{ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX};

use crate::failures;
use crate::filters::Pipeline;
use crate::model::{NodeInfo, TaskInfo};

#[derive(Default)]
struct Tree {
    /// Active tasks of the service on every node under this branch (eligible or not).
    tasks: usize,
    /// Leaf only: indices of the eligible nodes.
    leaf: Vec<usize>,
    branches: BTreeMap<String, Tree>,
}

/// The value of a spread descriptor on a node; nodes without it form the "" branch.
fn spread_value(node: &NodeInfo, descriptor: &str) -> String {
    let lookup = |prefix: &str, labels: &BTreeMap<String, String>| {
        let head = descriptor.get(..prefix.len())?;
        let key = &descriptor[prefix.len()..];
        (head.eq_ignore_ascii_case(prefix) && !key.is_empty()).then(|| labels.get(key).cloned())?
    };
    lookup(NODE_LABEL_PREFIX, &node.labels)
        .or_else(|| lookup(ENGINE_LABEL_PREFIX, &node.engine_labels))
        .unwrap_or_default()
}

struct Ctx<'a, 't> {
    nodes: &'a mut [NodeInfo],
    pipeline: &'a Pipeline<'t>,
    task: &'t TaskInfo,
    placed: Vec<usize>,
}

/// Chooses nodes (indices into `nodes`) for up to `n` tasks shaped like `task`, updating the
/// nodes' usage as it goes. Fewer than `n` entries means the rest fit nowhere.
pub fn place(nodes: &mut [NodeInfo], task: &TaskInfo, n: usize) -> Vec<usize> {
    let mut pipeline = Pipeline::new(task);
    let mut tree = Tree::default();
    for (i, node) in nodes.iter().enumerate() {
        let count = node.service_tasks(&task.service);
        let mut branch = &mut tree;
        branch.tasks += count;
        for descriptor in &task.preferences {
            branch = branch
                .branches
                .entry(spread_value(node, descriptor))
                .or_default();
            branch.tasks += count;
        }
        if pipeline.process(node) {
            branch.leaf.push(i);
        }
    }
    let mut ctx = Ctx {
        nodes,
        pipeline: &pipeline,
        task,
        placed: Vec::with_capacity(n),
    };
    on_subtree(&mut tree, n, &mut ctx);
    ctx.placed
}

fn on_subtree(tree: &mut Tree, n: usize, ctx: &mut Ctx) -> usize {
    if tree.branches.is_empty() {
        let placed = on_nodes(&tree.leaf, n, ctx);
        tree.tasks += placed;
        return placed;
    }
    let mut scheduled = 0;
    let mut full: HashSet<String> = HashSet::new();
    while scheduled < n && full.len() < tree.branches.len() {
        let open = tree.branches.len() - full.len();
        let usable: usize = tree
            .branches
            .iter()
            .filter(|(k, _)| !full.contains(*k))
            .map(|(_, b)| b.tasks)
            .sum();
        let total = usable + n - scheduled;
        let (desired, mut remainder) = (total / open, total % open);
        let before = (scheduled, full.len());
        for (key, branch) in tree.branches.iter_mut() {
            if full.contains(key) || scheduled == n {
                continue;
            }
            if branch.tasks < desired || (branch.tasks == desired && remainder > 0) {
                let want = (desired - branch.tasks + usize::from(remainder > 0)).min(n - scheduled);
                let got = on_subtree(branch, want, ctx);
                scheduled += got;
                if got < want {
                    full.insert(key.clone());
                } else {
                    remainder = remainder.saturating_sub(1);
                }
            }
        }
        if (scheduled, full.len()) == before {
            break;
        }
    }
    tree.tasks += scheduled;
    scheduled
}

/// Each task goes to the least-loaded eligible node of the leaf (nodes where this service version
/// failed 5 times in 5 minutes last; then fewest tasks of the service, then
/// fewest overall, then name). Swarm walks a sorted list instead and can overfill a node when
/// loads start uneven; a heap gives the same order with exact evenness. Nodes that stop passing
/// the filters (resources, ports, max replicas) leave the heap.
fn on_nodes(leaf: &[usize], n: usize, ctx: &mut Ctx) -> usize {
    let task = ctx.task;
    let service = task.service.as_str();
    // Node indices follow name order (`node_infos` sorts), so the index breaks ties by name.
    let key = |nodes: &[NodeInfo], i: usize| {
        let node = &nodes[i];
        let penalty = failures::penalty(node, task);
        Reverse((penalty, node.service_tasks(service), node.active_tasks, i))
    };
    let mut heap: BinaryHeap<_> = leaf.iter().map(|&i| key(ctx.nodes, i)).collect();
    let mut placed = 0;
    while placed < n {
        let Some(Reverse((_, _, _, i))) = heap.pop() else {
            break;
        };
        if !ctx.pipeline.passes(&ctx.nodes[i]) {
            continue;
        }
        ctx.nodes[i].add_task(ctx.task);
        ctx.placed.push(i);
        placed += 1;
        heap.push(key(ctx.nodes, i));
    }
    placed
}
