//! The api-server compacts etcd's history on its own, as kube-apiserver does with
//! `--etcd-compaction-interval`: a list at a revision older than an interval is answered
//! 410 Gone, while the current state stays readable.

use std::time::Duration;

use flotilla_api::SwarmConfig;
use flotilla_tests::apiserver::TestApiServer;
use kube::api::{Api, ListParams, PostParams, VersionMatch};
use kube::ResourceExt;
use serde_json::json;

fn config(name: &str, data: &str) -> SwarmConfig {
    serde_json::from_value(json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmConfig",
        "metadata": {"name": name},
        "spec": {"data": data},
    }))
    .unwrap()
}

/// A list of exactly `rv` (read from etcd at that revision, not from the watch cache).
async fn list_at(api: &Api<SwarmConfig>, rv: &str) -> Result<usize, kube::Error> {
    let lp = ListParams::default().at(rv).matching(VersionMatch::Exact);
    Ok(api.list(&lp).await?.items.len())
}

#[tokio::test]
async fn history_older_than_the_compaction_interval_is_gone() {
    let server = TestApiServer::with_etcd_and(|o| {
        o.config.compaction_interval = Duration::from_millis(300);
    })
    .await
    .unwrap();
    let api: Api<SwarmConfig> = Api::namespaced(server.client().await.unwrap(), "default");
    let first = api
        .create(&PostParams::default(), &config("a", "eA=="))
        .await
        .unwrap();
    let old_rv = first.resource_version().unwrap();
    assert_eq!(
        list_at(&api, &old_rv).await.unwrap(),
        1,
        "readable at first"
    );
    api.create(&PostParams::default(), &config("b", "eQ=="))
        .await
        .unwrap();

    // Each tick compacts to the revision seen at the tick before: within a few intervals.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let gone = loop {
        match list_at(&api, &old_rv).await {
            Err(kube::Error::Api(e)) if e.code == 410 => break e,
            other if tokio::time::Instant::now() > deadline => {
                panic!("revision {old_rv} still listable after 10 s: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(gone.reason, "Expired", "{gone:?}");
    let now = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(now.items.len(), 2, "the current state is untouched");
}
