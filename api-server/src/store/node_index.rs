//! Which node each Task is bound to and which service, secrets and configs it references, kept
//! current from the Task watch cache. The node authorizer asks it (Swarm's dispatcher rule: a node
//! sees only its own tasks and what they need; Kubernetes' Node authorizer keeps the same graph
//! of pods to nodes, secrets and config maps).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Deserialize;

use crate::security::authz::{NodeRelations, ReferencedKind};
use crate::store::decoded::Decoded;
use crate::watchcache::{CachedEvent, EventKind, Observed, WatchCache};

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
    /// Loads the current tasks from the Task watch cache and observes its changes before any
    /// watcher is sent them: a node that has seen its Task in its watch may read and report on
    /// it at once (a follower task could lag behind the node's watch and answer 403). Holds the
    /// index weakly: a dropped index leaves the cache a no-op observer.
    pub fn start(cache: &WatchCache<Decoded>) -> Arc<NodeIndex> {
        let index = Arc::new(NodeIndex::default());
        let weak = Arc::downgrade(&index);
        cache.observe(Arc::new(move |observed| {
            let Some(index) = weak.upgrade() else { return };
            match observed {
                Observed::All(tasks) => index.load(tasks.into_iter()),
                Observed::Events(events) => index.apply(events),
            }
        }));
        index
    }

    fn load<'a>(&self, tasks: impl Iterator<Item = &'a Decoded>) {
        let fresh: HashMap<Key, TaskRefs> = tasks.map(refs_of).collect();
        *self.tasks.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    /// Events in revision order: each task's references read before the lock is taken.
    fn apply(&self, events: &[Arc<CachedEvent<Decoded>>]) {
        let changes: Vec<_> = events
            .iter()
            .map(|ev| (ev.kind, refs_of(&ev.object)))
            .collect();
        let mut map = self.tasks.write().unwrap_or_else(|e| e.into_inner());
        for (kind, (key, refs)) in changes {
            if kind == EventKind::Deleted {
                map.remove(&key);
            } else {
                map.insert(key, refs);
            }
        }
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

    fn task_cache_decoder() -> crate::watchcache::Decode<Decoded> {
        Arc::new(|kv: &crate::storage::KeyValue| {
            serde_json::from_slice(&kv.value).ok().map(Decoded::new)
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_a_watcher_is_sent_is_already_in_the_index() {
        use crate::storage::{memory::MemoryStore, Store};
        use futures::StreamExt;
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let prefix = "/registry/flotilla.dev/tasks/";
        let cache = WatchCache::start(store.clone(), prefix, task_cache_decoder())
            .await
            .unwrap();
        let index = NodeIndex::start(&cache);
        let mut watch = cache.subscribe(cache.current_revision()).unwrap();
        for i in 0..200 {
            let name = format!("web.{i}");
            let task = json!({"metadata": {"namespace": "default", "name": name},
                "spec": {"nodeName": format!("node-{}", i % 7), "serviceName": "web"}});
            let key = format!("{prefix}default/{name}");
            let body = serde_json::to_vec(&task).unwrap().into();
            let revision = store.create(&key, body).await.unwrap();
            let ev = watch.next().await.unwrap().unwrap();
            assert_eq!(ev.revision, revision);
            // No yield between the watcher's event and the authorizer's question.
            let node = format!("node-{}", i % 7);
            assert_eq!(index.task_node("default", &name), Some(node), "task {i}");
            store.delete(&key, revision).await.unwrap();
            watch.next().await.unwrap().unwrap();
            assert_eq!(index.task_node("default", &name), None, "deleted task {i}");
        }
    }

    #[tokio::test]
    async fn following_the_task_cache_does_not_keep_it_alive() {
        use crate::storage::{memory::MemoryStore, Store};
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let prefix = "/registry/flotilla.dev/tasks/";
        let decode = task_cache_decoder();
        let cache = Arc::new(WatchCache::start(store, prefix, decode).await.unwrap());
        let index = NodeIndex::start(&cache);
        let cache_ref = Arc::downgrade(&cache);
        // The server drops its caches when it stops; the cache (with its store watch) must go
        // with them, even while the index is still referenced.
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
        index.load(std::iter::once(&t));
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
        index.load(std::iter::empty());
        assert_eq!(index.task_node("default", "web.1.abc"), None);
    }
}
