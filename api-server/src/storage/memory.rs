//! The embedded store for single-process mode and fast tests: etcd's semantics (one global
//! revision, MVCC history, CAS, watch from a revision, compaction) in memory.
//!
//! History (old versions and the event log) is only dropped by [`Store::compact`], so a long-running
//! embedded server must compact periodically, exactly like one over etcd. Nothing is persisted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;

use super::{CasOutcome, Event, KeyValue, ListResult, Store, StoreError, WatchStream};

/// An in-memory, MVCC key-value store; see the module docs.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

/// One write to one key; `value: None` is a deletion (tombstone).
#[derive(Debug, Clone)]
struct Version {
    create_revision: i64,
    mod_revision: i64,
    value: Option<Bytes>,
}

/// One open watch: the events under `prefix` go to `tx` (shared with the SQLite store).
pub(super) struct Watcher {
    pub(super) prefix: String,
    pub(super) with_prev: bool,
    pub(super) tx: mpsc::UnboundedSender<Event>,
}

impl Watcher {
    /// Sends `event` if it is under the prefix; false once the receiver is gone.
    pub(super) fn offer(&self, event: &Event) -> bool {
        if !event.key().starts_with(&self.prefix) {
            return true;
        }
        let event = match self.with_prev {
            true => event.clone(),
            false => event.clone().without_prev(),
        };
        self.tx.send(event).is_ok()
    }
}

struct State {
    revision: i64,
    compacted: i64,
    /// Per key, its versions in ascending mod_revision.
    keys: BTreeMap<String, Vec<Version>>,
    /// Every event with revision >= `compacted`, ascending.
    log: VecDeque<Event>,
    watchers: Vec<Watcher>,
}

