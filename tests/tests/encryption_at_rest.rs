//! Swarm's contrast, checked in etcd itself: SwarmSecret data is encrypted at rest
//! (Kubernetes' `k8s:enc:aesgcm:v1:<key>:` envelope), SwarmConfig data is stored in plain text.

use base64::Engine;
use flotilla_tests::apiserver::TestApiServer;
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use serde_json::json;

fn encryption_config(dir: &std::path::Path) -> std::path::PathBuf {
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let path = dir.join("encryption.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [\"swarmsecrets.flotilla.dev\"]\n  providers:\n  - aesgcm:\n      keys:\n      - name: key1\n        secret: {key}\n  - identity: {{}}\n"
        ),
    )
    .unwrap();
    path
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "flotilla.dev".into(),
        version: "v1alpha1".into(),
        api_version: "flotilla.dev/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

async fn raw(etcd: &str, key: &str) -> Vec<u8> {
    let mut c = etcd_client::Client::connect([etcd], None).await.unwrap();
    let resp = c.get(key, None).await.unwrap();
    resp.kvs()
        .first()
        .map(|kv| kv.value().to_vec())
        .expect("key exists in etcd")
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_ciphertext_in_etcd_and_configs_are_not() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = encryption_config(cfg_dir.path());
    let server = TestApiServer::with_etcd_and(|o| o.encryption_provider_config = Some(cfg))
        .await
        .unwrap();
    let client = server.client().await.unwrap();
    let plain = base64::engine::general_purpose::STANDARD.encode("correct horse battery staple");
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &resource("SwarmSecret", "swarmsecrets"),
    );
    let configs: Api<DynamicObject> =
        Api::namespaced_with(client, "default", &resource("SwarmConfig", "swarmconfigs"));
    let secret: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmSecret",
        "metadata": {"name": "db-pass"}, "spec": {"data": plain}}))
    .unwrap();
    let config: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmConfig",
        "metadata": {"name": "nginx-conf"}, "spec": {"data": plain}}))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    configs
        .create(&PostParams::default(), &config)
        .await
        .unwrap();

    // Through the API both read back as written.
    assert_eq!(
        secrets.get("db-pass").await.unwrap().data["spec"]["data"],
        json!(plain)
    );
    let etcd = server.etcd.as_ref().unwrap().endpoint().to_string();
    let stored_secret = raw(&etcd, "/registry/flotilla.dev/swarmsecrets/default/db-pass").await;
    assert!(
        stored_secret.starts_with(b"k8s:enc:aesgcm:v1:key1:"),
        "{:?}",
        String::from_utf8_lossy(&stored_secret[..30.min(stored_secret.len())])
    );
    let text = String::from_utf8_lossy(&stored_secret);
    assert!(
        !text.contains(&plain) && !text.contains("correct horse"),
        "secret leaked in etcd"
    );
    assert!(!text.contains("db-pass\""), "no plaintext metadata either");
    let stored_config = raw(
        &etcd,
        "/registry/flotilla.dev/swarmconfigs/default/nginx-conf",
    )
    .await;
    assert!(
        String::from_utf8_lossy(&stored_config).contains(&plain),
        "configs are plain text"
    );
}
