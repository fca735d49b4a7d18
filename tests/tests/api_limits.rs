//! Size limits: a secret over Swarm's 500 KiB is invalid (422 naming `spec.data`); a request body
//! over the server's limit is 413; neither stores anything.

use base64::Engine;
use flotilla_tests::apiserver::TestApiServer;
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use serde_json::json;

fn secrets(client: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "flotilla.dev".into(),
        version: "v1alpha1".into(),
        api_version: "flotilla.dev/v1alpha1".into(),
        kind: "SwarmSecret".into(),
        plural: "swarmsecrets".into(),
    };
    Api::namespaced_with(client, "default", &ar)
}

fn secret(name: &str, bytes: usize) -> DynamicObject {
    let data = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; bytes]);
    serde_json::from_value(
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmSecret",
        "metadata": {"name": name}, "spec": {"data": data}}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_secret_is_invalid_and_oversized_body_is_413() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let api = secrets(server.client().await.unwrap());
    let err = api
        .create(&PostParams::default(), &secret("big", 600 * 1024))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422, "{s:?}");
            assert!(s.message.contains("spec.data"), "{}", s.message);
        }
        other => panic!("expected 422, got {other:?}"),
    }
    let err = api
        .create(&PostParams::default(), &secret("huge", 4 * 1024 * 1024))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => assert_eq!(s.code, 413, "{s:?}"),
        other => panic!("expected 413, got {other:?}"),
    }
    assert!(api.get_opt("big").await.unwrap().is_none());
    assert!(api.get_opt("huge").await.unwrap().is_none());
    api.create(&PostParams::default(), &secret("ok", 100 * 1024))
        .await
        .unwrap();
}

/// An object under the body limit but over what etcd accepts (1.5 MiB by default) is a 413
/// naming the limit, not etcd's "request is too large" as a 500; nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn object_over_the_store_limit_is_413() {
    use k8s_openapi::api::coordination::v1::Lease;
    let server = TestApiServer::with_etcd().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(server.client().await.unwrap(), "default");
    let big: Lease = serde_json::from_value(json!({
        "metadata": {"name": "big"},
        "spec": {"holderIdentity": "x".repeat(2 * 1024 * 1024)},
    }))
    .unwrap();
    match leases
        .create(&PostParams::default(), &big)
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 413, "{s:?}");
            assert!(s.message.contains("limit"), "{}", s.message);
        }
        other => panic!("expected 413, got {other:?}"),
    }
    assert!(leases.get_opt("big").await.unwrap().is_none());
}

/// `timeoutSeconds` below zero is a 400 and beyond an hour is capped; neither may take down the
/// HTTP/2 connection it came on (a panic in one stream used to end every stream on it).
#[tokio::test(flavor = "multi_thread")]
async fn timeout_seconds_out_of_range_spares_the_connection() {
    use futures::{StreamExt, TryStreamExt};
    use kube::api::{WatchEvent, WatchParams};
    let server = TestApiServer::embedded().await.unwrap();
    let client = flotilla_component::http2_client_from_kubeconfig(Some(&server.kubeconfig))
        .await
        .unwrap();
    let api = secrets(client.clone());
    // A watch in flight on the same connection.
    let mut watch = api
        .watch(&WatchParams::default().timeout(60), "0")
        .await
        .unwrap()
        .boxed();
    let uri = |t: &str| {
        format!("/apis/flotilla.dev/v1alpha1/namespaces/default/swarmsecrets?watch=1&timeoutSeconds={t}")
    };
    let get = |u: String| http::Request::get(u).body(Vec::new()).unwrap();
    match client.request_text(get(uri("-1"))).await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 400, "{s:?}");
            assert!(s.message.contains("timeoutSeconds"), "{}", s.message);
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    let huge = client
        .request_stream(get(uri("9223372036854775807")))
        .await
        .expect("a watch capped at the longest timeout");
    api.create(&PostParams::default(), &secret("after", 10))
        .await
        .unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), watch.try_next())
        .await
        .expect("the first watch still streams")
        .unwrap();
    match event {
        Some(WatchEvent::Added(o)) => assert_eq!(o.metadata.name.as_deref(), Some("after")),
        other => panic!("expected ADDED after, got {other:?}"),
    }
    drop(huge);
}

/// `--max-mutating-requests-inflight`: past the limit a write waits for a slot, and is refused
/// with 429 TooManyRequests (and `Retry-After`, which kube-rs clients retry after) if none frees
/// in time; reads still answer, and the refused write is not stored.
#[tokio::test(flavor = "multi_thread")]
async fn writes_past_the_inflight_limit_wait_then_get_429_while_reads_answer() {
    let server = TestApiServer::with_etcd_and(|o| {
        o.config.max_mutating_inflight = 1;
        o.config.inflight_wait = std::time::Duration::from_secs(1);
    })
    .await
    .unwrap();
    let client = server.client().await.unwrap();
    let api = secrets(client.clone());
    let pp = PostParams::default();
    api.create(&pp, &secret("before", 10)).await.unwrap();
    // etcd paused: the first write takes the one slot and waits in the store.
    let pid = server.etcd.as_ref().unwrap().pid().to_string();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status();
        assert!(ok.unwrap().success(), "kill {sig} {pid}");
    };
    // kube-rs retries a 429 by itself (after its Retry-After): the writes here do not, so
    // that the answer is seen.
    let kc = kube::config::Kubeconfig::read_from(&server.kubeconfig).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    config.default_retry = false;
    let once = secrets(kube::Client::try_from(config).unwrap());
    signal("-STOP");
    // Two writes at once: one takes the slot and waits in the store, the other for the slot.
    let write = |name: &'static str| {
        let api = once.clone();
        tokio::spawn(async move { api.create(&PostParams::default(), &secret(name, 10)).await })
    };
    let (a, b) = (write("a"), write("b"));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let uri =
        "/apis/flotilla.dev/v1alpha1/namespaces/default/swarmsecrets/before?resourceVersion=0";
    let read = client
        .request::<DynamicObject>(http::Request::get(uri).body(Vec::new()).unwrap())
        .await;
    signal("-CONT");
    assert_eq!(read.unwrap().metadata.name.as_deref(), Some("before"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let (stored, refused) = match (&a, &b) {
        (Ok(_), Err(e)) => ("a", e),
        (Err(e), Ok(_)) => ("b", e),
        other => panic!("one write completes, the other is refused: {other:?}"),
    };
    match refused {
        kube::Error::Api(s) => {
            assert_eq!(
                (s.code, s.reason.as_str()),
                (429, "TooManyRequests"),
                "{s:?}"
            )
        }
        other => panic!("refused with a Status: {other:?}"),
    }
    let other = if stored == "a" { "b" } else { "a" };
    assert!(api.get_opt(stored).await.unwrap().is_some());
    assert!(
        api.get_opt(other).await.unwrap().is_none(),
        "the refused write stored nothing"
    );
    api.create(&pp, &secret(other, 10))
        .await
        .expect("a slot is free again");
}
