//! Every version of every task as a watch delivered it, in order: what rolling-update tests read
//! to see how many slots were updating at once, and which of two things happened first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use flotilla_api::{Task, TaskState};
use futures::StreamExt;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio::task::JoinHandle;

use super::observed;

/// Records task versions from a watch until dropped.
pub struct Timeline {
    seen: Arc<Mutex<Vec<Task>>>,
    handle: JoinHandle<()>,
}

impl Drop for Timeline {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl Timeline {
    /// Starts watching `api`; returns once the watch has listed what exists.
    pub async fn watch(api: Api<Task>) -> Timeline {
        let seen: Arc<Mutex<Vec<Task>>> = Arc::default();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let sink = seen.clone();
        let handle = tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            let mut events = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Apply(t) | watcher::Event::InitApply(t)) => {
                        sink.lock().unwrap().push(t)
                    }
                    Ok(watcher::Event::InitDone) => {
                        ready_tx.take().map(|tx| tx.send(()));
                    }
                    _ => {}
                }
            }
        });
        ready.await.expect("task watch started");
        Timeline { seen, handle }
    }

    /// The versions of `service`'s tasks seen so far, oldest first.
    pub fn of(&self, service: &str) -> Vec<Task> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.spec.service_name == service)
            .cloned()
            .collect()
    }
}

/// Slots being updated to `new_image`: an old task asked to stop but not yet stopped, or a new
/// task that is not yet RUNNING.
fn updating(tasks: &HashMap<String, Task>, new_image: &str) -> BTreeSet<i64> {
    tasks
        .values()
        .filter(|t| {
            let new = t.spec.template.container_spec.image == new_image;
            let state = observed(t);
            if new {
                t.spec.desired_state <= TaskState::Running && state < TaskState::Running
            } else {
                t.spec.desired_state >= TaskState::Shutdown && !state.is_terminal()
            }
        })
        .filter_map(|t| t.spec.slot)
        .collect()
}

/// The most slots updating to `new_image` at any one moment of `versions`.
pub fn max_updating(versions: &[Task], new_image: &str) -> usize {
    let mut current: HashMap<String, Task> = HashMap::new();
    let mut most = 0;
    for t in versions {
        current.insert(t.name_any(), t.clone());
        most = most.max(updating(&current, new_image).len());
    }
    most
}

/// Index in `versions` of the first version of task `name` for which `pred` holds.
pub fn first(versions: &[Task], name: &str, pred: impl Fn(&Task) -> bool) -> Option<usize> {
    versions
        .iter()
        .position(|t| t.metadata.name.as_deref() == Some(name) && pred(t))
}

/// Slot → names of the tasks ever seen in it, in order of first appearance.
pub fn by_slot(versions: &[Task]) -> BTreeMap<i64, Vec<String>> {
    let mut slots: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for t in versions {
        let names = slots.entry(t.spec.slot.unwrap_or(0)).or_default();
        if !names.contains(&t.name_any()) {
            names.push(t.name_any());
        }
    }
    slots
}
