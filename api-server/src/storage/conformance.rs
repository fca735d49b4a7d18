//! The storage conformance suite: every [`Store`] implementation must pass it (MemoryStore in unit
//! tests, EtcdStore against a real etcd in `tests/storage_etcd.rs`). Each case works under its own
//! key prefix, so the cases can share one store; they panic with a message on a violation.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::{next_start, CasOutcome, Event, KeyValue, Store, StoreError, WatchStream};

type DynStore = Arc<dyn Store>;

/// Runs every case in order (compaction last but one: it bounds what older reads may do).
pub async fn run_all(store: DynStore) {
    create_and_get(store.clone()).await;
    update_is_compare_and_swap(store.clone()).await;
    delete_is_compare_and_swap(store.clone()).await;
    list_is_ordered_and_prefix_isolated(store.clone()).await;
    list_pages_from_one_snapshot(store.clone()).await;
    list_at_an_older_revision(store.clone()).await;
    watch_from_a_revision(store.clone()).await;
    watch_delivers_live_events(store.clone()).await;
    concurrent_writes_get_their_own_revisions(store.clone()).await;
    compaction_expires_old_reads_and_watches(store.clone()).await;
    revisions_are_monotonic(store).await;
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn done(outcome: CasOutcome) -> i64 {
    match outcome {
        CasOutcome::Done { revision } => revision,
        CasOutcome::Stale { current } => panic!("CAS unexpectedly stale, current = {current:?}"),
    }
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

async fn next_event(stream: &mut WatchStream) -> Event {
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch failed: {e}"),
        Ok(None) => panic!("watch ended unexpectedly"),
        Err(_) => panic!("no watch event within 10s"),
    }
}

/// A watch from a compacted revision must fail with Compacted, from `watch()` or as its first item.
async fn expect_watch_compacted(store: &DynStore, prefix: &str, after: i64) {
    let mut stream = match store.watch(prefix, after, true).await {
        Err(StoreError::Compacted { .. }) => return,
        Err(e) => panic!("watch from compacted revision {after}: unexpected error {e}"),
        Ok(stream) => stream,
    };
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(Err(StoreError::Compacted { .. }))) => {}
        other => panic!("watch from compacted revision {after}: expected Compacted, got {other:?}"),
    }
}

