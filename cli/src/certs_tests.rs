use super::*;

use std::os::unix::fs::PermissionsExt;

use flotilla_api_server::app::{self, Options};
use serde_json::{json, Value};

fn options(data_dir: &Path, server: &str) -> CertsOptions {
    CertsOptions {
        data_dir: data_dir.to_path_buf(),
        server: server.to_string(),
        tls_sans: vec!["api-server".into()],
        nodes: vec!["node-1".into(), "node-2".into()],
        etcd_members: vec!["etcd-1=127.0.0.1".into()],
        admin_kubeconfig: Some(data_dir.join("out/kubeconfig")),
        admin_server: server.to_string(),
        owner: None,
        run_as: None,
    }
}

/// The files of a directory, sorted, with their modes.
fn listing(dir: &Path) -> Vec<(String, u32)> {
    let mut files: Vec<(String, u32)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let mode = e.metadata().unwrap().permissions().mode() & 0o777;
            (e.file_name().to_string_lossy().into_owned(), mode)
        })
        .collect();
    files.sort();
    files
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
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

#[test]
fn each_component_directory_holds_only_its_own_credentials() {
    let dir = tempfile::tempdir().unwrap();
    certs(options(dir.path(), "https://api-server:6443")).unwrap();
    let d = dir.path();
    let files = |name: &str| listing(&component_dir(d, name));
    let kubeconfig_only = vec![("kubeconfig".to_string(), 0o600)];
    for name in ["node-1", "node-2", "scheduler", "controller-manager"] {
        assert_eq!(files(name), kubeconfig_only, "{name}");
        assert_eq!(mode(&component_dir(d, name)), 0o700, "{name}");
    }
    let api = files("api-server");
    let names: Vec<&str> = api.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "client-ca.crt",
            "cluster-signing.crt",
            "cluster-signing.key",
            "encryption.yaml",
            "etcd-ca.crt",
            "etcd-client.crt",
            "etcd-client.key",
            "tls.crt",
            "tls.key"
        ]
    );
    for (name, mode) in &api {
        let want = if name.ends_with(".crt") { 0o644 } else { 0o600 };
        assert_eq!(*mode, want, "api-server/{name}");
    }
    let etcd: Vec<String> = files("etcd-1").into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        etcd,
        ["ca.crt", "peer.crt", "peer.key", "server.crt", "server.key"]
    );
    // The agents' shared directory: the token and the CA certificate, no key.
    assert_eq!(
        files("join"),
        [("ca.crt".to_string(), 0o644), ("token".to_string(), 0o600)]
    );
    assert_eq!(mode(&component_dir(d, "join")), 0o700);
    // etcd's CA key is in `ca/` only, and etcd's CA is not the cluster's (which signs nodes).
    assert!(ca_dir(d).join("pki/ca.key").is_file() && ca_dir(d).join("etcd/ca.key").is_file());
    assert_eq!(mode(&ca_dir(d)), 0o700);
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    assert_ne!(
        read(component_dir(d, "api-server").join("etcd-ca.crt")),
        read(component_dir(d, "api-server").join("client-ca.crt"))
    );
    assert_eq!(
        read(component_dir(d, "api-server").join("etcd-ca.crt")),
        read(component_dir(d, "etcd-1").join("ca.crt"))
    );
}

#[tokio::test]
async fn an_api_server_with_its_directory_knows_every_identity_written() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    certs(options(dir.path(), &server)).unwrap();
    // A second run (a restarted topology) keeps the CA: earlier kubeconfigs stay valid.
    let ca_before = std::fs::read(ca_dir(dir.path()).join("pki/ca.crt")).unwrap();
    certs(options(dir.path(), &server)).unwrap();
    let ca_after = std::fs::read(ca_dir(dir.path()).join("pki/ca.crt")).unwrap();
    assert_eq!(ca_before, ca_after, "the CA is reused");

    // The api-server needs nothing outside its own directory and the join directory.
    use api_server_files::*;
    let own = component_dir(dir.path(), "api-server");
    let join = component_dir(dir.path(), join_files::DIR);
    let data = tempfile::tempdir().unwrap();
    let mut opts = Options::embedded(data.path().to_path_buf());
    opts.tls_files = Some((
        own.join(TLS_CERT),
        own.join(TLS_KEY),
        Some(own.join(CLIENT_CA)),
    ));
    opts.encryption_provider_config = Some(own.join(ENCRYPTION));
    opts.join.signing_files = Some((own.join(SIGNING_CERT), own.join(SIGNING_KEY)));
    opts.join.token_file = Some(join.join(join_files::TOKEN));
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
    // A node with nothing but the join directory joins as itself.
    let agent = tempfile::tempdir().unwrap();
    let bootstrap = flotilla_node_agent::bootstrap::BootstrapConfig {
        server: server.clone(),
        token: Some(std::fs::read_to_string(join.join(join_files::TOKEN)).unwrap()),
        node_name: "node-3".into(),
        cert_dir: agent.path().join("node-3"),
    };
    let (client, _renewal) = flotilla_node_agent::bootstrap::connect(bootstrap)
        .await
        .unwrap();
    let review: Value = client
        .request(
            kube::core::Request::new("/apis/authentication.k8s.io/v1/selfsubjectreviews")
                .create(
                    &Default::default(),
                    serde_json::to_vec(&json!({
                        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"
                    }))
                    .unwrap(),
                )
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        review["status"]["userInfo"]["username"],
        "system:node:node-3"
    );
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

#[test]
fn the_join_token_pins_the_cluster_ca_and_survives_a_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certs(options(d, "https://api-server:6443")).unwrap();
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    let text = read(component_dir(d, join_files::DIR).join(join_files::TOKEN));
    let token = JoinToken::parse(&text).unwrap();
    let ca_pem = read(ca_dir(d).join("pki/ca.crt"));
    let der = parse_certs(&ca_pem, "ca").unwrap().remove(0);
    assert_eq!(token.ca_digest, ca_digest(&der));
    assert_eq!(token.secret.len(), 32);
    assert!(text.starts_with("FLTKN-1-"), "{text}");
    assert_eq!(
        read(component_dir(d, join_files::DIR).join(join_files::CA)),
        ca_pem
    );
    certs(options(d, "https://api-server:6443")).unwrap();
    let again = read(component_dir(d, join_files::DIR).join(join_files::TOKEN));
    assert_eq!(again, text, "a re-run keeps the token the agents hold");
}

#[test]
fn members_are_name_equals_host() {
    let m = parse_member("etcd-1=10.0.0.11").unwrap();
    assert_eq!((m.name.as_str(), m.host.as_str()), ("etcd-1", "10.0.0.11"));
    for bad in ["etcd-1", "=10.0.0.1", "etcd-1=", "../x=10.0.0.1"] {
        let err = parse_member(bad).unwrap_err().to_string();
        assert!(err.contains("NAME=HOST"), "{bad}: {err}");
    }
}

#[test]
fn owner_is_two_numbers() {
    assert_eq!(parse_owner("1000:100").unwrap(), (1000, 100));
    assert!(parse_owner("root").is_err());
    assert!(parse_owner("a:1").is_err());
}
