use super::*;

use flotilla_api_server::app::{self, Options};
use serde_json::{json, Value};

fn options(data_dir: &Path, server: &str) -> CertsOptions {
    CertsOptions {
        data_dir: data_dir.to_path_buf(),
        server: server.to_string(),
        tls_sans: vec!["api-server".into()],
        nodes: vec!["node-1".into(), "node-2".into()],
        admin_kubeconfig: Some(data_dir.join("out/kubeconfig")),
        admin_server: server.to_string(),
        owner: None,
    }
}

/// `kubectl auth whoami` through a kubeconfig: (user, groups).
async fn whoami(kubeconfig: &Path) -> (String, Value) {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let req = kube::core::Request::new("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .create(&Default::default(), serde_json::to_vec(&body).unwrap())
        .unwrap();
    let review: Value = client.request(req).await.unwrap();
    let info = &review["status"]["userInfo"];
    (
        info["username"].as_str().unwrap().to_string(),
        info["groups"].clone(),
    )
}

#[tokio::test]
async fn an_api_server_over_the_same_directory_knows_every_identity_written() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    certs(options(dir.path(), &server)).unwrap();
    // A second run (a restarted topology) keeps the CA: earlier kubeconfigs stay valid.
    let ca_before = std::fs::read(api_server_dir(dir.path()).join("pki/ca.crt")).unwrap();
    certs(options(dir.path(), &server)).unwrap();
    let ca_after = std::fs::read(api_server_dir(dir.path()).join("pki/ca.crt")).unwrap();
    assert_eq!(ca_before, ca_after, "the CA is reused");
    assert!(dir.path().join("encryption.yaml").is_file());

    let opts = Options::embedded(api_server_dir(dir.path()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app::run(listener, opts, async move {
        let _ = stopped.await;
    }));
    let (user, groups) = whoami(&kubeconfig_path(dir.path(), "node-2")).await;
    assert_eq!(user, "system:node:node-2");
    assert!(groups.to_string().contains("system:nodes"), "{groups}");
    let (user, _) = whoami(&kubeconfig_path(dir.path(), "scheduler")).await;
    assert!(user.contains("scheduler"), "{user}");
    let (_, groups) = whoami(&dir.path().join("out/kubeconfig")).await;
    assert!(groups.to_string().contains("system:masters"), "{groups}");
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

#[test]
fn owner_is_two_numbers() {
    assert_eq!(parse_owner("1000:100").unwrap(), (1000, 100));
    assert!(parse_owner("root").is_err());
    assert!(parse_owner("a:1").is_err());
}
