//! A watch's initial events (a streaming list, `sendInitialEvents`, and a watch without a
//! resourceVersion) are sent in chunks of several objects. With more initial objects than one
//! chunk holds, kube-rs, unmodified, must still see every object once, whole, then the end of
//! the initial list, then later changes.

use std::collections::BTreeMap;
use std::time::Duration;

use flotilla_api::service::SwarmService;
use flotilla_tests::apiserver::TestApiServer;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;

/// Enough SwarmServices (~1.5 KB each as JSON) to span more than two 64 KiB chunks.
const SERVICES: usize = 150;

fn web(name: &str, replicas: i64) -> SwarmService {
    let yaml = flotilla_tests::fixtures::web(name, replicas);
    serde_yaml_ng::from_str(&yaml).expect("fixture parses as SwarmService")
}

async fn seeded() -> (TestApiServer, Api<SwarmService>) {
    let server = TestApiServer::with_etcd().await.unwrap();
    let api: Api<SwarmService> = Api::namespaced(server.client().await.unwrap(), "default");
    futures::stream::iter(0..SERVICES)
        .map(|i| {
            let api = api.clone();
            async move {
                let replicas = i64::try_from(i % 7).unwrap();
                api.create(
                    &PostParams::default(),
                    &web(&format!("web-{i:03}"), replicas),
                )
                .await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    (server, api)
}

fn replicas(svc: &SwarmService) -> Option<i64> {
    serde_json::to_value(&svc.spec).unwrap()["mode"]["replicated"]["replicas"].as_i64()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streaming_list_larger_than_a_chunk_arrives_whole() {
    let (_server, api) = seeded().await;
    let config = watcher::Config::default().streaming_lists();
    let mut events = watcher::watcher(api.clone(), config).boxed();
    let mut seen = BTreeMap::new();
    let wait = Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout(wait, events.next()).await.unwrap();
        match event.unwrap().unwrap() {
            watcher::Event::Init => {}
            watcher::Event::InitApply(svc) => {
                let name = svc.metadata.name.clone().unwrap();
                assert!(seen.insert(name, replicas(&svc)).is_none(), "sent twice");
            }
            watcher::Event::InitDone => break,
            other => panic!("before the end of the initial list: {other:?}"),
        }
    }
    assert_eq!(seen.len(), SERVICES);
    for (i, (name, replicas)) in seen.iter().enumerate() {
        assert_eq!(name, &format!("web-{i:03}"));
        assert_eq!(*replicas, Some(i64::try_from(i % 7).unwrap()), "{name}");
    }
    // The stream goes on with changes after the initial list.
    api.create(&PostParams::default(), &web("after", 1))
        .await
        .unwrap();
    let event = tokio::time::timeout(wait, events.next()).await.unwrap();
    match event.unwrap().unwrap() {
        watcher::Event::Apply(svc) => assert_eq!(svc.metadata.name.as_deref(), Some("after")),
        other => panic!("expected the new service, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_without_resource_version_starts_with_every_object() {
    let (_server, api) = seeded().await;
    // kube-rs's raw watch with no resourceVersion: the current state as ADDED events first.
    let params = WatchParams::default().timeout(5);
    let stream = api.watch(&params, "").await.unwrap();
    let added: Vec<String> = stream
        .take(SERVICES)
        .map(|e| match e.unwrap() {
            WatchEvent::Added(svc) => svc.metadata.name.unwrap(),
            other => panic!("expected ADDED, got {other:?}"),
        })
        .collect()
        .await;
    let expected: Vec<String> = (0..SERVICES).map(|i| format!("web-{i:03}")).collect();
    assert_eq!(added, expected);
}
