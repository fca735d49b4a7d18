//! Which node each Task is bound to and which secrets/configs it references, kept current from
//! the Task watch cache. The node authorizer asks it (Swarm's dispatcher rule: a node sees only
//! its own tasks and what they need).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::registry::ResourceInfo;
use crate::security::authz::NodeRelations;
use crate::state::Decoded;
use crate::watchcache::{EventKind, WatchCache};

#[derive(Debug, Default, Clone, PartialEq)]
struct TaskRefs {
    node: String,
    secrets: Vec<String>,
    configs: Vec<String>,
}

fn refs_of(task: &Value) -> TaskRefs {
    let names = |list: &Value, field: &str| -> Vec<String> {
        list.as_array()
            .map(|a| a.iter().filter_map(|r| r[field].as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let c = &task["spec"]["template"]["containerSpec"];
    TaskRefs {
        node: task["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
        secrets: names(&c["secrets"], "secretName"),
        configs: names(&c["configs"], "configName"),
    }
}

type Key = (String, String);

#[derive(Default)]
pub struct NodeIndex {
    tasks: RwLock<HashMap<Key, TaskRefs>>,
}

impl NodeIndex {
    /// Loads the current tasks, then follows the cache from that revision.
    pub async fn start(
        rs: &crate::resource_store::ResourceStore,
        info: &ResourceInfo,
        cache: &WatchCache<Decoded>,
    ) -> anyhow::Result<Arc<NodeIndex>> {
        let index = Arc::new(NodeIndex::default());
        let (items, list) = rs.list(info, None, "", 0, 0).await?;
        for t in &items {
            index.put(t);
        }
        let mut sub = cache
            .subscribe(list.revision)
            .map_err(|e| anyhow::anyhow!("task index: {e:?}"))?;
        let weak = Arc::downgrade(&index);
        tokio::spawn(async move {
            while let Some(ev) = sub.recv().await {
                let Some(index) = weak.upgrade() else { return };
                match ev.kind {
                    EventKind::Deleted => index.remove(&ev.object.obj),
                    _ => index.put(&ev.object.obj),
                }
            }
            tracing::warn!("task index lost its watch; node authorization may be stale");
        });
        Ok(index)
    }

    fn key(task: &Value) -> Key {
        let m = &task["metadata"];
        (
            m["namespace"].as_str().unwrap_or("").to_string(),
            m["name"].as_str().unwrap_or("").to_string(),
        )
    }

    fn put(&self, task: &Value) {
        let mut map = self.tasks.write().unwrap_or_else(|e| e.into_inner());
        map.insert(Self::key(task), refs_of(task));
    }

    fn remove(&self, task: &Value) {
        let mut map = self.tasks.write().unwrap_or_else(|e| e.into_inner());
        map.remove(&Self::key(task));
    }
}

impl NodeRelations for NodeIndex {
    fn task_node(&self, namespace: &str, name: &str) -> Option<String> {
        let map = self.tasks.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(namespace.to_string(), name.to_string()))
            .map(|r| r.node.clone())
            .filter(|n| !n.is_empty())
    }

    fn node_references(&self, node: &str, kind: &str, namespace: &str, name: &str) -> bool {
        let map = self.tasks.read().unwrap_or_else(|e| e.into_inner());
        map.iter().any(|((ns, _), r)| {
            ns == namespace
                && r.node == node
                && match kind {
                    "SwarmSecret" | "swarmsecrets" => r.secrets.iter().any(|s| s == name),
                    "SwarmConfig" | "swarmconfigs" => r.configs.iter().any(|s| s == name),
                    _ => false,
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_node_and_references_from_a_task() {
        let t = json!({"metadata": {"namespace": "default", "name": "web.1.abc"},
            "spec": {"nodeName": "node-1", "template": {"containerSpec": {
                "secrets": [{"secretName": "db-pass"}], "configs": [{"configName": "nginx-conf"}]}}}});
        let index = NodeIndex::default();
        index.put(&t);
        assert_eq!(index.task_node("default", "web.1.abc").as_deref(), Some("node-1"));
        assert!(index.node_references("node-1", "SwarmSecret", "default", "db-pass"));
        assert!(!index.node_references("node-2", "SwarmSecret", "default", "db-pass"));
        assert!(index.node_references("node-1", "SwarmConfig", "default", "nginx-conf"));
        assert!(!index.node_references("node-1", "SwarmSecret", "other", "db-pass"));
        index.remove(&t);
        assert_eq!(index.task_node("default", "web.1.abc"), None);
    }
}
