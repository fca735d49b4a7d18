//! The node's own certificate in `--cert-dir`: `ca.crt` (the cluster CA, checked against the join
//! token once), `node.key` (made here, never sent anywhere) and `node.crt` (`system:node:<name>`),
//! both 0600. Reading, writing, the CSR, when to renew, and a TLS client-certificate source whose
//! certificate is replaced on renewal while connections keep being made.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

pub const CA_FILE: &str = "ca.crt";
pub const CERT_FILE: &str = "node.crt";
pub const KEY_FILE: &str = "node.key";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("generating the node key or CSR: {0}")]
    Generate(#[from] rcgen::Error),
}

fn invalid(what: &str, reason: impl ToString) -> IdentityError {
    IdentityError::Invalid {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// A node's CA, certificate and key, PEM.
#[derive(Clone)]
pub struct NodeIdentity {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity").finish_non_exhaustive()
    }
}

/// A certificate's validity, in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

impl Validity {
    /// When to renew: two thirds into the lifetime (Swarm renews between half and four fifths,
    /// the kubelet between seven and nine tenths).
    pub fn renew_at(&self) -> i64 {
        self.not_before + (self.not_after - self.not_before) * 2 / 3
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn first_cert(pem: &str, what: &str) -> Result<CertificateDer<'static>, IdentityError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| invalid(what, "no PEM certificate"))?
        .map_err(|e| invalid(what, e))
}

/// The DER of the first certificate of a PEM bundle.
pub fn cert_der(pem: &str, what: &str) -> Result<Vec<u8>, IdentityError> {
    Ok(first_cert(pem, what)?.to_vec())
}

impl NodeIdentity {
    /// The certificate's validity period.
    pub fn validity(&self) -> Result<Validity, IdentityError> {
        let der = first_cert(&self.cert_pem, CERT_FILE)?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| invalid(CERT_FILE, e))?;
        let v = cert.validity();
        Ok(Validity {
            not_before: v.not_before.timestamp(),
            not_after: v.not_after.timestamp(),
        })
    }

    /// Why this identity cannot be used for `node` now (`None`: it can): another name, signed
    /// by another CA, or expired.
    pub fn unusable_for(&self, node: &str, now: i64) -> Option<String> {
        let check = || -> Result<Option<String>, IdentityError> {
            let der = first_cert(&self.cert_pem, CERT_FILE)?;
            let ca_der = first_cert(&self.ca_pem, CA_FILE)?;
            let (_, cert) =
                x509_parser::parse_x509_certificate(&der).map_err(|e| invalid(CERT_FILE, e))?;
            let (_, ca) =
                x509_parser::parse_x509_certificate(&ca_der).map_err(|e| invalid(CA_FILE, e))?;
            let cn = cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|c| c.as_str().ok());
            let want = format!("system:node:{node}");
            if cn != Some(want.as_str()) {
                return Ok(Some(format!("it is for {cn:?}, not {want:?}")));
            }
            if cert.verify_signature(Some(ca.public_key())).is_err() {
                return Ok(Some(format!("it is not signed by {CA_FILE}")));
            }
            if cert.validity().not_after.timestamp() <= now {
                return Ok(Some("it has expired".into()));
            }
            Ok(None)
        };
        check().unwrap_or_else(|e| Some(e.to_string()))
    }

    /// The certificate and key as rustls uses them for client authentication.
    pub fn certified_key(&self) -> Result<Arc<CertifiedKey>, IdentityError> {
        let chain = vec![first_cert(&self.cert_pem, CERT_FILE)?];
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| invalid(KEY_FILE, e))?;
        let provider = rustls::crypto::ring::default_provider();
        CertifiedKey::from_der(chain, key, &provider)
            .map(Arc::new)
            .map_err(|e| invalid(CERT_FILE, e))
    }
}

/// A fresh key and a CSR for `system:node:<node>` in `system:nodes`. Returns (CSR PEM, key PEM).
pub fn new_csr(node: &str) -> Result<(String, String), IdentityError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("system:node:{node}"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, "system:nodes");
    let csr = params.serialize_request(&key)?.pem()?;
    Ok((csr, key.serialize_pem()))
}

/// Reads the identity in `dir`; `None` when a file is missing.
pub fn load(dir: &Path) -> Result<Option<NodeIdentity>, IdentityError> {
    let read = |name: &str| -> Result<Option<String>, IdentityError> {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(IdentityError::Io { path, source }),
        }
    };
    let (Some(ca_pem), Some(cert_pem), Some(key_pem)) =
        (read(CA_FILE)?, read(CERT_FILE)?, read(KEY_FILE)?)
    else {
        return Ok(None);
    };
    Ok(Some(NodeIdentity {
        ca_pem,
        cert_pem,
        key_pem,
    }))
}

/// Writes the identity into `dir` (created 0700), each file 0600, key first: a crash between
/// writes leaves a key without its certificate, which the next start treats as no identity.
pub fn save(dir: &Path, identity: &NodeIdentity) -> Result<(), IdentityError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IdentityError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    for (name, text) in [
        (KEY_FILE, &identity.key_pem),
        (CERT_FILE, &identity.cert_pem),
        (CA_FILE, &identity.ca_pem),
    ] {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(text.as_bytes()).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
    }
    Ok(())
}

/// The client certificate new TLS connections present; [`ReloadingCert::set`] swaps it after a
/// renewal (connections already open keep the old, still valid, one).
#[derive(Debug)]
pub struct ReloadingCert(RwLock<Arc<CertifiedKey>>);

impl ReloadingCert {
    pub fn new(key: Arc<CertifiedKey>) -> Arc<ReloadingCert> {
        Arc::new(ReloadingCert(RwLock::new(key)))
    }

    pub fn set(&self, key: Arc<CertifiedKey>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = key;
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl rustls::client::ResolvesClientCert for ReloadingCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// How long to wait before renewing `validity` at `now` (zero when already due).
pub fn until_renewal(validity: Validity, now: i64) -> Duration {
    Duration::from_secs((validity.renew_at() - now).max(0) as u64)
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
