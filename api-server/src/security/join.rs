//! Signing joining nodes' certificates: the cluster CA (kube-controller-manager's
//! `--cluster-signing-cert-file`/`--cluster-signing-key-file`, or the CA the api-server
//! bootstrapped in its data dir) turns a node's CSR into a `system:node:<name>` client certificate
//! in `system:nodes`. The subject is decided here, never taken from the request: the key is the
//! node's, the name is what the join was approved for.

use std::path::Path;
use std::sync::Arc;

use flotilla_api::join::JoinToken;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;

use super::authn::{NODES_GROUP, NODE_USER_PREFIX};
use super::certs;
use super::join_tokens::{JoinTokens, TokenStoreError};

/// How far a certificate is backdated for clocks slightly behind ours (Kubernetes' signer
/// backdates five minutes); short test lifetimes backdate a tenth of the lifetime instead.
const BACKDATE: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("{}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cluster signing CA: {0}")]
    Ca(#[from] certs::CertError),
    #[error("csr: not a valid PEM certificate signing request: {0}")]
    Csr(rcgen::Error),
    #[error("signing the node certificate: {0}")]
    Sign(rcgen::Error),
}

/// The cluster CA's key and certificate, and how long node certificates last.
pub struct Signer {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_digest: String,
    duration: std::time::Duration,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("ca_digest", &self.ca_digest)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a CA certificate and key (PEM).
    pub fn new(
        ca_pem: &str,
        key_pem: &str,
        duration: std::time::Duration,
    ) -> Result<Signer, SignerError> {
        let issuer = certs::load_issuer(ca_pem, key_pem)?;
        let der = certs::parse_certs(ca_pem, "cluster signing certificate")?.remove(0);
        Ok(Signer {
            issuer,
            ca_pem: ca_pem.to_string(),
            ca_digest: flotilla_api::join::ca_digest(&der),
            duration,
        })
    }

    /// A signer from `--cluster-signing-cert-file` and `--cluster-signing-key-file`.
    pub fn from_files(
        cert: &Path,
        key: &Path,
        duration: std::time::Duration,
    ) -> Result<Signer, SignerError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| SignerError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        Signer::new(&read(cert)?, &read(key)?, duration)
    }

    /// The CA certificate (PEM) nodes trust and their certificates chain to.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Lowercase hex SHA-256 of the CA's DER: the digest join tokens carry.
    pub fn ca_digest(&self) -> &str {
        &self.ca_digest
    }

    /// Signs the key of `csr_pem` into a certificate for node `node` (PEM).
    pub fn sign_node(&self, node: &str, csr_pem: &str) -> Result<String, SignerError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(SignerError::Csr)?;
        let request = CertificateSigningRequestParams {
            params: node_params(node, self.duration),
            public_key: csr.public_key,
        };
        let cert = request.signed_by(&self.issuer).map_err(SignerError::Sign)?;
        Ok(cert.pem())
    }
}

fn node_params(node: &str, duration: std::time::Duration) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let backdate = BACKDATE.min(duration / 10);
    let mut params = CertificateParams::default();
    params.not_before = now - backdate;
    params.not_after = now + duration;
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f; // a positive DER integer
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{NODE_USER_PREFIX}{node}"));
    dn.push(DnType::OrganizationName, NODES_GROUP);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

/// Whether a node name is taken: its heartbeat Lease was renewed within its duration, or
/// another join claimed it within `claim_ttl` (before that node's first heartbeat).
pub fn name_taken(
    lease_renewed: Option<(OffsetDateTime, std::time::Duration)>,
    claimed_at: Option<OffsetDateTime>,
    claim_ttl: std::time::Duration,
    now: OffsetDateTime,
) -> Option<String> {
    if let Some((renewed, duration)) = lease_renewed {
        if renewed + duration > now {
            return Some(format!(
                "its heartbeat Lease was renewed {}s ago (a node stays live for {}s after its last heartbeat)",
                (now - renewed).whole_seconds().max(0),
                duration.as_secs()
            ));
        }
    }
    match claimed_at {
        Some(at) if at + claim_ttl > now => Some(format!(
            "another node joined under that name {}s ago",
            (now - at).whole_seconds().max(0)
        )),
        _ => None,
    }
}

/// What the join endpoints need: the signing CA and the token store.
pub struct Join {
    pub signer: Signer,
    pub tokens: JoinTokens,
}

impl Join {
    /// The worker token: this CA's digest and the stored secret.
    pub async fn worker_token(&self) -> std::result::Result<JoinToken, TokenStoreError> {
        let secret = self.tokens.current().await?;
        Ok(JoinToken::new(self.signer.ca_digest(), &secret))
    }
}

/// Builds the join service when the server can sign: `Arc` so the binary and tests share it.
pub fn service(signer: Signer, tokens: JoinTokens) -> Arc<Join> {
    Arc::new(Join { signer, tokens })
}

#[cfg(test)]
#[path = "join_tests.rs"]
mod tests;
