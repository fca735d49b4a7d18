//! Events expire, as with kube-apiserver's `--event-ttl`: an Event is deleted once its last
//! occurrence is older than the TTL.

use std::time::Duration;

use chrono::Utc;
use flotilla_tests::apiserver::TestApiServer;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

fn event(name: &str, last: chrono::DateTime<Utc>) -> Event {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "SwarmService", "name": "web", "namespace": "default"},
        "reason": "Test", "message": name, "type": "Normal", "count": 1,
        "firstTimestamp": last.to_rfc3339(), "lastTimestamp": last.to_rfc3339(),
    }))
    .unwrap()
}

async fn exists(api: &Api<Event>, name: &str) -> bool {
    api.get_opt(name).await.unwrap().is_some()
}

/// kube-apiserver counts the TTL from an Event's last write; here from the latest of its
/// creation and its last occurrence, which a repeat (count + 1, a new lastTimestamp) moves.
/// Event times have whole seconds, so each bound below allows one second.
#[tokio::test]
async fn events_expire_a_ttl_after_they_last_happened() {
    let ttl = Duration::from_secs(6);
    let server = TestApiServer::with_etcd_and(|o| o.config.event_ttl = ttl)
        .await
        .unwrap();
    let api: Api<Event> = Api::namespaced(server.client().await.unwrap(), "default");
    let pp = PostParams::default();
    let start = tokio::time::Instant::now();
    api.create(&pp, &event("once", Utc::now())).await.unwrap();
    api.create(&pp, &event("repeated", Utc::now()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let repeat = json!({"count": 2, "lastTimestamp": Utc::now().to_rfc3339()});
    api.patch("repeated", &PatchParams::default(), &Patch::Merge(&repeat))
        .await
        .unwrap();
    assert!(exists(&api, "once").await, "within its TTL");

    while exists(&api, "once").await {
        assert!(start.elapsed() < Duration::from_secs(12), "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Event times have whole seconds (metav1.Time), so one may look up to 1 s older than it is.
    let precision = Duration::from_secs(1);
    assert!(
        start.elapsed() >= ttl - precision,
        "expired early: {:?}",
        start.elapsed()
    );
    assert!(
        exists(&api, "repeated").await,
        "its repeat moved its expiry"
    );
    while exists(&api, "repeated").await {
        assert!(
            start.elapsed() < Duration::from_secs(18),
            "repeat never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(start.elapsed() >= ttl + Duration::from_secs(3) - precision);
}
