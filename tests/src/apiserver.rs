//! A real flotilla-api-server in-process on `127.0.0.1:0`, over the embedded store or a real
//! etcd, with an admin kubeconfig written for kubectl and kube-rs.

use std::path::{Path, PathBuf};

use flotilla_api_server::app::{self, Options, StorageOption};
use tokio::sync::oneshot;

use crate::etcd::Etcd;

/// A running server; stops when dropped.
pub struct TestApiServer {
    pub url: String,
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
    /// Kept alive for etcd-backed servers.
    pub etcd: Option<Etcd>,
    pub pki: flotilla_api_server::security::pki::Pki,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApiServer {
    /// Over the embedded store (fast; same semantics as etcd).
    pub async fn embedded() -> anyhow::Result<TestApiServer> {
        Self::start(StorageOption::Embedded, None, |_| {}).await
    }

    /// Over the embedded store, with options adjusted (e.g. connection limits).
    pub async fn embedded_and(adjust: impl FnOnce(&mut Options)) -> anyhow::Result<TestApiServer> {
        Self::start(StorageOption::Embedded, None, adjust).await
    }

    /// Over a fresh real etcd.
    pub async fn with_etcd() -> anyhow::Result<TestApiServer> {
        Self::with_etcd_and(|_| {}).await
    }

    /// Over a fresh real etcd, with options adjusted (e.g. an encryption config).
    pub async fn with_etcd_and(adjust: impl FnOnce(&mut Options)) -> anyhow::Result<TestApiServer> {
        let etcd = Etcd::start().await?;
        let storage = StorageOption::Etcd(vec![etcd.endpoint().to_string()]);
        Self::start(storage, Some(etcd), adjust).await
    }

    async fn start(
        storage: StorageOption,
        etcd: Option<Etcd>,
        adjust: impl FnOnce(&mut Options),
    ) -> anyhow::Result<TestApiServer> {
        let dir = tempfile::tempdir()?;
        let mut opts = Options::embedded(dir.path().join("pki"));
        opts.storage = storage;
        opts.config.bookmark_interval = std::time::Duration::from_secs(2);
        adjust(&mut opts);
        let built = app::build(&opts).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("https://{}", listener.local_addr()?);
        let kubeconfig = dir.path().join("kubeconfig");
        app::write_admin_kubeconfig(&built.pki, &kubeconfig, &url)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(flotilla_api_server::app::serve(
            listener,
            built.server,
            built.tls,
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(TestApiServer {
            url,
            kubeconfig,
            dir,
            etcd,
            pki: built.pki,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// A kube-rs client authenticated as admin.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        client_from(&self.kubeconfig).await
    }

    /// A kubeconfig for another identity (CN = user, O = groups).
    pub fn kubeconfig_for(&self, user: &str, groups: &[&str]) -> anyhow::Result<PathBuf> {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let (cert, key) = self.pki.issue_client(user, &groups)?;
        let path = self
            .dir
            .path()
            .join(format!("kubeconfig-{}", user.replace(':', "-")));
        let ca = self.pki.client_ca_pem().expect("bootstrapped CA");
        flotilla_api_server::security::kubeconfig::write_kubeconfig(
            &path, &self.url, ca, &cert, &key, user,
        )?;
        Ok(path)
    }

    /// Stops serving and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub async fn client_from(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}
