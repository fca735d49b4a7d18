//! Indexed subscribers: each gets the events of its own value only, and still sees an object
//! enter and leave, learns how far the cache has gone, and ends as every subscriber does.

use super::*;

const FIELD: &str = "spec.nodeName";

/// A cache of "node:payload" strings indexed by their node.
async fn indexed_cache(store: Arc<FlakyStore>, cfg: WatchCacheConfig) -> WatchCache<String> {
    let cache = cache(store, cfg).await;
    let node = |s: &String| s.split(':').next().unwrap_or_default().to_string();
    cache.index_by(FIELD, Arc::new(node));
    cache
}

/// Whether nothing more arrives within 50 ms.
async fn quiet(sub: &mut Subscription<String>) -> bool {
    tokio::time::timeout(Duration::from_millis(50), sub.next())
        .await
        .is_err()
}

#[tokio::test]
async fn an_indexed_subscriber_gets_its_values_events_including_moves_in_and_out() {
    let store = FlakyStore::new();
    let cache = indexed_cache(store.clone(), config(100, 100)).await;
    assert_eq!(cache.index_field(), Some(FIELD));
    let from = cache.current_revision();
    let mut n1 = cache.subscribe_where(from, Some("n1")).unwrap();
    let mut all = cache.subscribe_where(from, None).unwrap();
    let r1 = put(&store, "a", "n1:1").await;
    let r2 = put(&store, "b", "n2:1").await;
    let r3 = put(&store, "a", "n2:2").await; // leaves n1
    let r4 = put(&store, "b", "n1:2").await; // enters n1
    let r5 = put(&store, "c", "n3:1").await;
    let r6 = remove(&store, "b").await; // its last state was on n1
    for rev in [r1, r2, r3, r4, r5, r6] {
        assert_eq!(next_ok(&mut all).await.revision, rev);
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        let e = next_ok(&mut n1).await;
        got.push((e.revision, e.kind, e.object.to_string()));
    }
    assert_eq!(
        got,
        [
            (r1, EventKind::Added, "n1:1".to_string()),
            (r3, EventKind::Modified, "n2:2".to_string()),
            (r4, EventKind::Modified, "n1:2".to_string()),
            (r6, EventKind::Deleted, "n1:2".to_string()),
        ]
    );
    assert!(
        quiet(&mut n1).await,
        "n2's and n3's own events never arrive"
    );

    // Its bookmark still moves past the events meant for others, once it is polled idle.
    let r7 = put(&store, "c", "n3:2").await;
    cache.wait_for_revision(r7).await;
    assert!(quiet(&mut n1).await);
    assert_eq!(n1.revision(), r7, "a bookmark need not replay n3's events");
}

#[tokio::test]
async fn a_resuming_indexed_subscriber_is_replayed_the_window_then_only_its_own() {
    let store = FlakyStore::new();
    let cache = indexed_cache(store.clone(), config(100, 100)).await;
    let from = cache.current_revision();
    let r1 = put(&store, "a", "n1:1").await;
    let r2 = put(&store, "b", "n2:1").await;
    cache.wait_for_revision(r2).await;
    // The replay is the window as is: the watch handler's selector narrows it.
    let mut n1 = cache.subscribe_where(from, Some("n1")).unwrap();
    assert_eq!(next_ok(&mut n1).await.revision, r1);
    assert_eq!(next_ok(&mut n1).await.revision, r2);
    put(&store, "b", "n2:2").await;
    let r4 = put(&store, "a", "n1:2").await;
    assert_eq!(next_ok(&mut n1).await.revision, r4);

    let (snapshot, mut fresh) = cache.snapshot_and_subscribe_where(Some("n2"));
    assert_eq!(snapshot.items.len(), 2);
    let r5 = put(&store, "b", "n2:3").await;
    assert_eq!(next_ok(&mut fresh).await.revision, r5);
}

#[tokio::test]
async fn twelve_hundred_indexed_subscribers_each_get_only_their_own_events() {
    let store = FlakyStore::new();
    let cache = indexed_cache(store.clone(), config(100, 100)).await;
    let from = cache.current_revision();
    let nodes = 1_200;
    let mut subs: Vec<_> = (0..nodes)
        .map(|n| cache.subscribe_where(from, Some(&format!("n{n}"))).unwrap())
        .collect();
    let mut revs = Vec::new();
    for n in 0..nodes {
        revs.push(put(&store, &format!("t{n}"), &format!("n{n}:run")).await);
    }
    for (sub, rev) in subs.iter_mut().zip(&revs) {
        let e = next_ok(sub).await;
        assert_eq!((e.revision, e.kind), (*rev, EventKind::Added));
    }
    let last = *revs.last().unwrap();
    for sub in subs.iter_mut().step_by(97) {
        assert!(quiet(sub).await, "no other node's event");
        assert_eq!(sub.revision(), last);
    }
}

#[tokio::test]
async fn indexed_subscribers_end_when_they_lag_when_the_cache_resets_and_when_it_is_dropped() {
    let store = FlakyStore::new();
    put(&store, "z", "n9:0").await;
    let cache = indexed_cache(store.clone(), config(1000, 4)).await;
    let from = cache.current_revision();
    let mut slow = cache.subscribe_where(from, Some("n1")).unwrap();
    let mut other = cache.subscribe_where(from, Some("n2")).unwrap();
    for i in 0..20 {
        let rev = put(&store, &format!("k{i}"), "n1:x").await;
        cache.wait_for_revision(rev).await; // one message per write
    }
    let (received, end) = until_error(&mut slow).await;
    assert!(matches!(end, WatchCacheError::Lagged { .. }), "got {end:?}");
    assert!(received < 20, "the slow subscriber saw {received}");
    assert!(slow.next().await.is_none(), "nothing after the error");

    store.break_watches();
    put(&store, "b", "n2:1").await;
    let r = remove(&store, "z").await;
    store.compact(r).await.unwrap();
    store.heal();
    match next(&mut other).await {
        Err(WatchCacheError::Reset { revision }) => assert_eq!(revision, r),
        other => panic!("expected Reset, got {other:?}"),
    }
    let mut fresh = cache.subscribe_where(r, Some("n2")).unwrap();
    let r2 = put(&store, "b", "n2:2").await;
    assert_eq!(
        next_ok(&mut fresh).await.revision,
        r2,
        "indexed again after the reset"
    );
    drop(cache);
    let ended = tokio::time::timeout(Duration::from_secs(5), fresh.next()).await;
    assert!(matches!(ended, Ok(None)), "the cache is gone: {ended:?}");
}
