//! A real etcd for tests: free loopback ports, a temp data dir, killed on drop; plain, or
//! serving clients over TLS only with client certificate authentication.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Why an etcd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `etcd` binary is missing: install Debian's `etcd-server` (`.ci/run` does).
    #[error("cannot run `{binary}` (install the etcd-server package): {source}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    /// etcd started but did not answer its health endpoint in time; its log is attached.
    #[error("etcd did not become healthy within {0:?}; log:\n{1}")]
    NotHealthy(Duration, String),
    /// Every attempt found its ports taken by another process.
    #[error("etcd: the picked ports were taken by another process on every attempt")]
    PortsTaken,
    /// etcd exited before it became healthy; its log is attached.
    #[error("etcd exited before it became healthy; log:\n{0}")]
    Exited(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// PEM files for an etcd that serves clients over TLS only and requires a client certificate
/// signed by `ca` (`--client-cert-auth`); the client pair is what the harness checks it with.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// A running etcd member, killed and its data removed when dropped.
pub struct Etcd {
    child: Child,
    client_url: String,
    /// `host:port` of the plain-HTTP metrics listener that serves `/health` (as kubeadm's etcd
    /// probes use it), so health is read the same way with or without client TLS.
    health_addr: String,
    name: String,
    tls: Option<ClientTls>,
    dir: tempfile::TempDir,
}

/// A member name no other test's etcd has.
fn member_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("test-{}-{n}", std::process::id())
}

impl Etcd {
    /// Starts etcd on two free loopback ports and waits until `/health` answers. The ports are
    /// free when picked but may be taken before etcd binds them by another test's process: then
    /// etcd exits with "address already in use", or the etcd answering is another test's, which
    /// the member name tells. Either way it is started again on new ports.
    pub async fn start() -> Result<Self, Error> {
        Self::start_with(free_port, None).await
    }

    /// [`Etcd::start`] serving clients on an `https://` URL only, with `tls`'s certificates.
    pub async fn start_tls(tls: ClientTls) -> Result<Self, Error> {
        Self::start_with(free_port, Some(tls)).await
    }

    /// [`Etcd::start`] with the port picker given, so a test can hand it a taken port.
    pub async fn start_with_ports(
        pick: impl FnMut() -> std::io::Result<u16>,
    ) -> Result<Self, Error> {
        Self::start_with(pick, None).await
    }

    async fn start_with(
        mut pick: impl FnMut() -> std::io::Result<u16>,
        tls: Option<ClientTls>,
    ) -> Result<Self, Error> {
        for _ in 0..6 {
            match Self::start_once(&mut pick, tls.clone()).await {
                Ok(etcd) if etcd.is_ours().await => return Ok(etcd),
                Ok(etcd) => {
                    tracing::warn!(url = %etcd.client_url, "etcd port taken by another etcd; retrying")
                }
                Err(Error::Exited(log)) if log.contains("address already in use") => {
                    tracing::warn!("etcd port taken before etcd bound it; retrying")
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::PortsTaken)
    }

    async fn start_once(
        pick: &mut impl FnMut() -> std::io::Result<u16>,
        tls: Option<ClientTls>,
    ) -> Result<Self, Error> {
        let binary = std::env::var("FLOTILLA_ETCD_BIN").unwrap_or_else(|_| "etcd".to_string());
        let dir = tempfile::tempdir()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let client_url = format!("{scheme}://127.0.0.1:{}", pick()?);
        let peer_url = format!("http://127.0.0.1:{}", pick()?);
        let health_addr = format!("127.0.0.1:{}", pick()?);
        let name = member_name();
        let log = std::fs::File::create(dir.path().join("etcd.log"))?;
        let mut command = Command::new(&binary);
        if let Some(t) = &tls {
            command
                .arg(format!("--cert-file={}", t.server_cert.display()))
                .arg(format!("--key-file={}", t.server_key.display()))
                .arg(format!("--trusted-ca-file={}", t.ca.display()))
                .arg("--client-cert-auth");
        }
        let child = command
            .arg(format!("--name={name}"))
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster={name}={peer_url}"))
            .arg(format!("--initial-cluster-token={name}"))
            .arg(format!("--listen-metrics-urls=http://{health_addr}"))
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|source| Error::Spawn { binary, source })?;
        let mut etcd = Etcd {
            child,
            client_url,
            health_addr,
            name,
            tls,
            dir,
        };
        etcd.wait_healthy(Duration::from_secs(20)).await?;
        Ok(etcd)
    }

    /// Whether the etcd answering at our URL is the member we started.
    async fn is_ours(&self) -> bool {
        let options = match &self.tls {
            Some(tls) => match tls_options(tls) {
                Ok(tls) => Some(etcd_client::ConnectOptions::new().with_tls(tls)),
                Err(_) => return false,
            },
            None => None,
        };
        let Ok(mut client) =
            etcd_client::Client::connect([self.client_url.as_str()], options).await
        else {
            return false;
        };
        match client.member_list().await {
            Ok(list) => list.members().iter().any(|m| m.name() == self.name),
            Err(_) => false,
        }
    }

    /// The client URL, e.g. `http://127.0.0.1:40123` (`https://` with client TLS), for
    /// `--etcd-servers`.
    pub fn endpoint(&self) -> &str {
        &self.client_url
    }

    /// The etcd process id (benchmarks read its CPU time from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The etcd log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    async fn wait_healthy(&mut self, patience: Duration) -> Result<(), Error> {
        let addr = self.health_addr.clone();
        let deadline = tokio::time::Instant::now() + patience;
        while tokio::time::Instant::now() < deadline {
            if health_ok(&addr).await {
                return Ok(());
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(Error::Exited(self.log()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::NotHealthy(patience, self.log()))
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_options(tls: &ClientTls) -> std::io::Result<etcd_client::TlsOptions> {
    use etcd_client::{Certificate, Identity, TlsOptions};
    let ca = Certificate::from_pem(std::fs::read(&tls.ca)?);
    let identity = Identity::from_pem(
        std::fs::read(&tls.client_cert)?,
        std::fs::read(&tls.client_key)?,
    );
    Ok(TlsOptions::new().ca_certificate(ca).identity(identity))
}

/// A minimal HTTP GET of `/health`, so the harness needs no HTTP client crate.
async fn health_ok(addr: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut body = String::new();
    let read = tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut body)).await;
    matches!(read, Ok(Ok(_))) && body.contains("\"health\":\"true\"")
}

/// A port that was free a moment ago (the kernel picks it; we release it for etcd).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
