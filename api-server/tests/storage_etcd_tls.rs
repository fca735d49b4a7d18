//! EtcdStore over mutual TLS against a real etcd started with `--client-cert-auth`, and the
//! api-server binary's `--etcd-cafile`, `--etcd-certfile` and `--etcd-keyfile`.

mod binary;

use std::sync::Arc;

use flotilla_api_server::security::certs::{issue_leaf, new_ca, LeafKind};
use flotilla_api_server::storage::{conformance, EtcdStore, EtcdTls, StoreError};
use flotilla_tests::etcd::{ClientTls, Etcd};

/// A TLS-only etcd with client certificate authentication, and the client identity it trusts.
struct TlsEtcd {
    etcd: Etcd,
    client: EtcdTls,
    /// Holds the PEM files etcd reads (`ca.pem`, `client.pem`, `client-key.pem`, …).
    certs: tempfile::TempDir,
}

impl TlsEtcd {
    async fn start() -> TlsEtcd {
        let certs = tempfile::tempdir().unwrap();
        let (issuer, ca) = new_ca().unwrap();
        let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let server = issue_leaf(&issuer, &LeafKind::Server { sans }).unwrap();
        let client = LeafKind::Client {
            user: "flotilla-api-server".into(),
            groups: vec![],
        };
        let client = issue_leaf(&issuer, &client).unwrap();
        let path = |name: &str, pem: &str| {
            let p = certs.path().join(name);
            std::fs::write(&p, pem).unwrap();
            p
        };
        let files = ClientTls {
            ca: path("ca.pem", &ca.cert_pem),
            server_cert: path("server.pem", &server.cert_pem),
            server_key: path("server-key.pem", &server.key_pem),
            client_cert: path("client.pem", &client.cert_pem),
            client_key: path("client-key.pem", &client.key_pem),
        };
        // The identity the harness checks etcd with, loaded as `--etcd-cafile` and friends are.
        let client = EtcdTls::from_files(
            Some(&files.ca),
            Some(&files.client_cert),
            Some(&files.client_key),
        )
        .unwrap();
        let etcd = Etcd::start_tls(files).await.expect("TLS etcd starts");
        TlsEtcd {
            etcd,
            client,
            certs,
        }
    }

    async fn connect(&self, tls: &EtcdTls) -> Result<EtcdStore, StoreError> {
        let endpoint = self.etcd.endpoint().to_string();
        EtcdStore::connect_with(std::slice::from_ref(&endpoint), Some(tls)).await
    }
}

#[tokio::test]
async fn etcd_store_over_mutual_tls_passes_the_conformance_suite() {
    let etcd = TlsEtcd::start().await;
    assert!(etcd.etcd.endpoint().starts_with("https://"));
    let store = etcd.connect(&etcd.client).await.expect("connects over TLS");
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn etcd_refuses_a_client_without_a_certificate() {
    let etcd = TlsEtcd::start().await;
    let anonymous = EtcdTls {
        ca_pem: etcd.client.ca_pem.clone(),
        identity: None,
    };
    match etcd.connect(&anonymous).await {
        Err(StoreError::Unavailable(_)) => {}
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("etcd with --client-cert-auth accepted a client without a certificate"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_reaches_a_client_cert_etcd_only_with_the_etcd_tls_flags() {
    let etcd = TlsEtcd::start().await;
    let file = |name: &str| etcd.certs.path().join(name).display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let base = vec![
        format!("--etcd-servers={}", etcd.etcd.endpoint()),
        format!("--data-dir={}", dir.path().join("data").display()),
    ];
    let with = |flags: &[String]| [base.clone(), flags.to_vec()].concat();

    let no_ca = binary::ApiServerProcess::start(dir.path(), &base).await;
    let log = no_ca
        .err()
        .expect("https:// without --etcd-cafile is refused");
    assert!(log.contains("needs --etcd-cafile"), "{log}");

    let anonymous = with(&[format!("--etcd-cafile={}", file("ca.pem"))]);
    let refused = binary::ApiServerProcess::start(dir.path(), &anonymous).await;
    let log = refused
        .err()
        .expect("etcd accepted an api-server without a client certificate");
    assert!(log.contains("without a client certificate"), "{log}");

    let full = with(&[
        format!("--etcd-cafile={}", file("ca.pem")),
        format!("--etcd-certfile={}", file("client.pem")),
        format!("--etcd-keyfile={}", file("client-key.pem")),
    ]);
    let server = binary::ApiServerProcess::start(dir.path(), &full)
        .await
        .unwrap();
    let kubectl = flotilla_tests::kubectl::Kubectl::new(33, &server.kubeconfig)
        .expect("kubectl 1.33 is installed");
    let config = "apiVersion: flotilla.dev/v1alpha1\nkind: SwarmConfig\nmetadata: {name: tls-check, namespace: default}\nspec: {data: aGk=}\n";
    let run = kubectl.run_stdin(&["apply", "-f", "-"], config).ok();
    assert!(run.stdout.contains("created"), "{}", run.stdout);
    let stored = etcd.connect(&etcd.client).await.unwrap();
    let kv = flotilla_api_server::storage::Store::get(
        &stored,
        "/registry/flotilla.dev/swarmconfigs/default/tls-check",
    )
    .await
    .unwrap();
    assert!(kv.is_some(), "written to the TLS etcd");
}
