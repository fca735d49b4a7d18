//! Packs the watch caches' cold objects: those written before a cache's event window began,
//! which only lists, GETs and the first events of new watches still read. At 10,000 replicas
//! after an update, the 20,000 tasks' JSON was most of this server's memory, and nearly all of
//! it was cold (docs/benchmark.md, "Cold objects"). Hot objects stay plain: watch fan-out and
//! writes never unpack.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::store::decoded::Decoded;
use crate::store::packed::Packer;
use crate::watchcache::WatchCache;

/// How often each cache is swept.
const PERIOD: Duration = Duration::from_millis(500);
/// Objects packed per sweep at most (a 1.9 KB task packs in a few µs).
const BATCH: usize = 2_048;
/// Objects packed between yields to other tasks.
const CHUNK: usize = 64;
/// Smaller JSON is left plain: its packed form would save little.
const MIN_SIZE: usize = 256;

/// Where a cache's sweeps are: the packer and the key the last one stopped after.
#[derive(Default)]
pub struct Sweeper {
    packer: Option<Packer>,
    after: String,
}

/// Worth packing: plain, and not too small to gain from it.
fn wanted(d: &Decoded) -> bool {
    !d.is_packed() && d.json().len() >= MIN_SIZE
}

impl Sweeper {
    /// Packs up to [`BATCH`] cold objects of `cache`, then up to [`BATCH`] versions its event
    /// window holds that are no longer current; how many it packed.
    pub async fn sweep(&mut self, cache: &WatchCache<Decoded>) -> usize {
        self.sweep_cold(cache).await + self.sweep_window(cache).await
    }

    async fn sweep_cold(&mut self, cache: &WatchCache<Decoded>) -> usize {
        let cold = cache.cold(&self.after, BATCH, wanted);
        self.after = match cold.len() {
            BATCH => cold.last().map(|(k, _)| k.clone()).unwrap_or_default(),
            _ => String::new(), // the end: start over next time
        };
        let mut packed = 0;
        let replace = |(key, obj): &(String, Arc<Decoded>), p| {
            packed += usize::from(cache.replace(key, obj, p));
        };
        self.pack_each("cold objects", &cold, |(_, obj)| obj, replace)
            .await;
        packed
    }

    /// Packs the window's superseded versions: under churn the window is thousands of versions
    /// of the same objects, each a whole JSON, that only a watcher resuming from before them
    /// would read (the current version stays plain: writes and fan-out read it).
    async fn sweep_window(&mut self, cache: &WatchCache<Decoded>) -> usize {
        let old = cache.superseded(BATCH, wanted);
        let mut swaps = Vec::new();
        let swap = |obj: &Arc<Decoded>, p| swaps.push((obj.clone(), Arc::new(p)));
        self.pack_each("superseded versions", &old, |obj| obj, swap)
            .await;
        if swaps.is_empty() {
            return 0;
        }
        let events = cache.swap_superseded(&swaps);
        tracing::debug!(events, "superseded versions swapped in the window's events");
        swaps.len()
    }

    /// Packs the object (`obj`) of each of `items`, yielding to other tasks between chunks, and
    /// hands each one that shrank to `done`. Without a sample yet, the newest written object is
    /// taken: it has the resource's current shape (a task's status, its writers'
    /// managedFields), which the older ones are on their way to.
    async fn pack_each<T>(
        &mut self,
        what: &str,
        items: &[T],
        obj: impl Fn(&T) -> &Arc<Decoded>,
        mut done: impl FnMut(&T, Decoded),
    ) {
        let Some(sample) = items.iter().map(&obj).max_by_key(|d| d.written_at()) else {
            return;
        };
        let packer = self
            .packer
            .get_or_insert_with(|| Packer::new(&sample.json()));
        let mut packed = 0;
        for chunk in items.chunks(CHUNK) {
            for item in chunk {
                if let Some(p) = obj(item).pack(packer) {
                    packed += 1;
                    done(item, p);
                }
            }
            tokio::task::yield_now().await;
        }
        let (plain, kept) = packer.totals();
        tracing::debug!(what, packed, plain, kept, "packed");
        self.renew_if_unfit();
    }

    fn renew_if_unfit(&mut self) {
        if self.packer.as_mut().is_some_and(|p| !p.fits()) {
            // The resource's objects no longer look like the sample: the next sweep takes a
            // new one; objects packed against the old one keep it.
            self.packer = None;
        }
    }
}

