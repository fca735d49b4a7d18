use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    crate::storage::conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.create("/before/a", b("a")).await.unwrap();
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    crate::storage::conformance::run_all(Arc::new(store)).await;
}

/// Objects, revisions, history (a watch from an old revision) and the compaction mark all come
/// back when the store is opened again.
#[tokio::test]
async fn a_reopened_store_keeps_objects_revisions_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let r1 = store.create("/k/a", b("a1")).await.unwrap();
    let CasOutcome::Done { revision: r2 } = store.update("/k/a", b("a2"), r1).await.unwrap() else {
        panic!("update failed")
    };
    let r3 = store.create("/k/b", b("b1")).await.unwrap();
    let CasOutcome::Done { revision: r4 } = store.delete("/k/b", r3).await.unwrap() else {
        panic!("delete failed")
    };
    store.compact(r2).await.unwrap();
    drop(store);

    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), r4);
    let a = store.get("/k/a").await.unwrap().expect("a survives");
    assert_eq!(
        (a.value, a.create_revision, a.mod_revision),
        (b("a2"), r1, r2)
    );
    assert_eq!(store.get("/k/b").await.unwrap(), None, "b stays deleted");
    assert!(matches!(
        store.list("/k/", "", r1, 0).await,
        Err(StoreError::Compacted { .. })
    ));
    let mut watch = store.watch("/k/", r2, true).await.unwrap();
    let mut seen = vec![];
    for _ in 0..2 {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push((event.key().to_string(), event.revision()));
    }
    assert_eq!(seen, [("/k/b".into(), r3), ("/k/b".into(), r4)]);
    let r5 = store.create("/k/c", b("c")).await.unwrap();
    assert_eq!(r5, r4 + 1, "revisions continue after a reopen");
}

/// A compaction that removes the newest row (a tombstone) must not move the revision back.
#[tokio::test]
async fn the_revision_survives_compacting_away_the_newest_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let r1 = store.create("/t/a", b("a")).await.unwrap();
    let CasOutcome::Done { revision: r2 } = store.delete("/t/a", r1).await.unwrap() else {
        panic!("delete failed")
    };
    let r3 = store.create("/t/z", b("z")).await.unwrap();
    let CasOutcome::Done { revision: r4 } = store.delete("/t/z", r3).await.unwrap() else {
        panic!("delete failed")
    };
    assert!(r2 < r4);
    store.compact(r4).await.unwrap();
    store.compact(r4).await.unwrap();
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), r4);
    assert!(store.create("/t/n", b("n")).await.unwrap() > r4);
}

#[tokio::test]
async fn a_second_opener_of_the_same_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = SqliteStore::open(dir.path()).unwrap();
    match SqliteStore::open(dir.path()) {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("store.db"), "{msg}"),
        Ok(_) => panic!("two processes must not share one store"),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Concurrent writers share commits, and every acknowledged write is in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_are_all_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.spawn(async move { store.create(&format!("/w/{i:03}"), b("v")).await });
    }
    let mut revisions = vec![];
    while let Some(done) = tasks.join_next().await {
        revisions.push(done.unwrap().unwrap());
    }
    revisions.sort();
    revisions.dedup();
    assert_eq!(revisions.len(), 200, "every write got its own revision");
    drop(tasks);
    let Ok(store) = Arc::try_unwrap(store) else {
        panic!("store still shared")
    };
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.list("/w/", "", 0, 0).await.unwrap().count, 200);
}

fn file_size(dir: &std::path::Path) -> u64 {
    let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    size(FILE_NAME) + size(&format!("{FILE_NAME}-wal"))
}

/// A compaction gives the space of the history it dropped back to the file system: the file
/// does not keep the size of the busiest moment for good.
#[tokio::test]
async fn a_compaction_shrinks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(dir.path(), Sync::Normal).unwrap();
    let value = Bytes::from(vec![b'x'; 4096]);
    let mut revision = store.create("/k/a", value.clone()).await.unwrap();
    for _ in 0..2_000 {
        let CasOutcome::Done { revision: next } =
            store.update("/k/a", value.clone(), revision).await.unwrap()
        else {
            panic!("update failed")
        };
        revision = next;
    }
    let before = file_size(dir.path());
    assert!(before > 8 << 20, "2,000 versions of 4 KiB: {before} bytes");
    store.compact(revision).await.unwrap();
    let after = file_size(dir.path());
    assert!(
        after < 1 << 20,
        "{before} bytes before the compaction, {after} after"
    );
    assert_eq!(store.get("/k/a").await.unwrap().unwrap().value, value);
}

/// A store made without incremental auto-vacuum gets it at its next open, and keeps its data.
#[tokio::test]
async fn an_older_store_gains_incremental_vacuum_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        conn.execute_batch(sql::SCHEMA).unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    store.create("/k/a", b("a")).await.unwrap();
    drop(store);
    let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
    let mode: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, 2, "incremental");
}
