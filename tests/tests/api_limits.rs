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
