//! Watch cache behaviour over the in-memory store, including broken and compacted store watches.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::sync::broadcast;

use super::*;
use crate::storage::{CasOutcome, ListResult, MemoryStore, WatchStream};

mod index;

/// MemoryStore whose watches can be cut and refused, counting watch calls.
struct FlakyStore {
    inner: MemoryStore,
    cut: broadcast::Sender<()>,
    refuse: AtomicBool,
    watches: AtomicUsize,
}

impl FlakyStore {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryStore::new(),
            cut: broadcast::channel(1).0,
            refuse: AtomicBool::new(false),
            watches: AtomicUsize::new(0),
        })
    }
    /// Ends every open watch and refuses new ones until `heal`.
    fn break_watches(&self) {
        self.refuse.store(true, Ordering::SeqCst);
        let _ = self.cut.send(());
    }
    fn heal(&self) {
        self.refuse.store(false, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Store for FlakyStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.inner.get(key).await
    }
    async fn list(&self, p: &str, s: &str, r: i64, l: i64) -> Result<ListResult, StoreError> {
        self.inner.list(p, s, r, l).await
    }
    async fn create(&self, key: &str, value: Bytes) -> Result<i64, StoreError> {
        self.inner.create(key, value).await
    }
    async fn update(&self, k: &str, v: Bytes, rev: i64) -> Result<CasOutcome, StoreError> {
        self.inner.update(k, v, rev).await
    }
    async fn delete(&self, key: &str, rev: i64) -> Result<CasOutcome, StoreError> {
        self.inner.delete(key, rev).await
    }
    async fn watch(
        &self,
        prefix: &str,
        after: i64,
        with_prev: bool,
    ) -> Result<WatchStream, StoreError> {
        self.watches.fetch_add(1, Ordering::SeqCst);
        if self.refuse.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("refused by test".into()));
        }
        let mut cut = self.cut.subscribe();
        let stream = self.inner.watch(prefix, after, with_prev).await?;
        Ok(stream.take_until(async move { cut.recv().await }).boxed())
    }
    async fn current_revision(&self) -> Result<i64, StoreError> {
        self.inner.current_revision().await
    }
    async fn compact(&self, revision: i64) -> Result<(), StoreError> {
        self.inner.compact(revision).await
    }
}

const PREFIX: &str = "/registry/flotilla.dev/swarmservices/";

fn key(name: &str) -> String {
    format!("{PREFIX}default/{name}")
}

/// Decodes values as UTF-8 strings, skipping "bad", counting calls.
fn decoder(calls: Arc<AtomicUsize>) -> Decode<String> {
    Arc::new(move |kv: &KeyValue| {
        calls.fetch_add(1, Ordering::SeqCst);
        let s = String::from_utf8(kv.value.to_vec()).ok()?;
        (s != "bad").then_some(s)
    })
}

fn config(capacity: usize, max_lag: usize) -> WatchCacheConfig {
    WatchCacheConfig {
        capacity,
        max_bytes: usize::MAX,
        min_bytes: usize::MAX,
        max_lag,
        page_size: 2,
        max_backoff: Duration::from_millis(20),
        // Long enough that the wait for a pending write's object is what the tests see.
        prime_wait: Duration::from_secs(10),
    }
}

async fn cache(store: Arc<FlakyStore>, cfg: WatchCacheConfig) -> WatchCache<String> {
    let decode = decoder(Arc::new(AtomicUsize::new(0)));
    WatchCache::start_with(store, PREFIX, decode, cfg)
        .await
        .unwrap()
}

type Item = Result<Arc<CachedEvent<String>>, WatchCacheError>;

async fn next(sub: &mut Subscription<String>) -> Item {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("an event within 5s")
        .expect("subscription still open")
}

