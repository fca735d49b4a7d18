//! The persistent embedded store of the single-process mode (`flotilla all-in-one`): etcd's
//! semantics over one SQLite file, the way k3s keeps its state through kine. The schema and the
//! queries are in [`super::sqlite_sql`]; the choice of SQLite and its figures are in
//! docs/architecture.md and docs/benchmark.md.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so a write is on disk
//! (the WAL fsynced) before it is acknowledged, and a process killed at any point reopens to the
//! last committed write. One writer thread commits: the writes that queued while it committed
//! go together into its next commit (group commit: one fsync for the batch), which keeps many
//! concurrent writers from waiting one fsync each, and keeps them from holding a thread each. The file is locked exclusively while open, so a second
//! process cannot open the same store and fork its revisions.

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use rusqlite::Connection;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;

use super::memory::Watcher;
use super::sqlite_sql as sql;
use super::{CasOutcome, KeyValue, ListResult, Store, StoreError, WatchStream};
use commit::{Op, Pending, Reply};

/// The file name of the store inside its directory.
pub const FILE_NAME: &str = "store.db";

/// When a commit reaches the disk; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sync {
    /// Every commit fsyncs the WAL: an acknowledged write survives a crash of the machine.
    #[default]
    Full,
    /// Commits reach the OS, not the disk: a write survives the process being killed but not a
    /// power loss (the benchmark's comparison point).
    Normal,
}

/// A persistent MVCC key-value store in one SQLite file; see the module docs.
pub struct SqliteStore {
    inner: Arc<Inner>,
    /// To the writer thread; `None` once dropping.
    writes: Option<mpsc::Sender<Pending>>,
    writer: Option<JoinHandle<()>>,
}

struct Inner {
    state: Mutex<State>,
}

struct State {
    conn: Connection,
    revision: i64,
    compacted: i64,
    watchers: Vec<Watcher>,
}

