//! The storage conformance suite against a real etcd.

use std::sync::Arc;

use flotilla_api_server::storage::{conformance, EtcdStore, Store, StoreError};
use flotilla_tests::etcd::Etcd;

/// A fresh etcd and a store connected to it.
async fn etcd_store() -> (Etcd, Arc<EtcdStore>) {
    let etcd = Etcd::start().await.expect("start etcd");
    let store = EtcdStore::connect(&[etcd.endpoint().to_string()])
        .await
        .expect("connect to etcd");
    (etcd, Arc::new(store))
}

#[tokio::test]
async fn etcd_store_passes_the_conformance_suite() {
    let (_etcd, store) = etcd_store().await;
    conformance::run_all(store).await;
}

#[tokio::test]
async fn a_dead_etcd_is_reported_unavailable() {
    let (etcd, store) = etcd_store().await;
    drop(etcd);
    match store.get("/registry/x").await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable from a stopped etcd, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_cache_follows_a_real_etcd() {
    use bytes::Bytes;
    use flotilla_api_server::storage::KeyValue;
    use flotilla_api_server::watchcache::{Decode, EventKind, WatchCache};
    use futures::StreamExt;

    let (_etcd, store) = etcd_store().await;
    let prefix = "/registry/flotilla.dev/tasks/";
    store
        .create("/registry/flotilla.dev/tasks/default/t0", Bytes::from("t0"))
        .await
        .unwrap();
    let decode: Decode<String> =
        Arc::new(|kv: &KeyValue| String::from_utf8(kv.value.to_vec()).ok());
    let cache = WatchCache::start(store.clone(), prefix, decode)
        .await
        .unwrap();
    assert_eq!(cache.snapshot().items.len(), 1);
    let from = cache.current_revision();
    let mut subs: Vec<_> = (0..100).map(|_| cache.subscribe(from).unwrap()).collect();
    let mut revs = Vec::new();
    for i in 1..=10 {
        let key = format!("{prefix}default/t{i}");
        revs.push(
            store
                .create(&key, Bytes::from(format!("t{i}")))
                .await
                .unwrap(),
        );
    }
    for sub in &mut subs {
        for rev in &revs {
            let event = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
                .await
                .expect("event within 10s")
                .expect("open")
                .expect("no error");
            assert_eq!((event.revision, event.kind), (*rev, EventKind::Added));
        }
    }
    assert_eq!(cache.current_revision(), *revs.last().unwrap());
}

#[tokio::test]
async fn lists_and_watches_larger_than_grpcs_default_4mib_work() {
    use bytes::Bytes;
    use futures::StreamExt;

    let (_etcd, store) = etcd_store().await;
    let start = store.current_revision().await.unwrap();
    // Six 1 MiB values (etcd takes requests up to 1.5 MiB): a 6 MiB list response.
    let value = Bytes::from(vec![b'x'; 1 << 20]);
    for i in 0..6 {
        store
            .create(&format!("/big/{i}"), value.clone())
            .await
            .unwrap();
    }
    let page = store.list("/big/", "", 0, 0).await.expect("a 6 MiB list");
    assert_eq!(page.items.len(), 6);
    assert!(page.items.iter().all(|kv| kv.value.len() == 1 << 20));
    let mut watch = store.watch("/big/", start, true).await.unwrap();
    for _ in 0..6 {
        let event = watch.next().await.expect("open").expect("event");
        assert_eq!(event.key().len(), "/big/0".len());
    }
}

/// Concurrent writes are group-committed: several share one etcd revision, each keeps its own
/// store revision (etcd revision × 1000 + position), and only positions after the first carry
/// the two-byte frame in etcd.
#[tokio::test]
async fn concurrent_writes_share_etcd_revisions_but_not_resource_versions() {
    use bytes::Bytes;
    use flotilla_api_server::storage::etcd_revision::etcd_revision;

    let (etcd, store) = etcd_store().await;
    let writes = (0..64).map(|i| {
        let store = store.clone();
        async move {
            let key = format!("/registry/batch/{i:02}");
            let value = Bytes::from(format!("{{\"n\":{i}}}"));
            (key.clone(), store.create(&key, value).await.unwrap())
        }
    });
    let written = futures::future::join_all(writes).await;
    let mut revs: Vec<i64> = written.iter().map(|(_, rev)| *rev).collect();
    revs.sort_unstable();
    revs.dedup();
    assert_eq!(revs.len(), 64, "every write has its own revision");
    let mut etcd_revs: Vec<i64> = revs.iter().map(|r| etcd_revision(*r)).collect();
    etcd_revs.dedup();
    assert!(
        etcd_revs.len() < 64,
        "64 concurrent creates went out as 64 Txns: no batching"
    );
    let mut raw = etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .unwrap();
    for (key, rev) in &written {
        let kv = raw.get(key.as_str(), None).await.unwrap().kvs()[0].clone();
        assert_eq!(kv.mod_revision(), etcd_revision(*rev));
        let position = rev % 1000;
        let stored = kv.value();
        if position == 0 {
            assert_eq!(stored[0], b'{', "{key} alone in its Txn is stored unframed");
        } else {
            assert_eq!(
                &stored[..2],
                &[0, position as u8],
                "{key} at position {position}"
            );
        }
        let through_store = store.get(key).await.unwrap().unwrap();
        assert!(through_store.value.starts_with(b"{\"n\":"));
    }
}
