//! `resourceVersion=0` lists ("any version", what informers start from) are served from the
//! api-server's watch cache: the namespace's objects that match the selectors, whole (no
//! pagination, as kube-apiserver's cache answers), at the cache's revision. So are
//! `resourceVersion=0` GETs of one object.

use flotilla_api::SwarmService;
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::tiered_service as service;
use flotilla_tests::probe::wait_for;
use kube::api::{Api, ListParams, ObjectList, PostParams};

#[tokio::test(flavor = "multi_thread")]
async fn resource_version_zero_lists_come_from_the_cache_by_namespace_and_selector() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let a: Api<SwarmService> = Api::namespaced(client.clone(), "default");
    let b: Api<SwarmService> = Api::namespaced(client.clone(), "default2");
    let pp = PostParams::default();
    // Objects are created only in namespaces that exist (NamespaceLifecycle).
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let default2 = serde_json::from_value(serde_json::json!({"metadata": {"name": "default2"}}));
    namespaces.create(&pp, &default2.unwrap()).await.unwrap();
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

/// `GET …?resourceVersion=0` of one object is the cache's copy (kube-apiserver's "any version"
/// GET): the same object as the quorum read, a NotFound Status for a missing name, and an answer
/// even while etcd cannot answer, when the quorum read waits.
#[tokio::test(flavor = "multi_thread")]
async fn resource_version_zero_gets_come_from_the_cache() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let api: Api<SwarmService> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &service("web", "front"))
        .await
        .unwrap();
    let path = "/apis/flotilla.dev/v1alpha1/namespaces/default/swarmservices";
    let get_any = |name: &str| {
        let (client, uri) = (client.clone(), format!("{path}/{name}?resourceVersion=0"));
        async move {
            let req = http::Request::get(uri).body(Vec::new()).unwrap();
            client.request::<SwarmService>(req).await
        }
    };
    let cached = wait_for(
        "the cache to hold web",
        std::time::Duration::from_secs(10),
        || async { get_any("web").await.ok() },
    )
    .await;
    let quorum = api.get("web").await.unwrap();
    assert_eq!(
        serde_json::to_value(&cached).unwrap(),
        serde_json::to_value(&quorum).unwrap()
    );
    assert_eq!(
        cached.metadata.resource_version,
        created.metadata.resource_version
    );
    match get_any("nope").await {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"))
        }
        other => panic!("a missing object is a 404 NotFound: {other:?}"),
    }

    // etcd paused: the quorum read waits for it, the cache still answers.
    let pid = server.etcd.as_ref().unwrap().pid().to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig} {pid}");
    };
    signal("-STOP");
    let short = std::time::Duration::from_secs(2);
    let from_cache = tokio::time::timeout(short, get_any("web")).await;
    let from_etcd = tokio::time::timeout(short, api.get("web")).await;
    signal("-CONT");
    let from_cache = from_cache.expect("the cache answers without etcd");
    assert_eq!(from_cache.unwrap().metadata.name.as_deref(), Some("web"));
    assert!(
        from_etcd.is_err(),
        "a quorum read needs etcd: {from_etcd:?}"
    );
}
