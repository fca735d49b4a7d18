//! The cache's data under its lock: current objects, the ring of recent events and the live
//! broadcast. Pure bookkeeping; the feed (feed.rs) does the I/O.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::broadcast;

use super::index::Indexed;
use super::subscription::Live;
use super::{
    CachedEvent, Decode, EventKind, Observed, Observer, Snapshot, Subscription, WatchCacheConfig,
    WatchCacheError,
};
use crate::storage::{Event, KeyValue, ListResult};

/// Events broadcast together, in revision order.
pub(super) type Batch<T> = Arc<[Arc<CachedEvent<T>>]>;

/// What travels on the broadcast, in revision order.
#[derive(Debug)]
pub(super) enum Message<T> {
    /// The events the feed read from the store at once (a group-committed Txn's): each
    /// subscriber wakes once for all of them, and its watch writes them as one chunk.
    Events(Batch<T>),
    /// The cache caught up with this revision without an event subscribers can see (an
    /// undecodable value, a relist that found nothing new): lets subscriptions advance.
    Progress(i64),
    /// Every subscriber must stop (and relist).
    End(WatchCacheError),
}

impl<T> Clone for Message<T> {
    fn clone(&self) -> Self {
        match self {
            Message::Events(e) => Message::Events(e.clone()),
            Message::Progress(r) => Message::Progress(*r),
            Message::End(e) => Message::End(e.clone()),
        }
    }
}

struct Entry<T> {
    mod_revision: i64,
    /// Stored size of its key and value.
    size: usize,
    /// `None` when the value did not decode: the key exists but is invisible to subscribers.
    object: Option<Arc<T>>,
}

pub(super) struct State<T> {
    objects: BTreeMap<String, Entry<T>>,
    buffer: VecDeque<Arc<CachedEvent<T>>>,
    /// The stored size of each event in `buffer` (its value and key), and their sum.
    weights: VecDeque<usize>,
    buffered_bytes: usize,
    /// Stored size of the current objects' keys and values.
    current_bytes: usize,
    capacity: usize,
    max_bytes: usize,
    min_bytes: usize,
    /// Every event with revision > `window_start` is in `buffer`.
    pub(super) window_start: i64,
    /// The revision the cache has caught up with.
    pub(super) revision: i64,
    tx: broadcast::Sender<Message<T>>,
    /// Events applied and not yet broadcast (see [`State::apply_all`]).
    outbox: Vec<Arc<CachedEvent<T>>>,
    /// Subscribers by one field's value, when the cache has an index.
    pub(super) indexed: Option<Indexed<T>>,
    observer: Option<Observer<T>>,
}

impl<T> State<T> {
    /// How many subscriptions are following live events.
    pub(super) fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

fn decode_arc<T>(decode: &Decode<T>, kv: &KeyValue) -> Option<Arc<T>> {
    decode(kv).map(Arc::new)
}

impl<T: Send + Sync + 'static> State<T> {
    /// A fresh state holding `listing` (decoded here), with an empty event window at its revision.
    pub(super) fn from_listing(
        listing: &ListResult,
        decode: &Decode<T>,
        config: &WatchCacheConfig,
    ) -> Self {
        let objects: BTreeMap<_, _> = listing
            .items
            .iter()
            .map(|kv| {
                let entry = Entry {
                    mod_revision: kv.mod_revision,
                    size: kv.key.len() + kv.value.len(),
                    object: decode_arc(decode, kv),
                };
                (kv.key.clone(), entry)
            })
            .collect();
        let current_bytes = objects.values().map(|e| e.size).sum();
        State {
            objects,
            buffer: VecDeque::new(),
            weights: VecDeque::new(),
            buffered_bytes: 0,
            current_bytes,
            capacity: config.capacity.max(1),
            max_bytes: config.max_bytes,
            min_bytes: config.min_bytes,
            window_start: listing.revision,
            revision: listing.revision,
            tx: broadcast::channel(config.max_lag.max(1)).0,
            outbox: Vec::new(),
            indexed: None,
            observer: None,
        }
    }

    pub(super) fn subscribe(&self, after: i64) -> Result<Subscription<T>, WatchCacheError> {
        self.subscribe_to(after, || Live::All(self.tx.subscribe().into()))
    }

    /// A subscription to the events of objects whose indexed field is (or was) `value`, or to
    /// every event without a value (or without an index).
    pub(super) fn subscribe_where(
        &mut self,
        after: i64,
        value: Option<&str>,
    ) -> Result<Subscription<T>, WatchCacheError> {
        let (Some(indexed), Some(value)) = (self.indexed.as_mut(), value) else {
            return self.subscribe(after);
        };
        let live = Live::Indexed(indexed.subscribe(value), indexed.published.clone());
        self.subscribe_to(after, || live)
    }