/// Reads events until the subscription's error: how many came first, and the error.
async fn until_error(sub: &mut Subscription<String>) -> (usize, WatchCacheError) {
    let mut received = 0;
    loop {
        match next(sub).await {
            Ok(_) => received += 1,
            Err(e) => return (received, e),
        }
    }
}

async fn next_ok(sub: &mut Subscription<String>) -> Arc<CachedEvent<String>> {
    next(sub).await.expect("an event, not an error")
}

async fn put(store: &FlakyStore, name: &str, value: &str) -> i64 {
    let k = key(name);
    match store.get(&k).await.unwrap() {
        None => store
            .create(&k, Bytes::from(value.to_string()))
            .await
            .unwrap(),
        Some(kv) => match store
            .update(&k, Bytes::from(value.to_string()), kv.mod_revision)
            .await
        {
            Ok(CasOutcome::Done { revision }) => revision,
            other => panic!("update failed: {other:?}"),
        },
    }
}

async fn remove(store: &FlakyStore, name: &str) -> i64 {
    let kv = store.get(&key(name)).await.unwrap().expect("key exists");
    match store.delete(&key(name), kv.mod_revision).await.unwrap() {
        CasOutcome::Done { revision } => revision,
        other => panic!("delete failed: {other:?}"),
    }
}

#[tokio::test]
async fn events_carry_kind_revision_object_and_prev() {
    let store = FlakyStore::new();
    let cache = cache(store.clone(), config(100, 100)).await;
    let mut sub = cache.subscribe(cache.current_revision()).unwrap();
    let r1 = put(&store, "web", "v1").await;
    let r2 = put(&store, "web", "v2").await;
    let r3 = remove(&store, "web").await;
    store
        .create("/registry/flotilla.dev/swarmservicesx/a", Bytes::from("x"))
        .await
        .unwrap();
    let r4 = put(&store, "db", "d1").await;

    let e = next_ok(&mut sub).await;
    assert_eq!(
        (e.kind, e.revision, e.key.as_str()),
        (EventKind::Added, r1, key("web").as_str())
    );
    assert_eq!((e.object.as_str(), e.prev.is_none()), ("v1", true));
    let e = next_ok(&mut sub).await;
    assert_eq!(
        (e.kind, e.revision, e.object.as_str()),
        (EventKind::Modified, r2, "v2")
    );
    assert_eq!(e.prev.as_deref().map(String::as_str), Some("v1"));
    let e = next_ok(&mut sub).await;
    assert_eq!(
        (e.kind, e.revision, e.object.as_str()),
        (EventKind::Deleted, r3, "v2")
    );
    let e = next_ok(&mut sub).await;
    assert_eq!(
        (e.kind, e.revision, e.key.as_str()),
        (EventKind::Added, r4, key("db").as_str())
    );
    assert_eq!(cache.current_revision(), r4);
}

#[tokio::test]
async fn subscribe_replays_buffered_events_then_live_ones() {
    let store = FlakyStore::new();
    put(&store, "pre", "existing").await;
    let cache = cache(store.clone(), config(100, 100)).await;
    let start = cache.current_revision();
    let r1 = put(&store, "a", "1").await;
    let r2 = put(&store, "b", "1").await;
    cache.wait_for_revision(r2).await;

    let mut all = cache.subscribe(start).unwrap();
    let mut later = cache.subscribe(r1).unwrap();
    let r3 = put(&store, "c", "1").await;
    assert_eq!(next_ok(&mut all).await.revision, r1);
    assert_eq!(next_ok(&mut all).await.revision, r2);
    assert_eq!(next_ok(&mut all).await.revision, r3);
    assert_eq!(next_ok(&mut later).await.revision, r2, "strictly after r1");
    assert_eq!(next_ok(&mut later).await.revision, r3);

    let (snapshot, mut sub) = cache.snapshot_and_subscribe();
    let names: Vec<_> = snapshot
        .items
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str()))
        .collect();
    assert_eq!(snapshot.revision, r3);
    assert_eq!(
        names,
        [
            (key("a"), "1"),
            (key("b"), "1"),
            (key("c"), "1"),
            (key("pre"), "existing")
        ]
    );
    let r4 = put(&store, "a", "2").await;
    assert_eq!(next_ok(&mut sub).await.revision, r4);
}

