//! Assembling a server from options: store, PKI, TLS, authentication, encryption, caches.
//! Shared by the binary, `flotilla all-in-one` and in-process tests.

mod args;
mod join;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::security::authn::Authenticator;
use crate::security::encryption::Transformers;
use crate::security::encryption_default;
use crate::security::pki::Pki;
use crate::storage::{etcd::EtcdStore, memory::MemoryStore, EtcdTlsFiles, SqliteStore, Store};

pub use crate::front::connections::raise_fd_limit;
pub use crate::front::extension::ExtensionOptions;
pub use crate::front::server::serve;
pub use crate::store::state::{ApiServer, ServerConfig};
pub use args::{Args, ExtensionArgs};

/// Where objects live.
#[derive(Debug, Clone)]
pub enum StorageOption {
    /// Real etcd (`--etcd-servers`), over TLS when [`Options::etcd_tls`] names files.
    Etcd(Vec<String>),
    /// The embedded in-memory store (`--storage=embedded`): nothing survives the process.
    Embedded,
    /// The embedded persistent store (`--storage=sqlite`): one SQLite file in this directory.
    Sqlite(PathBuf),
}

/// Everything a server needs; the binary fills it from flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub storage: StorageOption,
    /// `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`.
    pub etcd_tls: EtcdTlsFiles,
    pub config: ServerConfig,
    /// Holds the bootstrapped CA and certificates, and the generated encryption key when no
    /// encryption config is given.
    pub data_dir: PathBuf,
    /// Extra serving-certificate SANs (DNS names or IPs).
    pub tls_sans: Vec<String>,
    /// `--tls-cert-file`, `--tls-private-key-file`, `--client-ca-file`: use these instead of
    /// the bootstrapped ones.
    pub tls_files: Option<(PathBuf, PathBuf, Option<PathBuf>)>,
    pub token_auth_file: Option<PathBuf>,
    /// Without one, SwarmSecrets are encrypted with a key generated under the data dir.
    pub encryption_provider_config: Option<PathBuf>,
    /// Write an admin kubeconfig here once serving.
    pub write_kubeconfig: Option<PathBuf>,
    /// Request-header authentication and delegation to a host cluster.
    pub extension: ExtensionOptions,
    /// Signing joining nodes' certificates ([`crate::front::join_http`]).
    pub join: JoinOptions,
}

/// `--cluster-signing-cert-file`, `--cluster-signing-key-file`, `--cluster-signing-duration`,
/// `--join-token-file`.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// The CA that signs node certificates; `None`: the bootstrapped CA in the data dir.
    pub signing_files: Option<(PathBuf, PathBuf)>,
    /// Lifetime of a node certificate.
    pub duration: std::time::Duration,
    /// A file holding a full join token made valid at start (unless rotated away since).
    pub token_file: Option<PathBuf>,
}

impl Options {
    /// The embedded store and every other option at its flag's default (single-process mode,
    /// `flotilla all-in-one` and in-process tests).
    pub fn embedded(data_dir: PathBuf) -> Options {
        let args = Args::defaults();
        Options {
            storage: StorageOption::Embedded,
            etcd_tls: EtcdTlsFiles::default(),
            config: args.server_config(),
            join: args.join_options(),
            data_dir,
            tls_sans: vec![],
            tls_files: None,
            token_auth_file: None,
            encryption_provider_config: None,
            write_kubeconfig: None,
            extension: args.extension.options(),
        }
    }
}

/// A built server, ready to serve on a listener.
pub struct Built {
    pub server: Arc<ApiServer>,
    pub tls: Arc<rustls::ServerConfig>,
    pub pki: Pki,
}

pub async fn build(opts: &Options) -> anyhow::Result<Built> {
    let store: Arc<dyn Store> = match &opts.storage {
        StorageOption::Etcd(endpoints) => {
            let tls = opts.etcd_tls.load(endpoints)?;
            let certificate = match tls.as_ref().and_then(|t| t.identity.as_ref()) {
                Some(_) => "with the client certificate of --etcd-certfile",
                None => "without a client certificate",
            };
            let store = EtcdStore::connect_with(endpoints, tls.as_ref())
                .await
                .with_context(|| {
                    format!("connecting to etcd {} {certificate}", endpoints.join(","))
                })?;
            Arc::new(store)
        }
        StorageOption::Embedded => Arc::new(MemoryStore::new()),
        StorageOption::Sqlite(dir) => Arc::new(SqliteStore::open(dir)?),
    };
    let pki = match &opts.tls_files {
        Some((cert, key, ca)) => Pki::from_files(cert, key, ca.as_deref())?,
        None => Pki::load_or_bootstrap(&opts.data_dir, &opts.tls_sans)?,
    };
    let authn = match &opts.token_auth_file {
        Some(path) => Authenticator::with_token_file(path)?,
        None => Authenticator::new(),
    };
    let authn = opts
        .extension
        .authenticator(authn, pki.client_ca_pem())
        .await?;
    let tls = crate::security::tls::server_config_trusting(&pki, authn.request_header_ca())?;
    let authz_chain = opts.extension.authorizer_chain().await?;
    let transformers = encryption(opts)?;
    let server = ApiServer::new(
        opts.config.clone(),
        store.clone(),
        transformers,
        authn,
        authz_chain,
    )
    .await?;
    if let Some(join) = join::join_service(opts, &pki, store).await? {
        let _ = server.join.set(join);
    }
    Ok(Built { server, tls, pki })
}

/// The transformers of `--encryption-provider-config`, warning about what it leaves in plain
/// text; without the flag, the default config generated once under the data dir (Swarm
/// encrypts its store always, so Flotilla does not wait for an operator to opt in).
fn encryption(opts: &Options) -> anyhow::Result<Transformers> {
    match &opts.encryption_provider_config {
        Some(path) => {
            let transformers = Transformers::from_file(path)?;
            for warning in transformers.plaintext_warnings() {
                tracing::warn!(config = %path.display(), "{warning}");
            }
            Ok(transformers)
        }
        None => {
            let (transformers, path) = encryption_default::load_or_generate(&opts.data_dir)?;
            tracing::info!(config = %path.display(), "no --encryption-provider-config: SwarmSecrets are encrypted with the key in this file");
            Ok(transformers)
        }
    }
}

/// Builds and serves on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    opts: Options,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let built = build(&opts).await?;
    let addr = listener.local_addr()?;
    if let Some(path) = &opts.write_kubeconfig {
        write_admin_kubeconfig(&built.pki, path, &format!("https://{addr}"))?;
    }
    tracing::info!(%addr, "serving");
    serve(listener, built.server, built.tls, shutdown).await
}

/// An admin kubeconfig (client certificate in `system:masters`) for `server_url`.
pub fn write_admin_kubeconfig(
    pki: &Pki,
    path: &std::path::Path,
    server_url: &str,
) -> anyhow::Result<()> {
    let (cert, key) = pki.issue_client("flotilla:admin", &["system:masters".to_string()])?;
    let ca = pki
        .client_ca_pem()
        .ok_or_else(|| anyhow::anyhow!("no CA to put in the kubeconfig"))?;
    crate::security::kubeconfig::write_kubeconfig(path, server_url, ca, &cert, &key, "admin")?;
    Ok(())
}
