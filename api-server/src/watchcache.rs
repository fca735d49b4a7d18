//! The watch cache: one store watch per resource prefix, decoded once, fanned out to any number of
//! subscribers (kube-apiserver's "cacher").
//!
//! The cache keeps the current objects of its prefix (for `resourceVersion=0` lists and the initial
//! ADDED events of a watch), a bounded ring of recent events (a watch may resume from any revision
//! inside it) and a broadcast channel for live events. A subscriber that falls more than
//! `max_lag` broadcasts behind is ended with [`WatchCacheError::Lagged`] instead of slowing the
//! fan-out. If the store watch breaks, the feed re-watches from the last revision it saw; if that
//! revision has been compacted it relists, and only if the relisted state differs from the cached
//! one (events were lost) are all subscribers ended with [`WatchCacheError::Reset`].

mod feed;
mod index;
mod pending;
mod state;
mod subscription;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::storage::{KeyValue, Store, StoreError};

pub use index::IndexFn;
pub use pending::PendingWrite;
pub use subscription::Subscription;

/// Turns a stored value into the cached object (decrypting, decoding); `None` skips the value
/// (the decoder should log why). Called once per event, never per subscriber.
pub type Decode<T> = Arc<dyn Fn(&KeyValue) -> Option<T> + Send + Sync>;

/// Told of the cache's changes under its lock, before any subscriber sees them, so what it
/// keeps (the node authorizer's index) is never behind a watch a client has read
/// ([`WatchCache::observe`]).
pub type Observer<T> = Arc<dyn Fn(Observed<'_, T>) + Send + Sync>;

/// One change an [`Observer`] is told of.
pub enum Observed<'a, T> {
    /// Events applied, in revision order.
    Events(&'a [Arc<CachedEvent<T>>]),
    /// The cache now holds exactly these objects (when observed first, and after a reset).
    All(Vec<&'a T>),
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

/// One decoded change, shared by every subscriber.
#[derive(Debug)]
pub struct CachedEvent<T> {
    pub kind: EventKind,
    /// The event's revision: the new resourceVersion (for Deleted, the deletion revision, which the
    /// api-server must stamp on the last object it sends).
    pub revision: i64,
    pub key: String,
    /// The new object; for Deleted, the last state before the deletion.
    pub object: Arc<T>,
    /// The previous object for Modified (when known); `None` for Added and Deleted.
    pub prev: Option<Arc<T>>,
}

/// The cache's objects at one revision, ascending by key.
#[derive(Debug)]
pub struct Snapshot<T> {
    pub revision: i64,
    pub items: Vec<(String, Arc<T>)>,
}

/// Why a subscription could not start or has ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchCacheError {
    /// The requested revision is older than the event window: answer with a 410 ERROR event.
    #[error("too old resource version: {requested} ({oldest})")]
    TooOld { requested: i64, oldest: i64 },
    /// The subscriber fell too far behind and was dropped; it must relist (or resubscribe).
    #[error("watcher too slow: {missed} broadcasts of events were dropped")]
    Lagged { missed: u64 },
    /// The cache lost events (its store watch was compacted away) and relisted at `revision`;
    /// every subscriber must relist.
    #[error("watch cache was reset at revision {revision}; relist")]
    Reset { revision: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sizing and pacing of a [`WatchCache`].
#[derive(Debug, Clone)]
pub struct WatchCacheConfig {
    /// Recent events kept for resuming watches.
    pub capacity: usize,
    /// Most bytes of stored values (and keys) the recent events may add up to: a window of
    /// large objects ends sooner. Each event holds its object's JSON, which at 10,000 tasks
    /// made a window by count alone the api-server's largest holding (docs/benchmark.md).
    pub max_bytes: usize,
    /// The window may hold more than the current objects' stored bytes only up to this: past
    /// that, replaying the window costs a resuming watcher more than relisting, and a resource
    /// of small objects rewritten often (Leases: every node's heartbeat) kept thousands of
    /// versions of each (docs/benchmark.md).
    pub min_bytes: usize,
    /// How many live broadcasts a subscriber may fall behind before it is dropped. A broadcast
    /// carries the events the feed read from the store at once (one, or one group-committed
    /// Txn's, up to 256).
    pub max_lag: usize,
    /// Page size of the (re)list.
    pub page_size: i64,
    /// Longest wait between attempts to re-establish a broken store watch.
    pub max_backoff: Duration,
    /// Longest the feed waits for the object of a write in flight from this server before
    /// decoding its store event ([`PendingWrite`]): short, since fan-out waits with it.
    pub prime_wait: Duration,
}

impl Default for WatchCacheConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_bytes: 8 << 20,
            min_bytes: 1 << 20,
            max_lag: 4_096,
            page_size: 1_000,
            max_backoff: Duration::from_secs(5),
            prime_wait: Duration::from_millis(5),
        }
    }
}

/// A watch cache over one key prefix; dropping it stops its store watch and ends all
/// subscriptions (their streams return `None`).
pub struct WatchCache<T: Send + Sync + 'static> {
    shared: Arc<Shared<T>>,
    feed: tokio::task::JoinHandle<()>,
}