#[tokio::test]
async fn a_revision_older_than_the_window_is_too_old() {
    let store = FlakyStore::new();
    let cache = cache(store.clone(), config(3, 100)).await;
    let start = cache.current_revision();
    let mut revs = Vec::new();
    for i in 0..5 {
        revs.push(put(&store, &format!("k{i}"), "v").await);
    }
    cache.wait_for_revision(revs[4]).await;
    // Capacity 3 keeps revs[2..5]: resuming after revs[1] is the oldest possible.
    assert_eq!(cache.oldest_revision(), revs[1]);
    match cache.subscribe(start) {
        Err(WatchCacheError::TooOld { requested, oldest }) => {
            assert_eq!((requested, oldest), (start, revs[1]));
        }
        other => panic!("expected TooOld, got {:?}", other.map(|_| ())),
    }
    let mut sub = cache.subscribe(revs[1]).unwrap();
    for rev in &revs[2..] {
        assert_eq!(next_ok(&mut sub).await.revision, *rev);
    }
}

#[tokio::test]
async fn the_window_is_bounded_in_bytes_too() {
    let store = FlakyStore::new();
    let weight = key("k0").len() + 100;
    let cfg = WatchCacheConfig {
        max_bytes: 3 * weight,
        ..config(100, 100)
    };
    let cache = cache(store.clone(), cfg).await;
    let mut revs = Vec::new();
    for i in 0..5 {
        revs.push(put(&store, &format!("k{i}"), &"v".repeat(100)).await);
    }
    cache.wait_for_revision(revs[4]).await;
    // Three events of that size fit: revs[2..5] are kept, far below the count of 100.
    assert_eq!(cache.oldest_revision(), revs[1]);
    // An event larger than the whole budget is still kept, alone.
    let big = put(&store, "big", &"v".repeat(10 * weight)).await;
    cache.wait_for_revision(big).await;
    assert_eq!(cache.oldest_revision(), revs[4]);
    let mut sub = cache.subscribe(revs[4]).unwrap();
    assert_eq!(next_ok(&mut sub).await.revision, big);
}

/// Objects rewritten again and again (Leases) keep a window about as large as they are: past
/// that, a resuming watcher is better served by a relist.
#[tokio::test]
async fn the_window_holds_no_more_bytes_than_the_current_objects() {
    let store = FlakyStore::new();
    let weight = key("k0").len() + 100;
    let cfg = WatchCacheConfig {
        min_bytes: 2 * weight,
        ..config(100, 100)
    };
    let cache = cache(store.clone(), cfg).await;
    let mut revs = Vec::new();
    for round in 0..6 {
        for i in 0..4 {
            let value = format!("{round}{}", "v".repeat(99));
            revs.push(put(&store, &format!("k{i}"), &value).await);
        }
    }
    cache.wait_for_revision(*revs.last().unwrap()).await;
    // Four objects of one weight: the last four events, far below the count of 100.
    assert_eq!(cache.oldest_revision(), revs[revs.len() - 5]);
    let mut sub = cache.subscribe(revs[revs.len() - 5]).unwrap();
    for rev in &revs[revs.len() - 4..] {
        assert_eq!(next_ok(&mut sub).await.revision, *rev);
    }
    // Deleting three leaves one object: the window shrinks to the floor of two weights, the
    // new put and the deletes (which weigh their keys only: no previous value in this store's
    // events). The rewrites before the deletes are gone.
    for i in 1..4 {
        remove(&store, &format!("k{i}")).await;
    }
    let last = put(&store, "k0", &"w".repeat(100)).await;
    cache.wait_for_revision(last).await;
    assert_eq!(cache.current_revision(), last);
    let oldest = cache.oldest_revision();
    assert!(cache.subscribe(oldest).is_ok());
    assert!(matches!(
        cache.subscribe(oldest - 1),
        Err(WatchCacheError::TooOld { .. })
    ));
    assert_eq!(oldest, *revs.last().unwrap());
}