pub async fn create_and_get(store: DynStore) {
    let before = store.current_revision().await.unwrap();
    let rev = store.create("/c/get/a", b("one")).await.unwrap();
    assert!(rev > before, "create revision {rev} must exceed {before}");
    let kv = store
        .get("/c/get/a")
        .await
        .unwrap()
        .expect("created key is readable");
    assert_eq!(kv.value, b("one"));
    assert_eq!((kv.create_revision, kv.mod_revision), (rev, rev));
    let current = store.current_revision().await.unwrap();
    assert!(
        current >= rev,
        "current revision {current} is before the create's {rev}"
    );
    match store.create("/c/get/a", b("two")).await {
        Err(StoreError::AlreadyExists { key }) => assert_eq!(key, "/c/get/a"),
        other => panic!("second create must be AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        store.get("/c/get/a").await.unwrap().unwrap().value,
        b("one")
    );
    assert_eq!(store.get("/c/get/missing").await.unwrap(), None);
    assert_eq!(
        store.current_revision().await.unwrap(),
        current,
        "a failed create writes nothing"
    );
}

pub async fn update_is_compare_and_swap(store: DynStore) {
    let r1 = store.create("/c/upd/a", b("v1")).await.unwrap();
    let r2 = done(store.update("/c/upd/a", b("v2"), r1).await.unwrap());
    assert!(r2 > r1);
    let kv = store.get("/c/upd/a").await.unwrap().unwrap();
    assert_eq!(
        (kv.value.clone(), kv.create_revision, kv.mod_revision),
        (b("v2"), r1, r2)
    );
    match store.update("/c/upd/a", b("v3"), r1).await.unwrap() {
        CasOutcome::Stale { current } => assert_eq!(current, Some(kv.clone())),
        CasOutcome::Done { .. } => panic!("update with a stale revision must not write"),
    }
    assert_eq!(store.get("/c/upd/a").await.unwrap(), Some(kv));
    match store.update("/c/upd/missing", b("x"), 0).await.unwrap() {
        CasOutcome::Stale { current: None } => {}
        other => panic!("update of a missing key must be Stale{{None}}, got {other:?}"),
    }
    assert_eq!(
        store.get("/c/upd/missing").await.unwrap(),
        None,
        "update never creates"
    );
}

pub async fn delete_is_compare_and_swap(store: DynStore) {
    let r1 = store.create("/c/del/a", b("v1")).await.unwrap();
    let r2 = done(store.update("/c/del/a", b("v2"), r1).await.unwrap());
    match store.delete("/c/del/a", r1).await.unwrap() {
        CasOutcome::Stale { current } => assert_eq!(current.map(|kv| kv.mod_revision), Some(r2)),
        CasOutcome::Done { .. } => panic!("delete with a stale revision must not delete"),
    }
    let r3 = done(store.delete("/c/del/a", r2).await.unwrap());
    assert!(r3 > r2);
    assert_eq!(store.get("/c/del/a").await.unwrap(), None);
    match store.delete("/c/del/a", r2).await.unwrap() {
        CasOutcome::Stale { current: None } => {}
        other => panic!("delete of a missing key must be Stale{{None}}, got {other:?}"),
    }
    let r4 = store.create("/c/del/a", b("again")).await.unwrap();
    let kv = store.get("/c/del/a").await.unwrap().unwrap();
    assert_eq!(
        kv.create_revision, r4,
        "a re-created key gets a new create_revision"
    );
}

pub async fn list_is_ordered_and_prefix_isolated(store: DynStore) {
    for key in [
        "/c/iso/a/b/2",
        "/c/iso/a/b/1",
        "/c/iso/a/bc/x",
        "/c/iso/a/b",
        "/c/iso/a/b/3/z",
    ] {
        store.create(key, b(key)).await.unwrap();
    }
    let current = store.current_revision().await.unwrap();
    let page = store.list("/c/iso/a/b/", "", 0, 0).await.unwrap();
    assert_eq!(
        keys(&page.items),
        ["/c/iso/a/b/1", "/c/iso/a/b/2", "/c/iso/a/b/3/z"]
    );
    assert_eq!(page.items[0].value, b("/c/iso/a/b/1"));
    assert_eq!((page.revision, page.more, page.count), (current, false, 3));
    let none = store.list("/c/iso/nothing/", "", 0, 0).await.unwrap();
    assert!(none.items.is_empty() && !none.more && none.count == 0);
}

pub async fn list_pages_from_one_snapshot(store: DynStore) {
    for i in 1..=5 {
        store
            .create(&format!("/c/page/k{i}"), b("v"))
            .await
            .unwrap();
    }
    let first = store.list("/c/page/", "", 0, 2).await.unwrap();
    assert_eq!(keys(&first.items), ["/c/page/k1", "/c/page/k2"]);
    assert_eq!((first.more, first.count), (true, 5));
    // Changes after the first page must not show up in later pages pinned to its revision.
    store.create("/c/page/k25", b("late")).await.unwrap();
    let k4 = store.get("/c/page/k4").await.unwrap().unwrap();
    done(store.delete("/c/page/k4", k4.mod_revision).await.unwrap());
    let start = next_start(&first.items[1].key);
    let second = store
        .list("/c/page/", &start, first.revision, 2)
        .await
        .unwrap();
    assert_eq!(keys(&second.items), ["/c/page/k3", "/c/page/k4"]);
    assert_eq!(
        (second.revision, second.more, second.count),
        (first.revision, true, 3)
    );
    let start = next_start(&second.items[1].key);
    let third = store
        .list("/c/page/", &start, first.revision, 2)
        .await
        .unwrap();
    assert_eq!(keys(&third.items), ["/c/page/k5"]);
    assert_eq!((third.more, third.count), (false, 1));
    let latest = store.list("/c/page/", "", 0, 0).await.unwrap();
    assert_eq!(
        keys(&latest.items),
        [
            "/c/page/k1",
            "/c/page/k2",
            "/c/page/k25",
            "/c/page/k3",
            "/c/page/k5"
        ]
    );
}

pub async fn list_at_an_older_revision(store: DynStore) {
    let r1 = store.create("/c/old/a", b("a1")).await.unwrap();
    let r2 = done(store.update("/c/old/a", b("a2"), r1).await.unwrap());
    let r3 = store.create("/c/old/b", b("b1")).await.unwrap();
    let r4 = done(store.delete("/c/old/a", r2).await.unwrap());
    let values = |r| {
        let store = store.clone();
        async move {
            let page = store.list("/c/old/", "", r, 0).await.unwrap();
            assert_eq!(
                page.revision, r,
                "a list at a revision reports that revision"
            );
            page.items
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect::<Vec<_>>()
        }
    };
    let kv = |k: &str, v: &str| (k.to_string(), b(v));
    assert_eq!(values(r1).await, [kv("/c/old/a", "a1")]);
    assert_eq!(values(r2).await, [kv("/c/old/a", "a2")]);
    assert_eq!(
        values(r3).await,
        [kv("/c/old/a", "a2"), kv("/c/old/b", "b1")]
    );
    assert_eq!(values(r4).await, [kv("/c/old/b", "b1")]);
    match store.list("/c/old/", "", r4 + 1000, 0).await {
        Err(StoreError::FutureRevision { requested, current }) => {
            assert_eq!(requested, r4 + 1000);
            assert!((r4..requested).contains(&current), "current {current}");
        }
        other => panic!("list at a future revision must fail, got {other:?}"),
    }
}

pub async fn watch_from_a_revision(store: DynStore) {
    let r0 = store.current_revision().await.unwrap();
    let r1 = store.create("/c/watch/x", b("x1")).await.unwrap();
    store.create("/c/watchx/outside", b("no")).await.unwrap();
    let r2 = done(store.update("/c/watch/x", b("x2"), r1).await.unwrap());
    let r3 = done(store.delete("/c/watch/x", r2).await.unwrap());
    let r4 = store.create("/c/watch/y", b("y1")).await.unwrap();

    let mut stream = store.watch("/c/watch/", r0, true).await.unwrap();
    let x1 = match next_event(&mut stream).await {
        Event::Put { kv, prev: None } if kv.mod_revision == r1 && kv.create_revision == r1 => kv,
        other => panic!("expected the create of x at {r1}, got {other:?}"),
    };
    let x2 = match next_event(&mut stream).await {
        Event::Put {
            kv,
            prev: Some(prev),
        } if kv.mod_revision == r2 && prev == x1 => kv,
        other => panic!("expected the update of x at {r2} with prev, got {other:?}"),
    };
    assert_eq!((x2.value.clone(), x2.create_revision), (b("x2"), r1));
    match next_event(&mut stream).await {
        Event::Delete {
            key,
            revision,
            prev: Some(prev),
        } => {
            assert_eq!((key.as_str(), revision, prev), ("/c/watch/x", r3, x2));
        }
        other => panic!("expected the delete of x at {r3} with prev, got {other:?}"),
    }
    assert_eq!(next_event(&mut stream).await.revision(), r4);

    // Without previous values: the same events, none carrying the old value.
    let mut bare = store.watch("/c/watch/", r0, false).await.unwrap();
    for want in [r1, r2, r3, r4] {
        let event = next_event(&mut bare).await;
        assert_eq!(event.revision(), want);
        let prev = match &event {
            Event::Put { prev, .. } | Event::Delete { prev, .. } => prev,
        };
        assert_eq!(prev, &None, "{event:?}");
    }

    let mut later = store.watch("/c/watch/", r2, true).await.unwrap();
    let first = next_event(&mut later).await;
    assert_eq!(
        (first.key(), first.revision()),
        ("/c/watch/x", r3),
        "events strictly after r2"
    );
}

pub async fn watch_delivers_live_events(store: DynStore) {
    let now = store.current_revision().await.unwrap();
    let mut stream = store.watch("/c/live/", now, true).await.unwrap();
    let mut revisions = Vec::new();
    for i in 0..20 {
        revisions.push(
            store
                .create(&format!("/c/live/{i:02}"), b("v"))
                .await
                .unwrap(),
        );
        store
            .create(&format!("/c/liveother/{i:02}"), b("v"))
            .await
            .unwrap();
    }
    for (i, rev) in revisions.into_iter().enumerate() {
        let event = next_event(&mut stream).await;
        assert_eq!(
            (event.key(), event.revision()),
            (format!("/c/live/{i:02}").as_str(), rev)
        );
    }
}

pub async fn compaction_expires_old_reads_and_watches(store: DynStore) {
    let r0 = store.current_revision().await.unwrap();
    let r1 = store.create("/c/compact/a", b("v1")).await.unwrap();
    let r2 = done(store.update("/c/compact/a", b("v2"), r1).await.unwrap());
    let r3 = done(store.update("/c/compact/a", b("v3"), r2).await.unwrap());
    store.compact(r2).await.unwrap();
    match store.list("/c/compact/", "", r1, 0).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!((requested, compacted), (r1, r2));
        }
        other => panic!("list below the compaction revision must fail, got {other:?}"),
    }
    let at_r2 = store.list("/c/compact/", "", r2, 0).await.unwrap();
    assert_eq!(
        at_r2.items[0].value,
        b("v2"),
        "the compaction revision itself stays readable"
    );
    expect_watch_compacted(&store, "/c/compact/", r0).await;
    let mut stream = store.watch("/c/compact/", r2, true).await.unwrap();
    assert_eq!(next_event(&mut stream).await.revision(), r3);
    store
        .compact(r1)
        .await
        .expect("compacting below the compacted revision is a no-op");
    assert_eq!(
        store.get("/c/compact/a").await.unwrap().unwrap().value,
        b("v3")
    );
}