struct Shared<T: Send + Sync + 'static> {
    prefix: String,
    config: WatchCacheConfig,
    decode: Decode<T>,
    state: Mutex<state::State<T>>,
    /// Objects this server just wrote, by key, with their revision: the feed takes one instead of
    /// decoding the store event of that exact revision.
    primed: Mutex<HashMap<String, (i64, Arc<T>)>>,
    /// Keys with writes from this server in flight, and how many ([`PendingWrite`]).
    pending: Mutex<HashMap<String, u32>>,
    /// Woken when an object is primed or a pending write ends.
    primed_or_done: tokio::sync::Notify,
}

impl<T: Send + Sync + 'static> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, state::State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn primed(&self) -> MutexGuard<'_, HashMap<String, (i64, Arc<T>)>> {
        self.primed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The primed object for `key` at exactly `revision`, if any.
    fn take_primed(&self, key: &str, revision: i64) -> Option<Arc<T>> {
        let mut primed = self.primed();
        match primed.get(key) {
            Some((rev, _)) if *rev == revision => primed.remove(key).map(|(_, obj)| obj),
            _ => None,
        }
    }

    /// Drops primed objects the feed has gone past (their event was a delete, or arrived first).
    fn forget_primed_upto(&self, revision: i64) {
        let mut primed = self.primed();
        if !primed.is_empty() {
            primed.retain(|_, (rev, _)| *rev > revision);
        }
    }
}