#[tokio::test]
async fn a_thousand_subscribers_share_one_store_watch_and_one_decode() {
    let store = FlakyStore::new();
    let decodes = Arc::new(AtomicUsize::new(0));
    let decode = decoder(decodes.clone());
    let cache = WatchCache::start_with(store.clone(), PREFIX, decode, config(100, 100))
        .await
        .unwrap();
    let from = cache.current_revision();
    let mut subs: Vec<_> = (0..1000).map(|_| cache.subscribe(from).unwrap()).collect();
    let mut revs = Vec::new();
    for i in 0..20 {
        revs.push(put(&store, &format!("svc{}", i % 5), &format!("v{i}")).await);
    }
    for sub in &mut subs {
        for rev in &revs {
            assert_eq!(next_ok(sub).await.revision, *rev);
        }
    }
    assert_eq!(
        store.watches.load(Ordering::SeqCst),
        1,
        "one store watch for all subscribers"
    );
    assert_eq!(
        decodes.load(Ordering::SeqCst),
        20,
        "each event decoded once"
    );
}

#[tokio::test]
async fn a_slow_subscriber_is_dropped_without_blocking_the_others() {
    let store = FlakyStore::new();
    let cache = cache(store.clone(), config(1000, 8)).await;
    let from = cache.current_revision();
    let mut slow = cache.subscribe(from).unwrap();
    let mut fast = cache.subscribe(from).unwrap();
    for i in 0..50 {
        let rev = put(&store, &format!("k{i}"), "v").await;
        assert_eq!(
            next_ok(&mut fast).await.revision,
            rev,
            "the fast subscriber keeps up"
        );
    }
    let (received, end) = until_error(&mut slow).await;
    assert!(matches!(end, WatchCacheError::Lagged { .. }), "got {end:?}");
    assert!(
        received < 50,
        "the slow subscriber cannot have seen everything"
    );
    assert!(
        slow.next().now_or_never().flatten().is_none(),
        "nothing after the error"
    );
}

#[tokio::test]
async fn a_broken_store_watch_resumes_without_losing_events() {
    let store = FlakyStore::new();
    let cache = cache(store.clone(), config(100, 100)).await;
    let mut sub = cache.subscribe(cache.current_revision()).unwrap();
    let r1 = put(&store, "a", "1").await;
    assert_eq!(next_ok(&mut sub).await.revision, r1);
    store.break_watches();
    let r2 = put(&store, "a", "2").await;
    let r3 = put(&store, "b", "1").await;
    tokio::time::sleep(Duration::from_millis(50)).await; // a few refused re-watches
    store.heal();
    assert_eq!(next_ok(&mut sub).await.revision, r2);
    assert_eq!(next_ok(&mut sub).await.revision, r3);
    assert!(
        store.watches.load(Ordering::SeqCst) >= 3,
        "the feed re-watched"
    );
}

