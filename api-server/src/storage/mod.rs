//! The storage contract of the api-server: an etcd-shaped key-value store with one global,
//! monotonic revision, MVCC reads at a revision, compare-and-swap writes and watches that resume
//! from a revision.
//!
//! Three implementations share one conformance suite ([`conformance`]): [`etcd::EtcdStore`] for the
//! split deployment, [`sqlite::SqliteStore`] (persistent, one file) for the single-process mode
//! and [`memory::MemoryStore`] for fast tests.
//!
//! Semantics every implementation follows (the conformance suite checks them):
//! - Keys are full keys (`/registry/<group>/<plural>/<ns>/<name>`); values are opaque bytes.
//! - Every successful write gets a revision greater than every earlier one and no other write's
//!   (the memory store counts 1, 2, 3…; etcd's are etcd revision × 1000 + position in a batched
//!   Txn, see [`etcd_revision`]); a kv's `mod_revision` is the revision of its last write,
//!   `create_revision` the revision that created it (a re-created key gets a new one).
//!   Kubernetes' `resourceVersion` is the `mod_revision`. [`Store::current_revision`] is at least
//!   every written revision and below every later write's.
//! - [`Store::list`] returns the keys `k` with `k.starts_with(prefix) && k >= start`, ascending.
//!   `start` is a FULL key (not a suffix); `""` means "from the beginning of the prefix". To page,
//!   pass the last returned key with a `'\0'` appended (see [`next_start`]).
//! - Reads at a revision below the compaction revision fail with [`StoreError::Compacted`]; reads
//!   above the current revision fail with [`StoreError::FutureRevision`].
//! - [`Store::watch`] yields every event with revision `> after_revision` under the prefix in revision
//!   order, each with the previous value. If `after_revision + 1` has been compacted the watch fails
//!   with `Compacted`, either from `watch()` itself or as the first stream item (etcd reports it
//!   asynchronously). The stream ending (`None`) means the watch broke: re-watch from the last
//!   revision seen.

pub mod compactor;
#[doc(hidden)]
pub mod conformance;
pub mod etcd;
mod etcd_batch;
pub mod etcd_revision;
pub mod etcd_tls;
pub mod event_ttl;
pub mod memory;
pub mod sqlite;
mod sqlite_sql;

use bytes::Bytes;
use futures::stream::BoxStream;

pub use etcd::EtcdStore;
pub use etcd_tls::{EtcdTls, EtcdTlsError, EtcdTlsFiles};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// One stored key at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision that created this key (stays the same across updates).
    pub create_revision: i64,
    /// The revision of the last write to this key: the object's resourceVersion.
    pub mod_revision: i64,
}

/// One page of a prefix range read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// Ascending by key.
    pub items: Vec<KeyValue>,
    /// The revision the read was served at: the requested revision, or the store's current
    /// revision when the request asked for the latest (0). This is a list's resourceVersion and the
    /// revision to pin the following pages to.
    pub revision: i64,
    /// True when keys beyond the last returned one exist in the range (at that revision).
    pub more: bool,
    /// Number of keys in the range `[start, end of prefix)` at that revision, including the returned
    /// ones: `count - items.len()` is Kubernetes' `remainingItemCount`.
    pub count: i64,
}

/// One change to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A create or update; `kv.create_revision == kv.mod_revision` means a create.
    Put {
        kv: KeyValue,
        prev: Option<KeyValue>,
    },
    /// A delete at `revision`; `prev` is the last value (always present from both stores).
    Delete {
        key: String,
        revision: i64,
        prev: Option<KeyValue>,
    },
}

impl Event {
    /// The event without its previous value.
    pub fn without_prev(self) -> Event {
        match self {
            Event::Put { kv, .. } => Event::Put { kv, prev: None },
            Event::Delete { key, revision, .. } => Event::Delete {
                key,
                revision,
                prev: None,
            },
        }
    }

    /// The revision at which the change happened.
    pub fn revision(&self) -> i64 {
        match self {
            Event::Put { kv, .. } => kv.mod_revision,
            Event::Delete { revision, .. } => *revision,
        }
    }

    /// The key that changed.
    pub fn key(&self) -> &str {
        match self {
            Event::Put { kv, .. } => &kv.key,
            Event::Delete { key, .. } => key,
        }
    }
}

