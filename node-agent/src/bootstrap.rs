//! Joining a cluster with a token, Swarm's `docker swarm join --token` on Kubernetes' TLS
//! bootstrapping: with no usable certificate in `--cert-dir`, the agent fetches the cluster CA
//! from the api-server's unauthenticated `/join/v1/ca.crt`, refuses it unless its SHA-256 is the
//! one the token pins (so a server in the middle cannot pass off its own CA), then sends a CSR for
//! a key made here, authenticated by the token's secret, and keeps the `system:node:<name>`
//! certificate it gets back. Later starts reuse the certificate; a renewal loop replaces it two
//! thirds into its lifetime, authenticated by the certificate itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::join::{
    ca_digest, JoinToken, NodeCertificate, NodeCertificateRequest, CA_PATH, NODE_CERTIFICATES_PATH,
};
use kube::Client;

use crate::identity::{self, IdentityError, NodeIdentity, ReloadingCert};

/// How a node agent without a kubeconfig gets its identity.
#[derive(Clone)]
pub struct BootstrapConfig {
    /// `https://host:port` of the api-server.
    pub server: String,
    /// The join token; needed only while `cert_dir` holds no usable certificate.
    pub token: Option<String>,
    pub node_name: String,
    pub cert_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("--server {0:?} is not a URL")]
    Server(String),
    #[error("no usable certificate in {dir} ({why}) and no --join-token to get one")]
    NoToken { dir: String, why: String },
    #[error("--join-token: {0}")]
    Token(#[from] flotilla_api::join::TokenError),
    #[error(
        "refusing the cluster CA served by {server}: its SHA-256 is {served}, but the join token \
         pins {pinned} (a token of another cluster, or someone between this node and the api-server)"
    )]
    CaMismatch {
        server: String,
        served: String,
        pinned: String,
    },
    #[error("{what}: {source}")]
    Request {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("{what}: the api-server said: {message}")]
    Refused { what: &'static str, message: String },
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("building the API client: {0}")]
    Client(#[from] flotilla_component::ClientError),
    #[error("TLS client configuration: {0}")]
    Tls(#[from] rustls::Error),
}

fn request_err(what: &'static str) -> impl FnOnce(kube::Error) -> BootstrapError {
    move |source| match source {
        kube::Error::Api(status) => BootstrapError::Refused {
            what,
            message: status.message,
        },
        source => BootstrapError::Request { what, source },
    }
}

fn base_config(server: &str) -> Result<kube::Config, BootstrapError> {
    let uri = server
        .parse()
        .map_err(|_| BootstrapError::Server(server.to_string()))?;
    Ok(kube::Config::new(uri))
}

/// The node's identity: the one in `cert_dir` when usable, else a new one obtained with the token.
/// A certificate from a CA other than the token's (the cluster was re-created) is not used.
pub async fn identity(cfg: &BootstrapConfig) -> Result<NodeIdentity, BootstrapError> {
    let token = cfg.token.as_deref().map(JoinToken::parse).transpose()?;
    let why = match identity::load(&cfg.cert_dir)? {
        Some(id) => match unusable(&id, cfg, token.as_ref()) {
            None => return Ok(id),
            Some(why) => why,
        },
        None => "none there".to_string(),
    };
    let Some(token) = token else {
        return Err(BootstrapError::NoToken {
            dir: cfg.cert_dir.display().to_string(),
            why,
        });
    };
    tracing::info!(node = %cfg.node_name, %why, "joining with the join token");
    let id = join(cfg, &token).await?;
    identity::save(&cfg.cert_dir, &id)?;
    Ok(id)
}

fn unusable(id: &NodeIdentity, cfg: &BootstrapConfig, token: Option<&JoinToken>) -> Option<String> {
    if let Some(why) = id.unusable_for(&cfg.node_name, identity::now_secs()) {
        return Some(why);
    }
    let pinned = token?.ca_digest.as_str();
    match identity::cert_der(&id.ca_pem, identity::CA_FILE) {
        Ok(der) if ca_digest(&der) == pinned => None,
        Ok(_) => Some("its CA is not the one the join token pins".into()),
        Err(e) => Some(e.to_string()),
    }
}

/// Fetches and checks the CA, then trades a CSR and the token's secret for a certificate.
pub async fn join(
    cfg: &BootstrapConfig,
    token: &JoinToken,
) -> Result<NodeIdentity, BootstrapError> {
    let ca_pem = fetch_ca(&cfg.server).await?;
    let served = ca_digest(&identity::cert_der(&ca_pem, "served CA")?);
    if served != token.ca_digest {
        return Err(BootstrapError::CaMismatch {
            server: cfg.server.clone(),
            served,
            pinned: token.ca_digest.clone(),
        });
    }
    let mut config = base_config(&cfg.server)?;
    config.root_cert = Some(vec![identity::cert_der(&ca_pem, "served CA")?]);
    let client = flotilla_component::http2_client(config)?;
    request_certificate(&client, &cfg.node_name, Some(&token.to_string()), ca_pem).await
}

/// The CA PEM from `/join/v1/ca.crt`, read without trusting the server's certificate: the digest
/// check that follows is what makes it trustworthy.
pub async fn fetch_ca(server: &str) -> Result<String, BootstrapError> {
    tracing::info!(%server, "fetching the cluster CA unverified; the join token's digest checks it next");
    let mut config = base_config(server)?;
    config.accept_invalid_certs = true;
    // No roots at all rather than the system's: none are trusted for this request anyway, and
    // a `FROM scratch` image has none (the system verifier then fails to build).
    config.root_cert = Some(Vec::new());
    let client = flotilla_component::http2_client(config)?;
    let req = http::Request::get(CA_PATH)
        .body(Vec::new())
        .expect("a static request is valid");
    client
        .request_text(req)
        .await
        .map_err(request_err("fetching the cluster CA"))
}

/// Sends a new CSR (with `bearer` when joining; over `client`'s certificate when renewing);
/// `ca_pem` is the CA the node already trusts.
async fn request_certificate(
    client: &Client,
    node: &str,
    bearer: Option<&str>,
    ca_pem: String,
) -> Result<NodeIdentity, BootstrapError> {
    let (csr, key_pem) = identity::new_csr(node)?;
    let body = serde_json::to_vec(&NodeCertificateRequest {
        node_name: node.to_string(),
        csr,
    })
    .expect("a request serializes");
    let mut req = http::Request::post(NODE_CERTIFICATES_PATH)
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some(token) = bearer {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let req = req.body(body).expect("a request is valid");
    let what = if bearer.is_some() {
        "joining with the token"
    } else {
        "renewing the node certificate"
    };
    let answer: NodeCertificate = client.request(req).await.map_err(request_err(what))?;
    // The CA stays the one pinned by the token at join, whatever the answer names.
    Ok(NodeIdentity {
        ca_pem,
        cert_pem: answer.certificate,
        key_pem,
    })
}

/// A client authenticated by the node's certificate, which [`renew`] replaces in place.
pub fn client(
    cfg: &BootstrapConfig,
    id: &NodeIdentity,
) -> Result<(Client, Arc<ReloadingCert>), BootstrapError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(identity::cert_der(&id.ca_pem, identity::CA_FILE)?.into())?;
    let cert = ReloadingCert::new(id.certified_key()?);
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_cert_resolver(cert.clone());
    let client = flotilla_component::http2_client_with_tls(base_config(&cfg.server)?, tls)?;
    Ok((client, cert))
}

/// Renews the certificate two thirds into each lifetime, forever; a failed attempt is retried
/// (every tenth of the time left, at least every 5 s) while the old certificate still works.
pub async fn renew(
    cfg: BootstrapConfig,
    client: Client,
    cert: Arc<ReloadingCert>,
    mut id: NodeIdentity,
) {
    loop {
        let wait = match id.validity() {
            Ok(v) => identity::until_renewal(v, identity::now_secs()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the node certificate's validity; renewing now");
                Duration::ZERO
            }
        };
        tokio::time::sleep(wait).await;
        match renew_once(&cfg, &client, &cert, &id).await {
            Ok(new) => {
                tracing::info!(node = %cfg.node_name, "renewed the node certificate");
                id = new;
            }
            Err(e) => {
                let left = id
                    .validity()
                    .map_or(0, |v| v.not_after - identity::now_secs());
                let retry = Duration::from_secs((left / 10).clamp(5, 600) as u64);
                tracing::warn!(error = %e, retry_in = ?retry, "renewing the node certificate failed");
                tokio::time::sleep(retry).await;
            }
        }
    }
}

async fn renew_once(
    cfg: &BootstrapConfig,
    client: &Client,
    cert: &ReloadingCert,
    id: &NodeIdentity,
) -> Result<NodeIdentity, BootstrapError> {
    let new = request_certificate(client, &cfg.node_name, None, id.ca_pem.clone()).await?;
    let key = new.certified_key()?;
    identity::save(&cfg.cert_dir, &new)?;
    cert.set(key);
    Ok(new)
}

/// The renewal loop of a [`connect`]ed agent; stops when dropped.
#[derive(Debug)]
pub struct Renewal(tokio::task::JoinHandle<()>);

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The node's identity (joining when needed), a client using it, and its renewal loop.
pub async fn connect(cfg: BootstrapConfig) -> Result<(Client, Renewal), BootstrapError> {
    let id = identity(&cfg).await?;
    let (client, cert) = self::client(&cfg, &id)?;
    let renewal = tokio::spawn(renew(cfg, client.clone(), cert, id));
    Ok((client, Renewal(renewal)))
}
