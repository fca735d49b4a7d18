//! The scheduler's in-memory copy of nodes and tasks, fed by watches and by its own decisions
//! (applied optimistically while their writes are in flight, so the next pass counts them).

use std::collections::{BTreeMap, HashMap};

use flotilla_api::{SwarmNode, Task, TaskState};
use k8s_openapi::jiff::Timestamp;

use crate::debounce::Change;
use crate::model::{node_infos, NodeInfo, TaskInfo, TaskKey};

struct Entry {
    info: TaskInfo,
    /// While a write is in flight: what the API last said (restored if the write fails).
    /// Boxed: rarely set, and inline it would double every entry's size.
    before: Option<Box<TaskInfo>>,
    /// The explanation last written, so an unchanged one is not rewritten.
    explained: Option<String>,
}

#[derive(Default)]
pub struct State {
    nodes: BTreeMap<String, SwarmNode>,
    /// Entries boxed: a table slot is then the key and a pointer, not ~450 bytes. The table
    /// keeps the room of its largest size (its empty slots are of the same size), and it reached
    /// 16,384 slots at 10,000 replicas (docs/benchmark.md).
    tasks: HashMap<TaskKey, Box<Entry>>,
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

/// What a task's change (`None`: absent) means for a scheduling pass, as SwarmKit's scheduler
/// counts `pendingChanges`: the task starts waiting for a decision (or, still waiting, changed),
/// or it stopped holding its node's resources, ports or spread count (finished, moved, no
/// longer desired). Status reports of a
/// task that stays on its node (Accepted … Running) cannot change a decision, and under churn
/// they would otherwise keep restarting the quiet period until the 1 s cap.
pub fn change(before: Option<&TaskInfo>, after: Option<&TaskInfo>) -> Change {
    let holds = |t: Option<&TaskInfo>| {
        t.filter(|t| t.occupies_node())
            .map(|t| (t.node.clone(), t.is_active()))
    };
    let held = holds(before);
    let waits = |t: Option<&TaskInfo>| t.is_some_and(TaskInfo::wants_scheduling);
    if waits(after) && !waits(before) {
        Change::Waiting
    } else if waits(after) || (held.is_some() && held != holds(after)) {
        Change::Relevant
    } else {
        Change::Irrelevant
    }
}

impl State {
    /// (tasks, nodes) known.
    pub fn counts(&self) -> (usize, usize) {
        (self.tasks.len(), self.nodes.len())
    }

