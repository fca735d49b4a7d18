//! The storage conformance suite against a real etcd.

use std::sync::Arc;

use flotilla_api_server::storage::{conformance, EtcdStore, Store, StoreError};
use flotilla_tests::etcd::Etcd;

#[tokio::test]
async fn etcd_store_passes_the_conformance_suite() {
    let etcd = Etcd::start().await.expect("start etcd");
    let store = EtcdStore::connect(&[etcd.endpoint().to_string()])
        .await
        .expect("connect to etcd");
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn a_dead_etcd_is_reported_unavailable() {
    let etcd = Etcd::start().await.expect("start etcd");
    let store = EtcdStore::connect(&[etcd.endpoint().to_string()])
        .await
        .expect("connect to etcd");
    drop(etcd);
    match store.get("/registry/x").await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable from a stopped etcd, got {other:?}"),
    }
}