impl<T: Send + Sync + 'static> WatchCache<T> {
    /// Lists `prefix` at the current revision, then keeps following it with one store watch.
    pub async fn start(
        store: Arc<dyn Store>,
        prefix: &str,
        decode: Decode<T>,
    ) -> Result<Self, WatchCacheError> {
        Self::start_with(store, prefix, decode, WatchCacheConfig::default()).await
    }

    /// [`WatchCache::start`] with explicit sizing.
    pub async fn start_with(
        store: Arc<dyn Store>,
        prefix: &str,
        decode: Decode<T>,
        config: WatchCacheConfig,
    ) -> Result<Self, WatchCacheError> {
        let listing = feed::list_all(store.as_ref(), prefix, config.page_size).await?;
        let state = state::State::from_listing(&listing, &decode, &config);
        let shared = Arc::new(Shared {
            prefix: prefix.to_string(),
            config,
            decode,
            state: Mutex::new(state),
            primed: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            primed_or_done: tokio::sync::Notify::new(),
        });
        let feed = tokio::spawn(feed::run(shared.clone(), store));
        Ok(Self { shared, feed })
    }

    /// Indexes subscribers by the selector field `field`, whose value `by` reads from an object
    /// (see [`WatchCache::subscribe_where`]). Call it before anyone subscribes.
    pub fn index_by(&self, field: &'static str, by: IndexFn<T>) {
        let mut state = self.shared.lock();
        let (max_lag, revision) = (self.shared.config.max_lag, state.revision);
        state.indexed = Some(index::Indexed::new(field, by, max_lag, revision));
    }

    /// Tells `observer` the current objects, then every change before any subscriber sees it.
    /// One observer per cache; a second replaces the first.
    pub fn observe(&self, observer: Observer<T>) {
        self.shared.lock().observe(observer);
    }

    /// The selector field subscribers can be indexed by, if any.
    pub fn index_field(&self) -> Option<&'static str> {
        self.shared.lock().indexed.as_ref().map(|i| i.field)
    }

    /// Events with revision `> after_revision`: the buffered ones first, then live ones.
    /// `after_revision` below the event window fails with [`WatchCacheError::TooOld`].
    pub fn subscribe(&self, after_revision: i64) -> Result<Subscription<T>, WatchCacheError> {
        self.shared.lock().subscribe(after_revision)
    }

    /// [`WatchCache::subscribe`], live events narrowed to objects whose indexed field is or was
    /// `value` when given (the replay is not narrowed: the subscriber still filters).
    pub fn subscribe_where(
        &self,
        after_revision: i64,
        value: Option<&str>,
    ) -> Result<Subscription<T>, WatchCacheError> {
        self.shared.lock().subscribe_where(after_revision, value)
    }

    /// The current objects and a subscription to every change after them, taken atomically
    /// (a watch without resourceVersion: synthetic ADDED events, then changes).
    pub fn snapshot_and_subscribe(&self) -> (Snapshot<T>, Subscription<T>) {
        self.snapshot_and_subscribe_where(None)
    }

    /// [`WatchCache::snapshot_and_subscribe`] narrowed as [`WatchCache::subscribe_where`] is.
    pub fn snapshot_and_subscribe_where(
        &self,
        value: Option<&str>,
    ) -> (Snapshot<T>, Subscription<T>) {
        let mut state = self.shared.lock();
        let snapshot = state.snapshot();
        let subscription = state
            .subscribe_where(snapshot.revision, value)
            .expect("the cache's own revision is always inside its window");
        (snapshot, subscription)
    }

    /// The current objects (a `resourceVersion=0` list).
    pub fn snapshot(&self) -> Snapshot<T> {
        self.shared.lock().snapshot()
    }

    /// Hands the cache the object this server just stored at `key` with mod_revision `revision`,
    /// so the store event of that write is not decoded again. `object` must be exactly what
    /// decoding the stored value would give.
    pub fn prime(&self, key: &str, revision: i64, object: Arc<T>) {
        if revision <= self.shared.lock().revision {
            return; // the feed got there first
        }
        self.shared
            .primed()
            .insert(key.to_string(), (revision, object));
        self.shared.primed_or_done.notify_waiters();
    }

    /// The cached object at `key` and its mod_revision (a guess: the store may be ahead).
    pub fn get(&self, key: &str) -> Option<(i64, Arc<T>)> {
        self.shared.lock().get(key)
    }

    /// Up to `limit` current objects, in key order after `after`, that `wanted` picks among
    /// those written before the event window began: no watcher can be replayed their write.
    pub fn cold(
        &self,
        after: &str,
        limit: usize,
        wanted: impl Fn(&T) -> bool,
    ) -> Vec<(String, Arc<T>)> {
        self.shared.lock().cold(after, limit, wanted)
    }

    /// Up to `limit` versions the event window holds that are no longer current (only a watcher
    /// resuming from before them reads them), each once, oldest first, that `wanted` picks.
    pub fn superseded(&self, limit: usize, wanted: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        self.shared.lock().superseded(limit, wanted)
    }

    /// Swaps each `(old, new)` version in the window's events: `new` is equal, held differently.
    /// How many events changed.
    pub fn swap_superseded(&self, swaps: &[(Arc<T>, Arc<T>)]) -> usize {
        self.shared.lock().swap_superseded(swaps)
    }

    /// Replaces the current object at `key` by `new`, an equal object held differently, if it
    /// is still `old` (a write since wins). Whether it was replaced.
    pub fn replace(&self, key: &str, old: &Arc<T>, new: T) -> bool {
        self.shared.lock().replace(key, old, new)
    }

    /// Waits (at most 5 s, then panics) until the cache has caught up with `revision`.
    #[cfg(test)]
    pub async fn wait_for_revision(&self, revision: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.current_revision() < revision {
            assert!(
                tokio::time::Instant::now() < deadline,
                "cache stuck below {revision}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The highest revision the cache has caught up with. Not for a watcher's bookmarks: use its
    /// [`Subscription::revision`], which only counts what that watcher has been sent.
    pub fn current_revision(&self) -> i64 {
        self.shared.lock().revision
    }

    /// The oldest revision a subscription may start after.
    pub fn oldest_revision(&self) -> i64 {
        self.shared.lock().window_start
    }

    /// The prefix this cache follows.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }
}

impl<T: Send + Sync + 'static> Drop for WatchCache<T> {
    fn drop(&mut self) {
        self.feed.abort();
    }
}
