//! EtcdStore over mutual TLS against a real etcd started with `--client-cert-auth`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use flotilla_api_server::security::certs::{issue_leaf, new_ca, LeafKind};
use flotilla_api_server::storage::{conformance, EtcdStore, EtcdTls, StoreError};
use flotilla_tests::etcd::free_port;

/// A TLS-only etcd with client certificate authentication, killed on drop.
struct TlsEtcd {
    child: Child,
    endpoint: String,
    dir: tempfile::TempDir,
    files: [std::path::PathBuf; 3],
    client: EtcdTls,
}

impl Drop for TlsEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsEtcd {
    fn start() -> TlsEtcd {
        let dir = tempfile::tempdir().unwrap();
        let (issuer, ca) = new_ca().unwrap();
        let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let server = issue_leaf(&issuer, &LeafKind::Server { sans }).unwrap();
        let client = LeafKind::Client {
            user: "flotilla-api-server".into(),
            groups: vec![],
        };
        let client = issue_leaf(&issuer, &client).unwrap();
        let path = |name: &str, pem: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, pem).unwrap();
            p
        };
        let (ca_file, cert, key) = (
            path("ca.pem", &ca.cert_pem),
            path("server.pem", &server.cert_pem),
            path("server-key.pem", &server.key_pem),
        );
        let client = EtcdTls {
            ca_pem: Some(ca.cert_pem.into_bytes()),
            identity: Some((client.cert_pem.into_bytes(), client.key_pem.into_bytes())),
        };
        let files = [ca_file, cert, key];
        let (child, endpoint) = spawn(dir.path(), &files);
        TlsEtcd {
            child,
            endpoint,
            dir,
            files,
            client,
        }
    }

    async fn connect(&self, tls: &EtcdTls) -> Result<EtcdStore, StoreError> {
        EtcdStore::connect_with(std::slice::from_ref(&self.endpoint), Some(tls)).await
    }

    /// Connects with the client identity, retrying while etcd starts. The ports were free when
    /// picked but another test may bind one first: etcd then exits, and starts again on others.
    async fn connect_ready(&mut self) -> EtcdStore {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut restarts = 0;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                restarts += 1;
                assert!(restarts <= 4, "TLS etcd exited ({status}) on every attempt");
                (self.child, self.endpoint) = spawn(self.dir.path(), &self.files);
                continue;
            }
            match self.connect(&self.client).await {
                Ok(store) => return store,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.path().join("etcd.log"));
                    panic!("TLS etcd not reachable: {e}\n{}", log.unwrap_or_default());
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// etcd with `--client-cert-auth` on two freshly picked loopback ports; `files` are the CA,
/// server certificate and key.
fn spawn(dir: &std::path::Path, files: &[std::path::PathBuf; 3]) -> (Child, String) {
    let [ca_file, cert, key] = files;
    let endpoint = format!("https://127.0.0.1:{}", free_port().unwrap());
    let peer = format!("http://127.0.0.1:{}", free_port().unwrap());
    let log = std::fs::File::create(dir.join("etcd.log")).unwrap();
    let data = dir.join("data");
    let _ = std::fs::remove_dir_all(&data);
    let child = Command::new(std::env::var("FLOTILLA_ETCD_BIN").unwrap_or("etcd".into()))
        .arg("--name=tls")
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--listen-client-urls={endpoint}"))
        .arg(format!("--advertise-client-urls={endpoint}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=tls={peer}"))
        .arg(format!("--cert-file={}", cert.display()))
        .arg(format!("--key-file={}", key.display()))
        .arg(format!("--trusted-ca-file={}", ca_file.display()))
        .arg("--client-cert-auth")
        .arg("--log-level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn etcd");
    (child, endpoint)
}

#[tokio::test]
async fn etcd_store_over_mutual_tls_passes_the_conformance_suite() {
    let mut etcd = TlsEtcd::start();
    let store = etcd.connect_ready().await;
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn etcd_refuses_a_client_without_a_certificate() {
    let mut etcd = TlsEtcd::start();
    etcd.connect_ready().await;
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
