//! Which node each Task is bound to and which service, secrets and configs it references, kept
//! current from the Task watch cache. The node authorizer asks it (Swarm's dispatcher rule: a node
//! sees only its own tasks and what they need; Kubernetes' Node authorizer keeps the same graph
//! of pods to nodes, secrets and config maps).

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

use serde::Deserialize;

use futures::StreamExt;

use crate::security::authz::{NodeRelations, ReferencedKind};
use crate::store::decoded::Decoded;
use crate::watchcache::{EventKind, WatchCache};

/// Keeps the index current until it or the cache is dropped: load a snapshot, apply events;
/// when the subscription ends (the index fell behind, or the cache reset) start over from a
/// snapshot. It holds neither strongly: a stopped server's Task cache (and its etcd watch) must
/// not outlive the server because this task still waits for an event.
async fn follow(index: Weak<NodeIndex>, cache: Weak<WatchCache<Decoded>>) {
    loop {
        let Some((snapshot, mut sub)) = cache.upgrade().map(|c| c.snapshot_and_subscribe()) else {
            return;
        };
        match index.upgrade() {
            Some(i) => i.load(snapshot.items.iter().map(|(_, t)| t.as_ref())),
            None => return,
        }
        drop(snapshot);
        while let Some(ev) = sub.next().await {
            let Some(index) = index.upgrade() else { return };
            match ev {
                Ok(ev) if ev.kind == EventKind::Deleted => index.remove(&ev.object),
                Ok(ev) => index.put(&ev.object),
                Err(e) => {
                    tracing::info!(error = %e, "task index resyncing");
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// One entry per task (~22,000 at 10,000 replicas and their history): boxed strings and
/// slices, exactly sized, so a table slot is 80 bytes instead of 144.
#[derive(Debug, Default, Clone, PartialEq)]
struct TaskRefs {
    node: Box<str>,
    service: Box<str>,
    secrets: Box<[Box<str>]>,
    configs: Box<[Box<str>]>,
}

/// The fields of a Task the index reads, deserialized from its JSON without building the rest:
/// the cache holds tasks as JSON (see [`Decoded`]).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct TaskView {
    metadata: MetaView,
    spec: SpecView,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MetaView {
    namespace: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct SpecView {
    node_name: Option<String>,
    service_name: Option<String>,
    template: Option<TemplateView>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct TemplateView {
    container_spec: Option<ContainerView>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContainerView {
    secrets: Option<Vec<RefView>>,
    configs: Option<Vec<RefView>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RefView {
    secret_name: Option<String>,
    config_name: Option<String>,
}

fn refs_of(task: &Decoded) -> (Key, TaskRefs) {
    let view: TaskView = serde_json::from_slice(&task.json()).unwrap_or_default();
    let c = view
        .spec
        .template
        .and_then(|t| t.container_spec)
        .unwrap_or_default();
    let names = |refs: Option<Vec<RefView>>, pick: fn(RefView) -> Option<String>| {
        refs.unwrap_or_default()
            .into_iter()
            .filter_map(pick)
            .map(String::into_boxed_str)
            .collect()
    };
    let refs = TaskRefs {
        node: view.spec.node_name.unwrap_or_default().into(),
        service: view.spec.service_name.unwrap_or_default().into(),
        secrets: names(c.secrets, |r| r.secret_name),
        configs: names(c.configs, |r| r.config_name),
    };
    let m = view.metadata;
    let key = key(
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default(),
    );
    (key, refs)
}

/// `namespace/name` (a namespace has no `/`).
type Key = Box<str>;

fn key(namespace: &str, name: &str) -> Key {
    format!("{namespace}/{name}").into()
}

#[derive(Default)]
pub struct NodeIndex {
    tasks: RwLock<HashMap<Key, TaskRefs>>,
}

impl NodeIndex {
    /// Loads the current tasks from the Task watch cache, then follows it. If the cache drops
    /// the subscription (lag or reset) the index reloads from a fresh snapshot.
    pub fn start(cache: &Arc<WatchCache<Decoded>>) -> Arc<NodeIndex> {
        let index = Arc::new(NodeIndex::default());
        let (snapshot, _) = cache.snapshot_and_subscribe();
        index.load(snapshot.items.iter().map(|(_, t)| t.as_ref()));
        tokio::spawn(follow(Arc::downgrade(&index), Arc::downgrade(cache)));
        index
    }

    fn load<'a>(&self, tasks: impl Iterator<Item = &'a Decoded>) {
        let fresh: HashMap<Key, TaskRefs> = tasks.map(refs_of).collect();
        *self.tasks.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    fn put(&self, task: &Decoded) {
        let (key, refs) = refs_of(task);
        let mut map = self.tasks.write().unwrap_or_else(|e| e.into_inner());
        map.insert(key, refs);
    }

    fn remove(&self, task: &Decoded) {
        let (key, _) = refs_of(task);
        let mut map = self.tasks.write().unwrap_or_else(|e| e.into_inner());
        map.remove(&key);
    }
}

impl NodeRelations for NodeIndex {
    fn task_node(&self, namespace: &str, name: &str) -> Option<String> {
        let map = self.tasks.read().unwrap_or_else(|e| e.into_inner());
        map.get(&key(namespace, name))
            .filter(|r| !r.node.is_empty())
            .map(|r| r.node.to_string())
    }

    fn node_references(
        &self,
        node: &str,
        kind: ReferencedKind,
        namespace: &str,
        name: &str,
    ) -> bool {
        let map = self.tasks.read().unwrap_or_else(|e| e.into_inner());
        map.iter().any(|(key, r)| {
            key.split_once('/').is_some_and(|(ns, _)| ns == namespace)
                && &*r.node == node
                && match kind {
                    ReferencedKind::SwarmService => &*r.service == name,
                    ReferencedKind::SwarmSecret => r.secrets.iter().any(|s| &**s == name),
                    ReferencedKind::SwarmConfig => r.configs.iter().any(|s| &**s == name),
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn following_the_task_cache_does_not_keep_it_alive() {
        use crate::storage::{memory::MemoryStore, KeyValue, Store};
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let decode: crate::watchcache::Decode<Decoded> =
            Arc::new(|kv: &KeyValue| serde_json::from_slice(&kv.value).ok().map(Decoded::new));
        let prefix = "/registry/flotilla.dev/tasks/";
        let cache = Arc::new(WatchCache::start(store, prefix, decode).await.unwrap());
        let index = NodeIndex::start(&cache);
        let cache_ref = Arc::downgrade(&cache);
        // Let the follower take its snapshot and wait for events.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // The server drops its caches when it stops; the cache (with its store watch) must go
        // with them, even while the index is still referenced and no event ever comes.
        drop(cache);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            cache_ref.upgrade().is_none(),
            "the index's follower still holds the Task cache"
        );
        drop(index);
    }

    #[test]
    fn reads_node_and_references_from_a_task() {
        let t = Decoded::new(
            json!({"metadata": {"namespace": "default", "name": "web.1.abc"},
            "spec": {"nodeName": "node-1", "serviceName": "web", "template": {"containerSpec": {
                "secrets": [{"secretName": "db-pass"}], "configs": [{"configName": "nginx-conf"}]}}}}),
        );
        let index = NodeIndex::default();
        index.put(&t);
        assert_eq!(
            index.task_node("default", "web.1.abc").as_deref(),
            Some("node-1")
        );
        assert!(index.node_references("node-1", ReferencedKind::SwarmSecret, "default", "db-pass"));
        assert!(!index.node_references(
            "node-2",
            ReferencedKind::SwarmSecret,
            "default",
            "db-pass"
        ));
        assert!(index.node_references(
            "node-1",
            ReferencedKind::SwarmConfig,
            "default",
            "nginx-conf"
        ));
        assert!(!index.node_references("node-1", ReferencedKind::SwarmSecret, "other", "db-pass"));
        assert!(index.node_references("node-1", ReferencedKind::SwarmService, "default", "web"));
        assert!(!index.node_references("node-2", ReferencedKind::SwarmService, "default", "web"));
        assert!(!index.node_references("node-1", ReferencedKind::SwarmService, "default", "db"));
        index.remove(&t);
        assert_eq!(index.task_node("default", "web.1.abc"), None);
    }
}