impl Default for State {
    fn default() -> Self {
        // A fresh etcd starts at revision 1 with no keys; mirror that.
        State {
            revision: 1,
            compacted: 0,
            keys: BTreeMap::new(),
            log: VecDeque::new(),
            watchers: Vec::new(),
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock with the state half-updated, so a poisoned lock
        // still guards consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn to_kv(key: &str, v: &Version) -> Option<KeyValue> {
    v.value.as_ref().map(|value| KeyValue {
        key: key.to_string(),
        value: value.clone(),
        create_revision: v.create_revision,
        mod_revision: v.mod_revision,
    })
}

/// The value of a key as of `revision`, from its version history.
fn at_revision(key: &str, versions: &[Version], revision: i64) -> Option<KeyValue> {
    let idx = versions.partition_point(|v| v.mod_revision <= revision);
    idx.checked_sub(1).and_then(|i| to_kv(key, &versions[i]))
}

impl State {
    fn latest(&self, key: &str) -> Option<KeyValue> {
        self.keys
            .get(key)
            .and_then(|vs| vs.last())
            .and_then(|v| to_kv(key, v))
    }

    /// Resolves a read revision (0 = latest) against the retained window.
    fn read_revision(&self, requested: i64) -> Result<i64, StoreError> {
        super::read_revision(requested, self.revision, self.compacted)
    }

    fn list(&self, prefix: &str, start: &str, revision: i64, limit: i64) -> ListResult {
        let from = if start > prefix { start } else { prefix };
        let mut items = Vec::new();
        let mut count = 0i64;
        for (key, versions) in self.keys.range(from.to_string()..) {
            if !key.starts_with(prefix) {
                break;
            }
            if let Some(kv) = at_revision(key, versions, revision) {
                count += 1;
                if limit <= 0 || (items.len() as i64) < limit {
                    items.push(kv);
                }
            }
        }
        let more = count > items.len() as i64;
        ListResult {
            items,
            revision,
            more,
            count,
        }
    }

    /// Appends a version for `key` at the next revision and publishes the event.
    fn write(&mut self, key: &str, value: Option<Bytes>) -> i64 {
        self.revision += 1;
        let revision = self.revision;
        let prev = self.latest(key);
        let create_revision = prev.as_ref().map_or(revision, |p| p.create_revision);
        let version = Version {
            create_revision,
            mod_revision: revision,
            value,
        };
        let event = match to_kv(key, &version) {
            Some(kv) => Event::Put { kv, prev },
            None => Event::Delete {
                key: key.to_string(),
                revision,
                prev,
            },
        };
        self.keys.entry(key.to_string()).or_default().push(version);
        self.publish(event);
        revision
    }

    fn publish(&mut self, event: Event) {
        // Drop watchers whose receiver is gone; send to the rest in revision order (under the lock).
        self.watchers.retain(|w| w.offer(&event));
        self.log.push_back(event);
    }

    fn compact(&mut self, revision: i64) {
        self.compacted = revision;
        self.keys.retain(|_, versions| {
            // Keep the version visible at `revision` (if live) and everything newer.
            let visible = versions.partition_point(|v| v.mod_revision <= revision);
            let mut drop = visible.saturating_sub(1);
            if visible > 0 && versions[visible - 1].value.is_none() {
                drop = visible;
            }
            versions.drain(..drop);
            !versions.is_empty()
        });
        while self.log.front().is_some_and(|e| e.revision() < revision) {
            self.log.pop_front();
        }
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.lock().latest(key))
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        revision: i64,
        limit: i64,
    ) -> Result<ListResult, StoreError> {
        let state = self.lock();
        let revision = state.read_revision(revision)?;
        Ok(state.list(prefix, start, revision, limit))
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<i64, StoreError> {
        let mut state = self.lock();
        if state.latest(key).is_some() {
            return Err(StoreError::AlreadyExists {
                key: key.to_string(),
            });
        }
        Ok(state.write(key, Some(value)))
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
    ) -> Result<CasOutcome, StoreError> {
        let mut state = self.lock();
        match state.latest(key) {
            Some(cur) if cur.mod_revision == expected_mod_revision => Ok(CasOutcome::Done {
                revision: state.write(key, Some(value)),
            }),
            current => Ok(CasOutcome::Stale { current }),
        }
    }

    async fn delete(
        &self,
        key: &str,
        expected_mod_revision: i64,
    ) -> Result<CasOutcome, StoreError> {
        let mut state = self.lock();
        match state.latest(key) {
            Some(cur) if cur.mod_revision == expected_mod_revision => Ok(CasOutcome::Done {
                revision: state.write(key, None),
            }),
            current => Ok(CasOutcome::Stale { current }),
        }
    }

    async fn watch(
        &self,
        prefix: &str,
        after_revision: i64,
        with_prev: bool,
    ) -> Result<WatchStream, StoreError> {
        let mut state = self.lock();
        // Like etcd: the first revision to deliver (after + 1) must not be compacted away.
        if after_revision + 1 < state.compacted {
            return Err(StoreError::Compacted {
                requested: after_revision,
                compacted: state.compacted,
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let first = state
            .log
            .partition_point(|e| e.revision() <= after_revision);
        let watcher = Watcher {
            prefix: prefix.to_string(),
            with_prev,
            tx,
        };
        for event in state.log.range(first..) {
            watcher.offer(event);
        }
        state.watchers.push(watcher);
        Ok(Box::pin(UnboundedReceiverStream::new(rx).map(Ok)))
    }

    async fn current_revision(&self) -> Result<i64, StoreError> {
        Ok(self.lock().revision)
    }

    async fn compact(&self, revision: i64) -> Result<(), StoreError> {
        let mut state = self.lock();
        if super::compacts(revision, state.revision, state.compacted)? {
            state.compact(revision);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn memory_store_passes_the_conformance_suite() {
        crate::storage::conformance::run_all(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test]
    async fn compaction_drops_old_history() {
        let store = MemoryStore::new();
        let r1 = store.create("/k", Bytes::from_static(b"1")).await.unwrap();
        let CasOutcome::Done { revision: r2 } = store
            .update("/k", Bytes::from_static(b"2"), r1)
            .await
            .unwrap()
        else {
            panic!("update failed")
        };
        store.compact(r2).await.unwrap();
        let state = store.lock();
        assert_eq!(state.keys["/k"].len(), 1, "only the live version is kept");
        assert!(state.log.iter().all(|e| e.revision() >= r2));
    }
}