fn internal(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("sqlite: {e}"))
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir/store.db` with [`Sync::Full`].
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(dir, Sync::Full)
    }

    pub fn open_with(dir: &Path, sync: Sync) -> Result<SqliteStore, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("opening {}: {e}", dir.join(FILE_NAME).display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| unavailable(&e))?;
        let conn = Connection::open(dir.join(FILE_NAME)).map_err(|e| unavailable(&e))?;
        // A store held by another process is an error at once, not after a wait.
        conn.busy_timeout(std::time::Duration::ZERO)
            .map_err(|e| unavailable(&e))?;
        let sync = match sync {
            Sync::Full => "FULL",
            Sync::Normal => "NORMAL",
        };
        // Exclusive locking before WAL: no shared-memory file, and a second opener fails.
        // Incremental auto-vacuum (set before the first table) lets a compaction give pages back.
        let setup = format!(
            "PRAGMA locking_mode = EXCLUSIVE; PRAGMA auto_vacuum = INCREMENTAL; \
             PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; {}",
            sql::SCHEMA
        );
        conn.execute_batch(&setup).map_err(|e| unavailable(&e))?;
        sql::enable_incremental_vacuum(&conn).map_err(|e| unavailable(&e))?;
        // A write takes the exclusive lock now rather than at the first client write.
        sql::set_meta(&conn, "opened", 1).map_err(|e| unavailable(&e))?;
        let revision = sql::max_revision(&conn)
            .and_then(|max| Ok(max.max(sql::meta(&conn, "floor")?)))
            .map_err(|e| unavailable(&e))?
            .max(1); // a fresh etcd starts at revision 1 with no keys
        let compacted = sql::meta(&conn, "compacted").map_err(|e| unavailable(&e))?;
        let state = State {
            conn,
            revision,
            compacted,
            watchers: Vec::new(),
        };
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
        });
        let (writes, queued) = mpsc::channel();
        let committer = inner.clone();
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || committer.commit_loop(queued))
            .map_err(|e| unavailable(&e))?;
        Ok(SqliteStore {
            inner,
            writes: Some(writes),
            writer: Some(writer),
        })
    }

    /// Runs `f` on a blocking thread: SQLite calls (and the fsync of a commit) block.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Internal(format!("store thread failed: {e}")))?
    }

    async fn write(&self, op: Op) -> Reply {
        let closed = || StoreError::Unavailable("the store is closed".into());
        let (reply, answer) = tokio::sync::oneshot::channel();
        let writes = self.writes.as_ref().ok_or_else(closed)?;
        writes.send(Pending { op, reply }).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

impl Drop for SqliteStore {
    /// Waits for the writer thread, so the file is closed (and unlocked) on return.
    fn drop(&mut self) {
        self.writes = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic mid-commit leaves the transaction uncommitted (rolled back on drop) and the
        // in-memory revision unchanged, so a poisoned lock still guards consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer thread: waits for a write, commits it with every write queued meanwhile.
    /// Ends when the store is dropped.
    fn commit_loop(&self, queued: mpsc::Receiver<Pending>) {
        while let Ok(first) = queued.recv() {
            let mut batch = vec![first];
            batch.extend(queued.try_iter());
            self.state().commit(batch);
        }
    }
}

impl State {
    /// Resolves a read revision (0 = latest) against the retained window.
    fn read_revision(&self, requested: i64) -> Result<i64, StoreError> {
        super::read_revision(requested, self.revision, self.compacted)
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let key = key.to_string();
        self.blocking(move |inner| sql::latest(&inner.state().conn, &key).map_err(internal))
            .await
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        revision: i64,
        limit: i64,
    ) -> Result<ListResult, StoreError> {
        let (prefix, start) = (prefix.to_string(), start.to_string());
        self.blocking(move |inner| {
            let state = inner.state();
            let revision = state.read_revision(revision)?;
            sql::list(&state.conn, &prefix, &start, revision, limit).map_err(internal)
        })
        .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<i64, StoreError> {
        match self.write(Op::Create(key.to_string(), value)).await? {
            CasOutcome::Done { revision } => Ok(revision),
            CasOutcome::Stale { .. } => Err(StoreError::Internal("create reported stale".into())),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Reply {
        self.write(Op::Update(key.to_string(), value, expected))
            .await
    }

    async fn delete(&self, key: &str, expected: i64) -> Reply {
        self.write(Op::Delete(key.to_string(), expected)).await
    }

    async fn watch(
        &self,
        prefix: &str,
        after_revision: i64,
        with_prev: bool,
    ) -> Result<WatchStream, StoreError> {
        let prefix = prefix.to_string();
        let rx = self
            .blocking(move |inner| {
                let mut state = inner.state();
                // Like etcd: the first revision to deliver (after + 1) must not be compacted away.
                if after_revision + 1 < state.compacted {
                    return Err(StoreError::Compacted {
                        requested: after_revision,
                        compacted: state.compacted,
                    });
                }
                // Under the state lock no commit publishes, so the backlog and the live events
                // meet without a gap or a duplicate.
                let backlog = sql::events_after(&state.conn, &prefix, after_revision, with_prev)
                    .map_err(internal)?;
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let watcher = Watcher {
                    prefix,
                    with_prev,
                    tx,
                };
                for event in &backlog {
                    watcher.offer(event);
                }
                state.watchers.push(watcher);
                Ok(rx)
            })
            .await?;
        Ok(Box::pin(UnboundedReceiverStream::new(rx).map(Ok)))
    }

    async fn current_revision(&self) -> Result<i64, StoreError> {
        Ok(self.inner.state().revision)
    }

    async fn compact(&self, revision: i64) -> Result<(), StoreError> {
        self.blocking(move |inner| {
            let mut state = inner.state();
            if super::compacts(revision, state.revision, state.compacted)? {
                let current = state.revision;
                let tx = state.conn.transaction().map_err(internal)?;
                sql::compact(&tx, revision, current).map_err(internal)?;
                tx.commit().map_err(internal)?;
                state.compacted = revision;
                sql::shrink(&state.conn).map_err(internal)?;
            }
            Ok(())
        })
        .await
    }
}

mod commit;

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