#[tokio::test]
async fn changes_lost_to_compaction_reset_subscribers() {
    let store = FlakyStore::new();
    put(&store, "a", "a1").await;
    let cache = cache(store.clone(), config(100, 100)).await;
    let seen = observe(&cache);
    let before = cache.current_revision();
    let mut sub = cache.subscribe(before).unwrap();
    store.break_watches();
    put(&store, "b", "b1").await;
    let r = remove(&store, "a").await;
    store.compact(r).await.unwrap();
    store.heal();
    match next(&mut sub).await {
        Err(WatchCacheError::Reset { revision }) => assert_eq!(revision, r),
        other => panic!("expected Reset, got {other:?}"),
    }
    assert!(matches!(
        cache.subscribe(before),
        Err(WatchCacheError::TooOld { .. })
    ));
    let snapshot = cache.snapshot();
    assert_eq!(snapshot.revision, r);
    assert_eq!(snapshot.items.len(), 1);
    assert_eq!(snapshot.items[0].0, key("b"));
    let mut fresh = cache.subscribe(r).unwrap();
    let r2 = put(&store, "c", "c1").await;
    assert_eq!(
        next_ok(&mut fresh).await.revision,
        r2,
        "the cache follows again"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["all a1", "all b1", &format!("event {r2} c1")],
        "the observer is told the objects after the reset, then the events after it"
    );
}

/// Records what an observer of `cache` is told, one line per call.
fn observe(cache: &WatchCache<String>) -> Arc<std::sync::Mutex<Vec<String>>> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    cache.observe(Arc::new(move |observed| {
        let line = match observed {
            Observed::All(all) => format!(
                "all {}",
                all.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
            ),
            Observed::Events(events) => events
                .iter()
                .map(|e| format!("event {} {}", e.revision, e.object))
                .collect::<Vec<_>>()
                .join(";"),
        };
        log.lock().unwrap().push(line);
    }));
    seen
}

#[tokio::test]
async fn compaction_without_lost_changes_is_seamless() {
    let store = FlakyStore::new();
    put(&store, "a", "1").await;
    let cache = cache(store.clone(), config(100, 100)).await;
    let mut sub = cache.subscribe(cache.current_revision()).unwrap();
    store.break_watches();
    let other = store
        .create("/registry/other/x", Bytes::from("x"))
        .await
        .unwrap();
    let other2 = store
        .update("/registry/other/x", Bytes::from("y"), other)
        .await
        .unwrap();
    let CasOutcome::Done {
        revision: compacted,
    } = other2
    else {
        panic!("update failed")
    };
    store.compact(compacted).await.unwrap();
    store.heal();
    cache.wait_for_revision(compacted).await;
    let r = put(&store, "a", "2").await;
    let e = next_ok(&mut sub).await;
    assert_eq!(
        (e.revision, e.kind),
        (r, EventKind::Modified),
        "no reset, no gap"
    );
}

#[tokio::test]
async fn undecodable_values_are_skipped() {
    let store = FlakyStore::new();
    put(&store, "broken", "bad").await;
    let cache = cache(store.clone(), config(100, 100)).await;
    assert!(cache.snapshot().items.is_empty());
    let mut sub = cache.subscribe(cache.current_revision()).unwrap();
    put(&store, "x", "bad").await;
    let r = put(&store, "y", "good").await;
    let e = next_ok(&mut sub).await;
    assert_eq!((e.revision, e.object.as_str()), (r, "good"));
}

#[tokio::test]
async fn a_subscription_knows_how_far_it_has_seen() {
    let store = FlakyStore::new();
    let cache = cache(store.clone(), config(100, 100)).await;
    let start = cache.current_revision();
    let r1 = put(&store, "a", "1").await;
    let r2 = put(&store, "b", "1").await;
    cache.wait_for_revision(r2).await;
    let mut sub = cache.subscribe(start).unwrap();
    assert_eq!(
        sub.revision(),
        start,
        "nothing yielded yet: a bookmark must not skip r1, r2"
    );
    assert_eq!(next_ok(&mut sub).await.revision, r1);
    assert_eq!(sub.revision(), r1);
    assert_eq!(next_ok(&mut sub).await.revision, r2);
    assert_eq!(sub.revision(), r2);

    // An event subscribers cannot see still moves the subscription forward once polled.
    let r3 = put(&store, "c", "bad").await;
    cache.wait_for_revision(r3).await;
    assert!(tokio::time::timeout(Duration::from_millis(50), sub.next())
        .await
        .is_err());
    assert_eq!(sub.revision(), r3);

    let (snapshot, mut fresh) = cache.snapshot_and_subscribe();
    assert_eq!(fresh.revision(), snapshot.revision);
    let r4 = put(&store, "a", "2").await;
    assert_eq!(next_ok(&mut fresh).await.revision, r4);
    assert_eq!(fresh.revision(), r4);
}