    fn subscribe_to(
        &self,
        after: i64,
        live: impl FnOnce() -> Live<T>,
    ) -> Result<Subscription<T>, WatchCacheError> {
        if after < self.window_start {
            return Err(WatchCacheError::TooOld {
                requested: after,
                oldest: self.window_start,
            });
        }
        let first = self.buffer.partition_point(|e| e.revision <= after);
        // The replay is not narrowed to an indexed subscriber's value: its selector does that.
        let replay = self.buffer.range(first..).cloned().collect();
        // Subscribing under the same lock that publishes: no event is missed or duplicated.
        Ok(Subscription::new(after, self.revision, replay, live()))
    }

    pub(super) fn get(&self, key: &str) -> Option<(i64, Arc<T>)> {
        let entry = self.objects.get(key)?;
        Some((entry.mod_revision, entry.object.clone()?))
    }

    pub(super) fn cold(
        &self,
        after: &str,
        limit: usize,
        wanted: impl Fn(&T) -> bool,
    ) -> Vec<(String, Arc<T>)> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.objects
            .range::<str, _>((Excluded(after), Unbounded))
            .filter(|(_, e)| e.mod_revision <= self.window_start)
            .filter_map(|(k, e)| Some((k, e.object.as_ref().filter(|o| wanted(o))?)))
            .take(limit)
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect()
    }

    pub(super) fn replace(&mut self, key: &str, old: &Arc<T>, new: T) -> bool {
        match self.objects.get_mut(key) {
            Some(Entry {
                object: Some(current),
                ..
            }) if Arc::ptr_eq(current, old) => {
                *current = Arc::new(new);
                true
            }
            _ => false,
        }
    }

    /// Versions the window holds (as an event's object or its `prev`) that are no longer
    /// current, each once, oldest first: at most `limit` that `wanted` picks.
    pub(super) fn superseded(&self, limit: usize, wanted: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for event in &self.buffer {
            let current = self.objects.get(&event.key).and_then(|e| e.object.as_ref());
            for version in std::iter::once(&event.object).chain(event.prev.as_ref()) {
                if out.len() == limit {
                    return out;
                }
                let is_current = || current.is_some_and(|c| Arc::ptr_eq(c, version));
                if seen.insert(Arc::as_ptr(version)) && wanted(version) && !is_current() {
                    out.push(version.clone());
                }
            }
        }
        out
    }

    /// Swaps, in every window event, each version `swaps` has (by its address) for its
    /// replacement. A version no longer current never becomes current again, so the objects
    /// are not touched. How many events changed.
    pub(super) fn swap_superseded(&mut self, swaps: &[(Arc<T>, Arc<T>)]) -> usize {
        // The old versions are held by `swaps` until the end: no address is reused meanwhile.
        let by_address: HashMap<*const T, &Arc<T>> = swaps
            .iter()
            .map(|(old, new)| (Arc::as_ptr(old), new))
            .collect();
        let find = |v: &Arc<T>| by_address.get(&Arc::as_ptr(v)).map(|new| (*new).clone());
        let mut swapped = 0;
        for slot in self.buffer.iter_mut() {
            let object = find(&slot.object);
            let prev = slot.prev.as_ref().and_then(find);
            if object.is_none() && prev.is_none() {
                continue;
            }
            *slot = Arc::new(CachedEvent {
                kind: slot.kind,
                revision: slot.revision,
                key: slot.key.clone(),
                object: object.unwrap_or_else(|| slot.object.clone()),
                prev: prev.or_else(|| slot.prev.clone()),
            });
            swapped += 1;
        }
        swapped
    }

    pub(super) fn snapshot(&self) -> Snapshot<T> {
        let items = self
            .objects
            .iter()
            .filter_map(|(k, e)| e.object.clone().map(|o| (k.clone(), o)))
            .collect();
        Snapshot {
            revision: self.revision,
            items,
        }
    }

    /// Applies store events in order, each with the new value of a Put decoded outside the lock,
    /// and broadcasts their visible events as one message.
    pub(super) fn apply_all(
        &mut self,
        events: impl IntoIterator<Item = (Event, Option<Arc<T>>)>,
        decode: &Decode<T>,
    ) {
        for (event, decoded) in events {
            self.apply(event, decoded, decode);
        }
        self.publish();
    }

    fn apply(&mut self, event: Event, decoded: Option<Arc<T>>, decode: &Decode<T>) {
        let revision = event.revision();
        if revision < self.revision {
            return; // already applied before a re-watch
        }
        self.revision = revision;
        match event {
            Event::Put { kv, prev } => {
                let weight = kv.key.len() + kv.value.len();
                let entry = Entry {
                    mod_revision: kv.mod_revision,
                    size: weight,
                    object: decoded.clone(),
                };
                let cached = self.objects.insert(kv.key.clone(), entry);
                self.current_bytes += weight;
                self.current_bytes -= cached.as_ref().map_or(0, |e| e.size);
                let Some(object) = decoded else {
                    self.progress(revision);
                    return;
                };
                let (kind, prev) = if kv.create_revision == kv.mod_revision {
                    (EventKind::Added, None)
                } else {
                    // The cached object is the previous one, already decoded: no second decode.
                    let cached = cached.and_then(|e| e.object);
                    let prev = cached.or_else(|| prev.as_ref().and_then(|p| decode_arc(decode, p)));
                    (EventKind::Modified, prev)
                };
                let event = CachedEvent {
                    kind,
                    revision,
                    key: kv.key,
                    object,
                    prev,
                };
                self.push(event, weight);
            }
            Event::Delete {
                key,
                revision,
                prev,
            } => {
                let removed = self.objects.remove(&key);
                self.current_bytes -= removed.as_ref().map_or(0, |e| e.size);
                let cached = removed.and_then(|e| e.object);
                let last = cached.or_else(|| prev.as_ref().and_then(|p| decode_arc(decode, p)));
                let Some(object) = last else {
                    tracing::debug!(%key, revision, "deleted object was never decodable; no event");
                    self.progress(revision);
                    return;
                };
                let weight = key.len() + prev.as_ref().map_or(0, |p| p.value.len());
                let kind = EventKind::Deleted;
                let event = CachedEvent {
                    kind,
                    revision,
                    key,
                    object,
                    prev: None,
                };
                self.push(event, weight);
            }
        }
    }

    /// Appends to the window, first evicting the oldest events while it would hold more than
    /// `capacity` events or more bytes than the current objects (at least `min_bytes`, at most
    /// `max_bytes`). The newest event is always kept.
    fn push(&mut self, event: CachedEvent<T>, weight: usize) {
        let event = Arc::new(event);
        let budget = self.max_bytes.min(self.current_bytes.max(self.min_bytes));
        while !self.buffer.is_empty()
            && (self.buffer.len() >= self.capacity || self.buffered_bytes + weight > budget)
        {
            let evicted = self.buffer.pop_front().expect("not empty");
            self.buffered_bytes -= self.weights.pop_front().expect("one weight per event");
            self.window_start = evicted.revision;
        }
        self.buffer.push_back(event.clone());
        self.weights.push_back(weight);
        self.buffered_bytes += weight;
        self.outbox.push(event);
    }

    /// Broadcasts the events applied since the last call, if any, and posts them to the
    /// indexed subscribers they concern.
    fn publish(&mut self) {
        let events: Batch<T> = std::mem::take(&mut self.outbox).into();
        if let Some(observer) = self.observer.as_ref().filter(|_| !events.is_empty()) {
            observer(Observed::Events(&events));
        }
        if let Some(indexed) = self.indexed.as_mut() {
            indexed.post(&events, self.revision);
        }
        if !events.is_empty() {
            // Fails only when nobody is subscribed.
            let _ = self.tx.send(Message::Events(events));
        }
    }

    /// Lets subscribers advance to `revision`, after the events before it.
    fn progress(&mut self, revision: i64) {
        self.publish();
        let _ = self.tx.send(Message::Progress(revision));
    }

    /// Whether `listing` holds exactly the cached keys at the cached mod revisions, i.e. a relist
    /// found nothing the cache missed.
    pub(super) fn same_as(&self, listing: &ListResult) -> bool {
        self.objects.len() == listing.items.len()
            && listing.items.iter().all(|kv| {
                self.objects
                    .get(&kv.key)
                    .is_some_and(|e| e.mod_revision == kv.mod_revision)
            })
    }

    /// Tells `observer` the current objects and keeps it for every change after them.
    pub(super) fn observe(&mut self, observer: Observer<T>) {
        let all = self.objects.values().filter_map(|e| e.object.as_deref());
        observer(Observed::All(all.collect()));
        self.observer = Some(observer);
    }

    /// Moves the caught-up revision forward after a relist that found no change.
    pub(super) fn advance_to(&mut self, revision: i64) {
        if revision > self.revision {
            self.revision = revision;
            self.progress(revision);
        }
    }

    /// Replaces the whole state after events were lost; every current subscriber is told to relist.
    pub(super) fn reset(&mut self, fresh: State<T>) {
        self.publish();
        let error = WatchCacheError::Reset {
            revision: fresh.revision,
        };
        let _ = self.tx.send(Message::End(error.clone()));
        let mut indexed = self.indexed.take();
        let observer = self.observer.take();
        *self = fresh;
        if let Some(observer) = observer {
            self.observe(observer);
        }
        if let Some(indexed) = indexed.as_mut() {
            indexed.end(error);
            indexed.post(&[], self.revision);
        }
        self.indexed = indexed;
    }
}
