//! The controller-manager's caches of watched objects: kube-runtime's watcher feeds each one,
//! as its reflector would, but objects are keyed by `namespace/name` alone.
//!
//! kube-runtime's reflector store keys each object by an `ObjectRef`: its name, namespace,
//! resourceVersion and uid as four strings plus ~100 bytes inline, with a table slot of the same
//! size. Here a key is one string. At 20,000 tasks (10,000 replicas and their history) the
//! difference was several MiB of this process's peak (docs/benchmark.md).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube::runtime::watcher::Event;
use kube::Resource;
use tokio::sync::watch;

/// A cache's objects as kept (`V`: an `Arc` of the object, or a form of its own), shared by the
/// task that feeds it and its readers.
pub struct Cache<V> {
    objects: Arc<RwLock<HashMap<Arc<str>, V>>>,
    ready: watch::Receiver<bool>,
}

impl<V> Clone for Cache<V> {
    fn clone(&self) -> Self {
        Cache {
            objects: self.objects.clone(),
            ready: self.ready.clone(),
        }
    }
}

/// How a watched object is kept, given its key.
pub type Keep<K, V> = Box<dyn FnMut(&Arc<str>, &K) -> V + Send>;

/// What feeds a [`Cache`]: applies watcher events in order.
pub struct Feeder<K, V> {
    objects: Arc<RwLock<HashMap<Arc<str>, V>>>,
    ready: watch::Sender<bool>,
    /// A relist's objects, swapped in whole when it is done (the cache never shows half a list).
    relist: Option<HashMap<Arc<str>, V>>,
    keep: Keep<K, V>,
}

/// An empty cache of objects kept as they are, not ready until its feeder has applied a whole
/// first list.
pub fn cache<K: Clone + 'static>() -> (Cache<Arc<K>>, Feeder<K, Arc<K>>) {
    cache_with(Box::new(|_, obj| kept(obj)))
}

/// [`cache`], keeping each object as `keep` makes it.
pub fn cache_with<K, V>(keep: Keep<K, V>) -> (Cache<V>, Feeder<K, V>) {
    let objects = Arc::new(RwLock::new(HashMap::new()));
    let (tx, rx) = watch::channel(false);
    let reader = Cache {
        objects: objects.clone(),
        ready: rx,
    };
    let feeder = Feeder {
        objects,
        ready: tx,
        relist: None,
        keep,
    };
    (reader, feeder)
}

/// Shared with each snapshot's index of the objects (`Cache::entries`), not copied into it.
fn key_of<K: Resource>(obj: &K) -> Arc<str> {
    let meta = obj.meta();
    let name = meta.name.as_deref().unwrap_or_default();
    match meta.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}").into(),
        None => name.into(),
    }
}

/// The object as kept: a clone, exactly sized. A decoded object's lists keep the room their
/// decoding grew them to (four entries for one owner reference; the whole of the cleared
/// managedFields), which at 20,000 tasks was ~20 MiB more than the clones.
pub fn kept<K: Clone>(obj: &K) -> Arc<K> {
    Arc::new(obj.clone())
}

impl<K: Resource, V> Feeder<K, V> {
    pub fn apply(&mut self, event: Event<K>) {
        match event {
            Event::Apply(obj) => {
                let key = key_of(&obj);
                let value = (self.keep)(&key, &obj);
                self.write().insert(key, value);
            }
            Event::Delete(obj) => {
                self.write().remove(&key_of(&obj));
            }
            Event::Init => self.relist = Some(HashMap::new()),
            Event::InitApply(obj) => {
                let key = key_of(&obj);
                let value = (self.keep)(&key, &obj);
                self.relist
                    .get_or_insert_with(HashMap::new)
                    .insert(key, value);
            }
            Event::InitDone => {
                let mut listed = self.relist.take().unwrap_or_default();
                listed.shrink_to_fit();
                *self.write() = listed;
                self.ready.send_replace(true);
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Arc<str>, V>> {
        self.objects.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl<V: Clone> Cache<V> {
    /// Every cached object.
    pub fn state(&self) -> Vec<V> {
        self.read().values().cloned().collect()
    }

    /// Every cached object with its key (`namespace/name`, or the name of a cluster-scoped one).
    pub fn entries(&self) -> Vec<(Arc<str>, V)> {
        self.read()
            .iter()
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect()
    }

    /// The object `key` (`namespace/name`, or the name of a cluster-scoped one).
    pub fn get(&self, key: &str) -> Option<V> {
        self.read().get(key).cloned()
    }

    /// Resolves once a whole first list is in; an error if the feeder is gone before that.
    pub async fn wait_until_ready(&self) -> Result<(), watch::error::RecvError> {
        self.ready.clone().wait_for(|r| *r).await.map(|_| ())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, V>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::Task;

    fn task(ns: &str, name: &str, rv: &str) -> Task {
        let mut t = Task::new(name, Default::default());
        t.metadata.namespace = Some(ns.into());
        t.metadata.resource_version = Some(rv.into());
        t
    }

    fn rv(cache: &Cache<Arc<Task>>, key: &str) -> Option<String> {
        cache.get(key)?.metadata.resource_version.clone()
    }

    #[tokio::test]
    async fn a_relist_shows_whole_and_events_apply_by_namespace_and_name() {
        let (cache, mut feeder) = cache::<Task>();
        feeder.apply(Event::Init);
        feeder.apply(Event::InitApply(task("a", "web.1", "1")));
        feeder.apply(Event::InitApply(task("b", "web.1", "2")));
        assert!(cache.state().is_empty(), "half a list is never shown");
        let ready = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            cache.wait_until_ready(),
        );
        assert!(
            ready.await.is_err(),
            "not ready before the first list is done"
        );
        feeder.apply(Event::InitDone);
        cache.wait_until_ready().await.unwrap();
        assert_eq!(cache.state().len(), 2);
        feeder.apply(Event::Apply(task("a", "web.1", "3")));
        assert_eq!(rv(&cache, "a/web.1").as_deref(), Some("3"));
        assert_eq!(rv(&cache, "b/web.1").as_deref(), Some("2"));
        feeder.apply(Event::Delete(task("b", "web.1", "4")));
        assert_eq!(cache.get("b/web.1"), None);
        // A relist replaces everything: what it does not list is gone.
        feeder.apply(Event::Init);
        feeder.apply(Event::InitApply(task("c", "db.1", "5")));
        assert_eq!(
            cache.state().len(),
            1,
            "the old state until the relist is done"
        );
        feeder.apply(Event::InitDone);
        assert_eq!(cache.get("a/web.1"), None);
        assert_eq!(rv(&cache, "c/db.1").as_deref(), Some("5"));
        let entries = cache.entries();
        let keys: Vec<&str> = entries.iter().map(|(k, _)| &**k).collect();
        assert_eq!(keys, ["c/db.1"], "entries carry the keys lookups use");
    }

    /// A cluster-scoped object is found by its name alone: what the manager's catch-up looks up
    /// after a node's status write (an `ObjectRef` with an empty namespace never matched one).
    #[test]
    fn cluster_scoped_objects_are_keyed_by_name() {
        let (cache, mut feeder) = cache::<flotilla_api::SwarmNode>();
        let node = flotilla_api::SwarmNode::new("n1", Default::default());
        feeder.apply(Event::Apply(node));
        assert!(cache.get("n1").is_some());
        assert!(cache.get("/n1").is_none());
    }

    #[tokio::test]
    async fn a_cache_whose_feeder_is_gone_is_never_ready() {
        let (cache, feeder) = cache::<Task>();
        drop(feeder);
        assert!(cache.wait_until_ready().await.is_err());
    }
}
