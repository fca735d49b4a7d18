//! kube-rs, unmodified, against the real api-server over real etcd: typed CRUD, status and
//! scale, watcher resume and relist after the watch window moved on, a Controller with the
//! finalizer helper, and Lease-based leader election.

use std::time::Duration;

use flotilla_api::service::SwarmService;
use flotilla_tests::apiserver::TestApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;

fn web(name: &str, replicas: i64) -> SwarmService {
    let yaml = flotilla_tests::fixtures::web(name, replicas);
    serde_yaml_ng::from_str(&yaml).expect("fixture parses as SwarmService")
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_crud_status_and_scale() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let api: Api<SwarmService> = Api::namespaced(server.client().await.unwrap(), "default");
    let created = api
        .create(&PostParams::default(), &web("web", 2))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some());
    let got = api.get("web").await.unwrap();
    assert_eq!(
        got.metadata.resource_version,
        created.metadata.resource_version
    );

    let mut stale = got.clone();
    let patch = json!({"spec": {"mode": {"replicated": {"replicas": 3}}}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );
    stale
        .spec
        .mode
        .as_mut()
        .unwrap()
        .replicated
        .as_mut()
        .unwrap()
        .replicas = Some(9);
    let err = api
        .replace("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );

    let status = json!({"status": {"replicas": 3, "runningReplicas": 1}});
    let after = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        after.metadata.generation,
        Some(2),
        "status writes never bump generation"
    );
    assert_eq!(
        after.status.as_ref().and_then(|s| s.running_replicas),
        Some(1)
    );

    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(3));
    api.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    assert_eq!(
        api.get_scale("web")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.replicas),
        Some(5)
    );

    let applied = api
        .patch(
            "ssa",
            &PatchParams::apply("test-ctrl").force(),
            &Patch::Apply(&web("ssa", 1)),
        )
        .await
        .unwrap();
    assert!(applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .any(|m| m.manager.as_deref() == Some("test-ctrl")));

    api.delete("web", &DeleteParams::background())
        .await
        .unwrap();
    assert!(api.get_opt("web").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn watcher_resumes_and_relists_when_its_version_is_too_old() {
    let server = TestApiServer::with_etcd_and(|o| o.config.watch_cache_size = 20)
        .await
        .unwrap();
    let client = server.client().await.unwrap();
    let api: Api<SwarmService> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &web("first", 1))
        .await
        .unwrap();
    let rv = api
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    // Push the watch window past `rv`: 30 more events than the cache keeps.
    for i in 0..30 {
        let p = json!({"metadata": {"labels": {"n": i.to_string()}}});
        api.patch("first", &PatchParams::default(), &Patch::Merge(&p))
            .await
            .unwrap();
    }
    let params = kube::api::WatchParams::default().timeout(10);
    let mut stream = api.watch(&params, &rv).await.unwrap().boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap();
    match first {
        Ok(kube::api::WatchEvent::Error(e)) => assert_eq!(e.code, 410, "{e:?}"),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    // The runtime watcher lists, watches, and sees new objects.
    let events = watcher(api.clone(), watcher::Config::default()).applied_objects();
    let mut events = events.boxed();
    let seen = tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.unwrap().metadata.name.as_deref(), Some("first"));
    api.create(&PostParams::default(), &web("second", 1))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let o = events.try_next().await.unwrap().unwrap();
            if o.metadata.name.as_deref() == Some("second") {
                return o;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(next.metadata.name.as_deref(), Some("second"));
}

/// One round of Lease-based leader election: take the lease if it is free or expired, by
/// compare-and-swap on its resourceVersion.
async fn try_acquire(leases: &Api<Lease>, me: &str, now: Timestamp) -> bool {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let current = leases.get_opt("scheduler").await.unwrap();
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "scheduler", "resourceVersion": current.as_ref().and_then(|l| l.metadata.resource_version.clone())},
        "spec": {"holderIdentity": me, "leaseDurationSeconds": 2, "renewTime": MicroTime(now)},
    });
    match current {
        None => leases
            .create(
                &PostParams::default(),
                &serde_json::from_value(lease).unwrap(),
            )
            .await
            .is_ok(),
        Some(l) => {
            let spec = l.spec.unwrap_or_default();
            let expired = spec
                .renew_time
                .map(|t| t.0.as_millisecond() + 2000 < now.as_millisecond())
                .unwrap_or(true);
            if spec.holder_identity.as_deref() != Some(me) && !expired {
                return false;
            }
            leases
                .replace(
                    "scheduler",
                    &PostParams::default(),
                    &serde_json::from_value(lease).unwrap(),
                )
                .await
                .is_ok()
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_leader_election_has_one_leader_and_fails_over() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(server.client().await.unwrap(), "default");
    let now = Timestamp::now();
    let (a, b) = tokio::join!(
        try_acquire(&leases, "a", now),
        try_acquire(&leases, "b", now)
    );
    assert!(a ^ b, "exactly one leader: a={a} b={b}");
    let (leader, standby) = if a { ("a", "b") } else { ("b", "a") };
    assert!(
        try_acquire(&leases, leader, Timestamp::now()).await,
        "the leader renews"
    );
    assert!(
        !try_acquire(&leases, standby, Timestamp::now()).await,
        "the standby waits"
    );
    // The leader stops renewing; after the lease duration the standby takes over.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        try_acquire(&leases, standby, Timestamp::now()).await,
        "standby takes over"
    );
    let held = leases.get("scheduler").await.unwrap();
    assert_eq!(held.spec.unwrap().holder_identity.as_deref(), Some(standby));
}

/// The client the scheduler uses: HTTP/2 (negotiated by ALPN), every request in flight on one
/// connection. Concurrent creates, a get and a watch behave exactly as over kube's HTTP/1.1.
#[tokio::test(flavor = "multi_thread")]
async fn the_http2_client_creates_reads_and_watches_concurrently() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = flotilla_component::http2_client_from_kubeconfig(Some(&server.kubeconfig))
        .await
        .unwrap();
    let api: Api<SwarmService> = Api::namespaced(client, "default");
    let mut events = watcher::watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let names: Vec<String> = (0..20).map(|i| format!("h2-{i}")).collect();
    futures::future::try_join_all(names.iter().map(|name| {
        let svc = web(name, 1);
        let api = api.clone();
        async move { api.create(&PostParams::default(), &svc).await }
    }))
    .await
    .unwrap();
    let got = api.get("h2-7").await.unwrap();
    assert_eq!(got.metadata.name.as_deref(), Some("h2-7"));
    let mut seen = std::collections::BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while seen.len() < names.len() {
            let svc = events.next().await.unwrap().unwrap();
            seen.insert(svc.metadata.name.unwrap());
        }
    })
    .await
    .expect("every create seen on the watch");
    assert_eq!(seen, names.into_iter().collect());
}