/// A cache over a fresh store whose decoder counts its calls.
async fn counting_cache() -> (Arc<FlakyStore>, Arc<AtomicUsize>, WatchCache<String>) {
    let store = FlakyStore::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = WatchCache::start_with(
        store.clone(),
        PREFIX,
        decoder(calls.clone()),
        config(16, 16),
    )
    .await
    .unwrap();
    (store, calls, cache)
}

#[tokio::test]
async fn a_primed_object_is_used_instead_of_decoding_its_write() {
    let (store, calls, cache) = counting_cache().await;
    let next_rev = store.current_revision().await.unwrap() + 1;
    cache.prime(&key("a"), next_rev, Arc::new("as written".to_string()));
    // A primed object for a revision that never comes is ignored (and later dropped).
    cache.prime(&key("b"), next_rev + 100, Arc::new("never".to_string()));
    assert_eq!(put(&store, "a", "as stored").await, next_rev);
    let r2 = put(&store, "b", "b stored").await;
    cache.wait_for_revision(r2).await;

    let a = cache.get(&key("a")).expect("a is cached");
    assert_eq!((a.0, a.1.as_str()), (next_rev, "as written"));
    let b = cache.get(&key("b")).expect("b is cached");
    assert_eq!(b.1.as_str(), "b stored");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "only b was decoded");

    // Priming a revision the cache has already seen changes nothing.
    cache.prime(&key("b"), r2, Arc::new("late".to_string()));
    let r3 = put(&store, "b", "b again").await;
    cache.wait_for_revision(r3).await;
    assert_eq!(cache.get(&key("b")).unwrap().1.as_str(), "b again");
}

#[tokio::test]
async fn the_feed_waits_for_a_pending_writes_object_instead_of_decoding_it() {
    let (store, calls, cache) = counting_cache().await;
    // As a handler does: mark, write, (its answer arrives after the feed saw the event), prime.
    let pending = cache.pending_write(&key("a"));
    let r1 = put(&store, "a", "as stored").await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(
        cache.current_revision() < r1,
        "the feed waits for the handler"
    );
    cache.prime(&key("a"), r1, Arc::new("as written".to_string()));
    drop(pending);
    cache.wait_for_revision(r1).await;
    assert_eq!(cache.get(&key("a")).unwrap().1.as_str(), "as written");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing was decoded");

    // A write that fails (or never primes) ends the wait when its mark goes.
    let pending = cache.pending_write(&key("b"));
    let r2 = put(&store, "b", "b stored").await;
    drop(pending);
    cache.wait_for_revision(r2).await;
    assert_eq!(cache.get(&key("b")).unwrap().1.as_str(), "b stored");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn writes_the_feed_reads_at_once_reach_a_subscriber_as_one_broadcast() {
    let store = FlakyStore::new();
    // Room for two broadcasts: 50 events sent one by one would leave this subscriber lagged.
    let cache = cache(store.clone(), config(1000, 2)).await;
    let mut sub = cache.subscribe(cache.current_revision()).unwrap();
    // No await yields here, so the feed finds all 50 store events waiting, as it finds the
    // events of a group-committed Txn.
    let mut revisions = Vec::new();
    for i in 0..50 {
        revisions.push(put(&store, &format!("k{i}"), "v").await);
    }
    let mut received = Vec::new();
    for _ in 0..50 {
        received.push(next_ok(&mut sub).await.revision);
    }
    assert_eq!(received, revisions, "every event, in order, none lagged");
    assert_eq!(sub.revision(), *revisions.last().unwrap());
}