    pub fn apply_node(&mut self, mut node: SwarmNode) {
        // Never read in a decision: a tree of maps per writer is not kept.
        node.metadata.managed_fields = None;
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

    /// A task as the API reports it (watch event or write response), and what the change
    /// means for a scheduling pass ([`change`]).
    pub fn apply_task(&mut self, task: &Task) -> Change {
        self.apply_info(TaskInfo::from_task(task))
    }

    fn apply_info(&mut self, info: TaskInfo) -> Change {
        if info.is_finished() {
            return self.finished(info);
        }
        let Some(entry) = self.tasks.get_mut(&info.key) else {
            let wants = change(None, Some(&info));
            let key = info.key.clone();
            let entry = Box::new(Entry {
                info,
                before: None,
                explained: None,
            });
            self.tasks.insert(key, entry);
            return wants;
        };
        let decided = entry.before.is_some();
        let reference = entry.before.as_deref().unwrap_or(&entry.info);
        if !newer(&info, reference) {
            return Change::Irrelevant;
        }
        // A newer but still undecided copy does not undo our in-flight decision.
        if decided && info.state == TaskState::Pending {
            entry.before = Some(Box::new(info));
            Change::Irrelevant
        } else {
            let previous = std::mem::replace(&mut entry.info, info);
            entry.before = None;
            change(Some(&previous), Some(&entry.info))
        }
    }

    /// A task as a write's answer reports it: only a task still held is updated. An answer that
    /// comes after the watch reported the task finished must not bring it back.
    pub fn apply_answer(&mut self, task: &Task) -> Change {
        let info = TaskInfo::from_task(task);
        if self.tasks.contains_key(&info.key) {
            self.apply_info(info)
        } else {
            Change::Irrelevant
        }
    }

    /// A finished task is not kept: after a rolling update half the tasks are history, and the
    /// scheduler held each of them (docs/benchmark.md).
    fn finished(&mut self, info: TaskInfo) -> Change {
        if let Some(e) = self.tasks.get(&info.key) {
            if !newer(&info, e.before.as_deref().unwrap_or(&e.info)) {
                return Change::Irrelevant;
            }
        }
        let removed = self.tasks.remove(&info.key);
        change(removed.as_ref().map(|e| &e.info), None)
    }

    /// What the deletion means for a scheduling pass.
    pub fn delete_task(&mut self, task: &Task) -> Change {
        let removed = self.tasks.remove(&TaskInfo::from_task(task).key);
        change(removed.as_ref().map(|e| &e.info), None)
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
            entry.before = Some(Box::new(entry.info.clone()));
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
                entry.info = *before;
            }
            entry.explained = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use flotilla_api::TaskState::{self, *};

    use super::*;
    use crate::debounce::Change::*;
    use crate::filters::testutil::task;

    fn at(state: TaskState, desired: TaskState, node: Option<&str>) -> TaskInfo {
        let mut t = task("web", "web.1.a");
        t.state = state;
        t.desired = desired;
        t.node = node.map(str::to_string);
        t
    }

    #[test]
    fn a_pending_task_needs_a_pass() {
        let pending = at(Pending, Running, None);
        assert_eq!(change(None, Some(&pending)), Waiting, "created pending");
        assert_eq!(
            change(Some(&at(New, Running, None)), Some(&pending)),
            Waiting
        );
        let promoted = at(Pending, Running, None);
        let ready = at(Pending, Ready, None);
        assert_eq!(
            change(Some(&ready), Some(&promoted)),
            Relevant,
            "still waiting: no new work, but it may decide differently"
        );
        let preassigned = at(Pending, Running, Some("n1"));
        assert_eq!(
            change(None, Some(&preassigned)),
            Waiting,
            "global: pending with a node"
        );
    }

    #[test]
    fn status_reports_of_a_task_staying_on_its_node_do_not() {
        let states = [Assigned, Accepted, Preparing, Ready, Starting, Running];
        for pair in states.windows(2) {
            let before = at(pair[0], Running, Some("n1"));
            let after = at(pair[1], Running, Some("n1"));
            assert_eq!(change(Some(&before), Some(&after)), Irrelevant, "{pair:?}");
        }
        let bound = at(Assigned, Running, Some("n1"));
        assert_eq!(
            change(None, Some(&bound)),
            Irrelevant,
            "a task arriving bound takes, frees nothing"
        );
        let shutdown = at(Pending, Shutdown, None);
        assert_eq!(
            change(None, Some(&shutdown)),
            Irrelevant,
            "pending but no longer wanted"
        );
    }

    #[test]
    fn a_task_leaving_its_node_does() {
        let running = at(Running, Running, Some("n1"));
        for (label, after) in [
            ("failed", Some(at(Failed, Running, Some("n1")))),
            ("shut down", Some(at(Shutdown, Shutdown, Some("n1")))),
            ("desired shutdown", Some(at(Running, Shutdown, Some("n1")))),
            ("deleted", None),
        ] {
            assert_eq!(change(Some(&running), after.as_ref()), Relevant, "{label}");
        }
    }

    fn api_task(state: TaskState, rv: u64) -> Task {
        let spec = flotilla_api::task::TaskSpec {
            service_name: "web".into(),
            node_name: Some("n1".into()),
            ..Default::default()
        };
        let mut t = Task::new("web.1.a", spec);
        t.metadata.namespace = Some("default".into());
        t.metadata.resource_version = Some(rv.to_string());
        t.status = Some(flotilla_api::task::TaskStatus {
            state: Some(state),
            ..Default::default()
        });
        t
    }

    #[test]
    fn a_finished_task_frees_its_node_and_is_not_kept_nor_brought_back() {
        let mut state = State::default();
        state.apply_task(&api_task(Running, 5));
        assert_eq!(state.counts().0, 1);
        assert_eq!(
            state.apply_task(&api_task(Shutdown, 7)),
            Relevant,
            "frees n1"
        );
        assert_eq!(state.counts().0, 0, "history is not held");
        // An answer to an earlier write arrives after the watch reported the task finished.
        assert_eq!(state.apply_answer(&api_task(Running, 6)), Irrelevant);
        assert_eq!(state.counts().0, 0);
        // A failed task is kept: recent failures weigh on its node.
        state.apply_task(&api_task(Failed, 8));
        assert_eq!(state.counts().0, 1);
        // An older report of a task held does not finish it.
        state.apply_task(&api_task(Running, 9));
        assert_eq!(state.apply_task(&api_task(Complete, 8)), Irrelevant);
        assert_eq!(state.counts().0, 1);
    }
}
