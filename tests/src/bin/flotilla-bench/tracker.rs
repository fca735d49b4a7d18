//! The bench's view of every Task (a watch that decodes only what the phases count) and of the
//! nodes, with bounded waits for a condition over them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flotilla_api::node::NodeState;
use flotilla_api::{SwarmNode, TaskState};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use serde::{Deserialize, Deserializer};
use tokio::time::Instant;

/// What the bench reads of a Task; serde skips the rest (managedFields included).
#[derive(Clone, Debug)]
pub struct Seen {
    meta: ObjectMeta,
    pub service: String,
    pub node: String,
    pub image: String,
    pub desired: TaskState,
    pub state: TaskState,
}

impl Seen {
    /// Running, and meant to keep running.
    pub fn up(&self) -> bool {
        self.state == TaskState::Running && self.desired == TaskState::Running
    }
}

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Meta {
            name: Option<String>,
            resource_version: Option<String>,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Container {
            image: Option<String>,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Template {
            #[serde(default)]
            container_spec: Container,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Spec {
            service_name: String,
            node_name: Option<String>,
            desired_state: TaskState,
            #[serde(default)]
            template: Template,
        }
        #[derive(Deserialize)]
        struct Status {
            state: Option<TaskState>,
        }
        #[derive(Deserialize)]
        struct Wire {
            metadata: Meta,
            spec: Spec,
            status: Option<Status>,
        }
        let Wire {
            metadata,
            spec,
            status,
        } = Wire::deserialize(deserializer)?;
        Ok(Seen {
            meta: ObjectMeta {
                name: metadata.name,
                resource_version: metadata.resource_version,
                ..ObjectMeta::default()
            },
            service: spec.service_name,
            node: spec.node_name.unwrap_or_default(),
            image: spec.template.container_spec.image.unwrap_or_default(),
            desired: spec.desired_state,
            state: status.and_then(|s| s.state).unwrap_or(TaskState::New),
        })
    }
}

flotilla_scheduler::task_resource!(Seen, seen => seen.meta);

type Tasks = Arc<Mutex<HashMap<String, Seen>>>;

/// Every Task as the watch last showed it.
pub struct Tracker {
    tasks: Tasks,
    client: Client,
    watch: tokio::task::JoinHandle<()>,
}

impl Tracker {
    /// Starts the watch and returns once its initial list is in.
    pub async fn start(client: Client) -> anyhow::Result<Tracker> {
        let tasks: Tasks = Arc::default();
        let api: Api<Seen> = Api::all(client.clone());
        let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
        let (synced_tx, synced) = tokio::sync::oneshot::channel();
        let map = tasks.clone();
        let watch = tokio::spawn(async move {
            let mut synced_tx = Some(synced_tx);
            while let Some(event) = events.next().await {
                match event {
                    Ok(Event::Apply(t) | Event::InitApply(t)) => {
                        let name = t.meta.name.clone().unwrap_or_default();
                        map.lock().unwrap().insert(name, t);
                    }
                    Ok(Event::Delete(t)) => {
                        map.lock()
                            .unwrap()
                            .remove(t.meta.name.as_deref().unwrap_or(""));
                    }
                    Ok(Event::InitDone) => {
                        if let Some(tx) = synced_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Init) => {}
                    Err(e) => eprintln!("bench task watch: {e}"),
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(60), synced).await??;
        Ok(Tracker {
            tasks,
            client,
            watch,
        })
    }

    /// Waits until `done` holds over the tasks (checked every 50 ms); how long it took from
    /// `since`. `progress` words the state for the timeout error.
    pub async fn wait(
        &self,
        what: &str,
        since: Instant,
        timeout: Duration,
        done: impl Fn(&HashMap<String, Seen>) -> bool,
        progress: impl Fn(&HashMap<String, Seen>) -> String,
    ) -> anyhow::Result<Duration> {
        loop {
            {
                let tasks = self.tasks.lock().unwrap();
                if done(&tasks) {
                    return Ok(since.elapsed());
                }
                if since.elapsed() > timeout {
                    anyhow::bail!("{what}: not after {timeout:?} ({})", progress(&tasks));
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until exactly `want` of the named nodes report `state` (None: every node).
    pub async fn wait_nodes(
        &self,
        state: NodeState,
        want: usize,
        only: Option<&[String]>,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let nodes: Api<SwarmNode> = Api::all(self.client.clone());
        let since = Instant::now();
        loop {
            let list = nodes.list(&Default::default()).await?;
            let count = list
                .items
                .iter()
                .filter(|n| only.is_none_or(|o| o.contains(n.metadata.name.as_ref().unwrap())))
                .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(state))
                .count();
            if count == want {
                return Ok(since.elapsed());
            }
            if since.elapsed() > timeout {
                anyhow::bail!("{count} nodes {state:?}, want {want}, after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

/// Tasks of `service` that are up, and those of them running `image`.
pub fn up(tasks: &HashMap<String, Seen>, service: &str, image: Option<&str>) -> usize {
    tasks
        .values()
        .filter(|t| t.service == service && t.up())
        .filter(|t| image.is_none_or(|i| t.image == i))
        .count()
}