pub async fn revisions_are_monotonic(store: DynStore) {
    let mut last = store.current_revision().await.unwrap();
    for i in 0..10 {
        let key = format!("/c/mono/{i}");
        let created = store.create(&key, b("a")).await.unwrap();
        let updated = done(store.update(&key, b("b"), created).await.unwrap());
        let deleted = done(store.delete(&key, updated).await.unwrap());
        assert!(last < created && created < updated && updated < deleted);
        last = deleted;
    }
    let current = store.current_revision().await.unwrap();
    assert!(current >= last);
    let after = store.create("/c/mono/after", b("a")).await.unwrap();
    assert!(after > current, "a write after {current} got {after}");
}

/// Writes that arrive together (which etcd's store commits as one Txn) still get one revision
/// each, as clients resume watches from the last object's revision: a watch resumed after any
/// of them delivers exactly the later ones. Racing writes of one key: one wins.
pub async fn concurrent_writes_get_their_own_revisions(store: DynStore) {
    let before = store.current_revision().await.unwrap();
    let creates = (0..40).map(|i| {
        let store = store.clone();
        async move {
            let key = format!("/c/conc/{i:02}");
            let rev = store.create(&key, b(&format!("v{i}"))).await.unwrap();
            (key, rev)
        }
    });
    let racing = (0..2).map(|_| {
        let store = store.clone();
        async move { store.create("/c/conc/same", b("same")).await }
    });
    let (mut written, raced) = futures::join!(
        futures::future::join_all(creates),
        futures::future::join_all(racing)
    );
    let won = raced.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one of two racing creates wins: {raced:?}");
    assert!(raced
        .iter()
        .any(|r| matches!(r, Err(StoreError::AlreadyExists { .. }))));
    written.push((
        "/c/conc/same".to_string(),
        *raced.iter().flatten().next().unwrap(),
    ));
    written.sort_by_key(|(_, rev)| *rev);
    let revs: Vec<i64> = written.iter().map(|(_, rev)| *rev).collect();
    assert!(
        revs.windows(2).all(|w| w[0] < w[1]),
        "revisions repeat: {revs:?}"
    );
    assert!(revs[0] > before);
    for (key, rev) in &written {
        let kv = store.get(key).await.unwrap().expect("written key");
        assert_eq!((kv.mod_revision, kv.create_revision), (*rev, *rev), "{key}");
        assert!(
            kv.value.starts_with(b"v") || kv.value == b("same"),
            "{key}: {:?}",
            kv.value
        );
    }
    let mut stream = store.watch("/c/conc/", before, false).await.unwrap();
    for (key, rev) in &written {
        let event = next_event(&mut stream).await;
        assert_eq!((event.key(), event.revision()), (key.as_str(), *rev));
        assert!(matches!(&event, Event::Put { kv, .. } if kv.create_revision == kv.mod_revision));
    }
    for k in (0..written.len() - 1).step_by(7) {
        let mut resumed = store.watch("/c/conc/", revs[k], false).await.unwrap();
        let event = next_event(&mut resumed).await;
        assert_eq!(event.revision(), revs[k + 1], "resumed after {}", revs[k]);
    }
    // Racing updates from one revision: one wins, the other sees the winner's value.
    let (key, rev) = written[0].clone();
    let updates = (0..2).map(|i| {
        let (store, key) = (store.clone(), key.clone());
        async move { store.update(&key, b(&format!("u{i}")), rev).await.unwrap() }
    });
    let outcomes = futures::future::join_all(updates).await;
    let winner = outcomes.iter().find_map(|o| match o {
        CasOutcome::Done { revision } => Some(*revision),
        CasOutcome::Stale { .. } => None,
    });
    let stale: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            CasOutcome::Stale { current } => Some(current.clone()),
            CasOutcome::Done { .. } => None,
        })
        .collect();
    assert_eq!(stale.len(), 1, "{outcomes:?}");
    let current = stale[0].clone().expect("the key still exists");
    assert_eq!(Some(current.mod_revision), winner);
    assert!(current.value.starts_with(b"u"));
}