/// Sweeps `cache` every [`PERIOD`] until it is dropped.
pub fn spawn(cache: &Arc<WatchCache<Decoded>>, resource: String) {
    let cache: Weak<WatchCache<Decoded>> = Arc::downgrade(cache);
    let span = tracing::debug_span!("cold", %resource);
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            let mut sweeper = Sweeper::default();
            let mut tick = tokio::time::interval(PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(cache) = cache.upgrade() else {
                    return;
                };
                sweeper.sweep(&cache).await;
            }
        },
        span,
    ));
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::storage::memory::MemoryStore;
    use crate::storage::{KeyValue, Store};
    use crate::watchcache::{Decode, WatchCacheConfig};

    const PREFIX: &str = "/registry/flotilla.dev/tasks/";

    fn task(i: usize, node: &str) -> Bytes {
        let json = serde_json::json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": format!("web.{i}.x"), "namespace": "default",
                "labels": {"flotilla.dev/service": "web"}},
            "spec": {"nodeName": node, "serviceName": "web", "desiredState": "Running",
                "template": {"containerSpec": {"image": "nginx:1", "stopGracePeriod": "10s"}}},
            "status": {"state": "Running", "message": "started"},
        });
        serde_json::to_vec(&json).unwrap().into()
    }

    /// A task cache whose window holds the last 4 events.
    async fn cache(store: Arc<dyn Store>) -> WatchCache<Decoded> {
        let decode: Decode<Decoded> =
            Arc::new(|kv: &KeyValue| serde_json::from_slice(&kv.value).ok().map(Decoded::read));
        let config = WatchCacheConfig {
            capacity: 4,
            ..Default::default()
        };
        WatchCache::start_with(store, PREFIX, decode, config)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn objects_before_the_window_are_packed_and_read_the_same() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let cache = cache(store.clone()).await;
        let mut last = 0;
        for i in 0..20 {
            last = store
                .create(&format!("{PREFIX}default/web.{i}.x"), task(i, "n1"))
                .await
                .unwrap();
        }
        cache.wait_for_revision(last).await;
        let before: Vec<(String, Bytes)> = cache
            .snapshot()
            .items
            .iter()
            .map(|(k, d)| (k.clone(), d.json()))
            .collect();
        assert_eq!(
            Sweeper::default().sweep(&cache).await,
            16,
            "all but the window's 4"
        );
        let after = cache.snapshot();
        for ((key, json), (k, d)) in before.iter().zip(&after.items) {
            assert_eq!(key, k);
            assert_eq!(&d.json(), json, "{key} reads as it did");
            assert_eq!(d.selectable().field("spec.nodeName").as_deref(), Some("n1"));
            assert_eq!(
                d.selectable().labels.get("flotilla.dev/service"),
                Some("web")
            );
        }
        let packed = after.items.iter().filter(|(_, d)| d.is_packed()).count();
        assert_eq!(packed, 16);
        assert_eq!(
            Sweeper::default().sweep(&cache).await,
            0,
            "nothing left to pack"
        );
    }

    #[tokio::test]
    async fn a_write_since_wins_over_packing() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let cache = cache(store.clone()).await;
        let key = format!("{PREFIX}default/web.0.x");
        let rev = store.create(&key, task(0, "n1")).await.unwrap();
        let mut last = rev;
        for i in 1..8 {
            last = store
                .create(&format!("{PREFIX}default/web.{i}.x"), task(i, "n1"))
                .await
                .unwrap();
        }
        cache.wait_for_revision(last).await;
        let cold = cache.cold("", 1, |d: &Decoded| !d.is_packed());
        let (cold_key, old) = &cold[0];
        assert_eq!(cold_key, &key);
        let crate::storage::CasOutcome::Done { revision: rev } =
            store.update(&key, task(0, "n2"), rev).await.unwrap()
        else {
            panic!("the update applies");
        };
        cache.wait_for_revision(rev).await;
        let packed = old.pack(&mut Packer::new(&old.json())).unwrap();
        assert!(
            !cache.replace(&key, old, packed),
            "the cache holds a newer version"
        );
        let (_, now) = cache.get(&key).unwrap();
        assert_eq!(
            now.selectable().field("spec.nodeName").as_deref(),
            Some("n2")
        );
    }

    /// The window's events as a watcher resuming from `after` gets them: (revision, object's
    /// JSON, prev's JSON, whether the object is packed).
    fn replay(cache: &WatchCache<Decoded>, after: i64) -> Vec<(i64, Bytes, Option<Bytes>, bool)> {
        use futures::StreamExt;
        let mut sub = cache.subscribe(after).unwrap();
        let mut out = Vec::new();
        while let Some(Some(Ok(e))) = futures::FutureExt::now_or_never(sub.next()) {
            let prev = e.prev.as_ref().map(|p| p.json());
            out.push((e.revision, e.object.json(), prev, e.object.is_packed()));
        }
        out
    }

    #[tokio::test]
    async fn superseded_versions_in_the_window_are_packed_and_replay_the_same() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let cache = cache(store.clone()).await;
        let start = cache.current_revision();
        let key = format!("{PREFIX}default/web.0.x");
        let mut rev = store.create(&key, task(0, "n0")).await.unwrap();
        for node in ["n1", "n2", "n3"] {
            let crate::storage::CasOutcome::Done { revision } =
                store.update(&key, task(0, node), rev).await.unwrap()
            else {
                panic!("the update applies");
            };
            rev = revision;
        }
        cache.wait_for_revision(rev).await;
        let before = replay(&cache, start);
        assert_eq!(before.len(), 4, "the window holds every version");
        assert!(before.iter().all(|(_, _, _, packed)| !packed));
        assert_eq!(
            Sweeper::default().sweep(&cache).await,
            3,
            "the three versions written over; the current one stays plain"
        );
        let after = replay(&cache, start);
        let strip = |r: &[(i64, Bytes, Option<Bytes>, bool)]| {
            r.iter()
                .map(|(rev, obj, prev, _)| (*rev, obj.clone(), prev.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            strip(&after),
            strip(&before),
            "a resuming watcher reads the same"
        );
        let packed: Vec<bool> = after.iter().map(|(_, _, _, p)| *p).collect();
        assert_eq!(packed, [true, true, true, false]);
        let (_, current) = cache.get(&key).unwrap();
        assert!(
            !current.is_packed(),
            "writes and fan-out read the current version plain"
        );
        assert_eq!(
            Sweeper::default().sweep(&cache).await,
            0,
            "nothing left to pack"
        );
    }
}