/// The result of a compare-and-swap write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasOutcome {
    /// Written; `revision` is the new mod_revision (update) or the deletion revision (delete).
    Done { revision: i64 },
    /// The key's mod_revision was not the expected one (or the key is gone); `current` is its
    /// present value, so the caller can retry without another read.
    Stale { current: Option<KeyValue> },
}

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("key {key} already exists")]
    AlreadyExists { key: String },
    #[error("revision {requested} has been compacted (compacted up to {compacted})")]
    Compacted { requested: i64, compacted: i64 },
    #[error("revision {requested} is in the future (current revision {current})")]
    FutureRevision { requested: i64, current: i64 },
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store refused a value as too large (etcd's `--max-request-bytes`).
    #[error("{0}")]
    TooLarge(String),
    #[error("storage internal error: {0}")]
    Internal(String),
}

/// A stream of watch events; see [`Store::watch`].
pub type WatchStream = BoxStream<'static, Result<Event, StoreError>>;

/// The storage operations the api-server needs; see the module docs for the exact semantics.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The latest value of `key`, if it exists.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Keys under `prefix` that are `>= start` (a full key; `""` = from the prefix), as of `revision`
    /// (0 = latest), at most `limit` of them (0 = no limit).
    async fn list(
        &self,
        prefix: &str,
        start: &str,
        revision: i64,
        limit: i64,
    ) -> Result<ListResult, StoreError>;

    /// Creates `key` if it does not exist; returns the new revision. Fails with `AlreadyExists`.
    async fn create(&self, key: &str, value: Bytes) -> Result<i64, StoreError>;

    /// Replaces `key` if it exists with `mod_revision == expected_mod_revision`. Never creates.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
    ) -> Result<CasOutcome, StoreError>;

    /// Deletes `key` if it exists with `mod_revision == expected_mod_revision`.
    async fn delete(&self, key: &str, expected_mod_revision: i64)
        -> Result<CasOutcome, StoreError>;

    /// Events with revision `> after_revision` for keys under `prefix`, in revision order, with
    /// previous values when `with_prev` (etcd reads each one back for the watcher, so a watcher
    /// that keeps its own copy, like the watch cache, does without). `after_revision =
    /// current_revision()` means "from now on".
    async fn watch(
        &self,
        prefix: &str,
        after_revision: i64,
        with_prev: bool,
    ) -> Result<WatchStream, StoreError>;

    /// The store's current (highest) revision.
    async fn current_revision(&self) -> Result<i64, StoreError>;

    /// Discards history before `revision`: reads at lower revisions and watches from before it then
    /// fail with `Compacted`. Compacting at or below the already compacted revision is a no-op.
    async fn compact(&self, revision: i64) -> Result<(), StoreError>;
}

/// The `start` for the page after one ending at `last_key`: the smallest key greater than it.
pub fn next_start(last_key: &str) -> String {
    format!("{last_key}\0")
}

/// The exclusive end of the key range of `prefix` (etcd's `prefix_end`): the prefix with its last
/// byte below 0xff incremented. `None` means "no upper bound" (empty or all-0xff prefix).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A read at `requested` (0 = latest) against an embedded store whose history spans
/// `compacted..=current`: the revision to read, or why it cannot be read (as etcd answers).
fn read_revision(requested: i64, current: i64, compacted: i64) -> Result<i64, StoreError> {
    match requested {
        0 => Ok(current),
        r if r < compacted => Err(StoreError::Compacted {
            requested: r,
            compacted,
        }),
        r if r > current => Err(StoreError::FutureRevision {
            requested: r,
            current,
        }),
        r => Ok(r),
    }
}

/// Whether compacting an embedded store at `requested` has history to drop (its history spans
/// `compacted..=current`), or why it cannot (a revision not yet written, as etcd answers).
fn compacts(requested: i64, current: i64, compacted: i64) -> Result<bool, StoreError> {
    if requested > current {
        return Err(StoreError::FutureRevision { requested, current });
    }
    Ok(requested > compacted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end(b"/a/b/"), Some(b"/a/b0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b""), None);
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }

    #[test]
    fn next_start_is_just_after_the_key() {
        let s = next_start("/a/x");
        assert!(s.as_str() > "/a/x");
        assert!(s.as_str() < "/a/x0");
        assert!(s.as_str() < "/a/x/");
    }
}
