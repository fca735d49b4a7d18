//! The scheduler's in-memory copy of nodes and tasks, fed by watches and by its own decisions
//! (applied optimistically while their writes are in flight, so the next pass counts them).

use std::collections::{BTreeMap, HashMap};

use flotilla_api::{SwarmNode, Task, TaskState};
use k8s_openapi::jiff::Timestamp;

use crate::model::{node_infos, NodeInfo, TaskInfo, TaskKey};

struct Entry {
    info: TaskInfo,
    /// While a write is in flight: what the API last said (restored if the write fails).
    before: Option<TaskInfo>,
    /// The explanation last written, so an unchanged one is not rewritten.
    explained: Option<String>,
}

#[derive(Default)]
pub struct State {
    nodes: BTreeMap<String, SwarmNode>,
    tasks: HashMap<TaskKey, Entry>,
}

fn newer(incoming: &TaskInfo, current: &TaskInfo) -> bool {
    let rv = |t: &TaskInfo| {
        t.resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    match (rv(incoming), rv(current)) {
        (Some(a), Some(b)) => a >= b,
        _ => true,
    }
}

impl State {
    /// (tasks, nodes) known.
    pub fn counts(&self) -> (usize, usize) {
        (self.tasks.len(), self.nodes.len())
    }

    pub fn apply_node(&mut self, node: SwarmNode) {
        let name = node.metadata.name.clone().unwrap_or_default();
        self.nodes.insert(name, node);
    }

    pub fn delete_node(&mut self, node: &SwarmNode) {
        self.nodes
            .remove(node.metadata.name.as_deref().unwrap_or_default());
    }

    pub fn replace_nodes(&mut self, nodes: Vec<SwarmNode>) {
        self.nodes.clear();
        nodes.into_iter().for_each(|n| self.apply_node(n));
    }

    /// A task as the API reports it (watch event or write response).
    pub fn apply_task(&mut self, task: &Task) {
        let info = TaskInfo::from_task(task);
        let Some(entry) = self.tasks.get_mut(&info.key) else {
            let key = info.key.clone();
            let entry = Entry {
                info,
                before: None,
                explained: None,
            };
            self.tasks.insert(key, entry);
            return;
        };
        let decided = entry.before.is_some();
        let reference = entry.before.as_ref().unwrap_or(&entry.info);
        if !newer(&info, reference) {
            return;
        }
        // A newer but still undecided copy does not undo our in-flight decision.
        if decided && info.state == TaskState::Pending {
            entry.before = Some(info);
        } else {
            entry.info = info;
            entry.before = None;
        }
    }

    pub fn delete_task(&mut self, task: &Task) {
        self.tasks.remove(&TaskInfo::from_task(task).key);
    }

    pub fn replace_tasks(&mut self, tasks: Vec<Task>) {
        let mut old = std::mem::take(&mut self.tasks);
        for task in &tasks {
            let key = TaskInfo::from_task(task).key;
            if let Some(entry) = old.remove(&key) {
                self.tasks.insert(key, entry);
            }
            self.apply_task(task);
        }
    }

    /// Node usage and the tasks waiting for a decision.
    pub fn snapshot(&self, now: Timestamp) -> (Vec<NodeInfo>, Vec<&TaskInfo>) {
        let tasks = self.tasks.values().map(|e| &e.info);
        let nodes = node_infos(self.nodes.values(), tasks, now);
        let pending = self
            .tasks
            .values()
            .filter(|e| e.before.is_none() && e.info.wants_scheduling())
            .map(|e| &e.info)
            .collect();
        (nodes, pending)
    }

    pub fn task(&self, key: &TaskKey) -> Option<&TaskInfo> {
        self.tasks.get(key).map(|e| &e.info)
    }

    /// Records a decision before its write completes: the task counts on `node` from now on.
    pub fn decided(&mut self, key: &TaskKey, node: &str) {
        if let Some(entry) = self.tasks.get_mut(key) {
            entry.before = Some(entry.info.clone());
            entry.info.node = Some(node.to_string());
            entry.info.state = TaskState::Assigned;
        }
    }

    /// Whether `explanation` still needs writing (and remembers that it is being written).
    pub fn should_explain(&mut self, key: &TaskKey, explanation: &str) -> bool {
        let Some(entry) = self.tasks.get_mut(key) else {
            return false;
        };
        if entry.info.err.as_deref() == Some(explanation)
            || entry.explained.as_deref() == Some(explanation)
        {
            return false;
        }
        entry.explained = Some(explanation.to_string());
        true
    }

    /// A write failed: forget the optimistic decision so the next pass decides again.
    pub fn write_failed(&mut self, key: &TaskKey) {
        if let Some(entry) = self.tasks.get_mut(key) {
            if let Some(before) = entry.before.take() {
                entry.info = before;
            }
            entry.explained = None;
        }
    }
}
