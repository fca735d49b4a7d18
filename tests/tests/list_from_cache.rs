//! `resourceVersion=0` lists ("any version", what informers start from) are served from the
//! api-server's watch cache: the namespace's objects that match the selectors, whole (no
//! pagination, as kube-apiserver's cache answers), at the cache's revision.

use flotilla_api::SwarmService;
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::probe::wait_for;
use kube::api::{Api, ListParams, ObjectList, PostParams};

fn service(name: &str, tier: &str) -> SwarmService {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
        "metadata": {"name": name, "labels": {"tier": tier}},
        "spec": {"taskTemplate": {"containerSpec": {"image": "flotilla/web:latest"}}},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_version_zero_lists_come_from_the_cache_by_namespace_and_selector() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let a: Api<SwarmService> = Api::namespaced(client.clone(), "default");
    let b: Api<SwarmService> = Api::namespaced(client.clone(), "default2");
    let pp = PostParams::default();
    for (name, tier) in [("web", "front"), ("api", "front"), ("db", "back")] {
        a.create(&pp, &service(name, tier)).await.unwrap();
    }
    let last = b.create(&pp, &service("web", "front")).await.unwrap();
    let last_rv: i64 = last.metadata.resource_version.unwrap().parse().unwrap();

    // kube-rs leaves resourceVersion=0 out when a limit is set, so the request is written out:
    // served from the cache, the limit does not apply (as kube-apiserver's cache answers).
    let uri = "/apis/flotilla.dev/v1alpha1/namespaces/default/swarmservices\
               ?resourceVersion=0&labelSelector=tier%3Dfront&limit=1";
    let list = wait_for(
        "the cache to catch up",
        std::time::Duration::from_secs(10),
        || {
            let client = client.clone();
            async move {
                let req = http::Request::get(uri).body(Vec::new()).ok()?;
                let list: ObjectList<SwarmService> = client.request(req).await.ok()?;
                let rv: i64 = list.metadata.resource_version.clone()?.parse().ok()?;
                (rv >= last_rv).then_some(list)
            }
        },
    )
    .await;
    let mut names: Vec<String> = list
        .items
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["api", "web"],
        "default's front tier only, past the limit"
    );
    assert_eq!(list.metadata.continue_, None);
    assert!(list
        .items
        .iter()
        .all(|s| s.metadata.namespace.as_deref() == Some("default")));

    let all: Api<SwarmService> = Api::all(client);
    let everything = all.list(&ListParams::default().match_any()).await.unwrap();
    assert_eq!(everything.items.len(), 4);
    // The cache's answer is written from each object's cached JSON: the same objects as a
    // list read from etcd.
    let from_etcd = all.list(&ListParams::default()).await.unwrap();
    let as_json = |list: &ObjectList<SwarmService>| -> Vec<serde_json::Value> {
        let mut items: Vec<_> = list
            .items
            .iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        items.sort_by_key(|v| v["metadata"]["uid"].as_str().unwrap().to_string());
        items
    };
    assert_eq!(as_json(&everything), as_json(&from_etcd));
}
