//! The cluster PKI on disk: a CA bootstrapped on first start (Swarm's certificates subsystem, kubeadm's
//! `certs` phase), the api-server's serving certificate, and client certificates for the control-plane
//! components. Later starts reuse the files; externally provided files replace the bootstrap.
//!
//! Layout under `<data-dir>/pki/` (directory 0700, keys 0600, certificates 0644):
//! `ca.crt ca.key apiserver.crt apiserver.key admin.crt admin.key scheduler.crt scheduler.key
//! controller-manager.crt controller-manager.key`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{Issuer, KeyPair};
use rustls::pki_types::CertificateDer;

use super::authn::{ADMIN_USER, CONTROLLER_MANAGER_USER, MASTERS_GROUP, SCHEDULER_USER};
use super::certs::{self, CertError, IssuedCert, LeafKind};

/// A CA that signs certificates.
pub type CaIssuer = Issuer<'static, KeyPair>;

/// Subdirectory of the data dir holding the PKI files.
pub const PKI_DIR: &str = "pki";

/// A client identity issued at bootstrap, stored as `<file_stem>.crt` / `<file_stem>.key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapClient {
    pub file_stem: &'static str,
    pub user: &'static str,
    pub group: Option<&'static str>,
}

/// The client certificates created on first start.
pub const BOOTSTRAP_CLIENTS: [BootstrapClient; 3] = [
    BootstrapClient {
        file_stem: "admin",
        user: ADMIN_USER,
        group: Some(MASTERS_GROUP),
    },
    BootstrapClient {
        file_stem: "scheduler",
        user: SCHEDULER_USER,
        group: None,
    },
    BootstrapClient {
        file_stem: "controller-manager",
        user: CONTROLLER_MANAGER_USER,
        group: None,
    },
];

/// Names that are always in the serving certificate.
pub const DEFAULT_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: CertError,
    },
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error("{}: exists but {} is missing; remove both to re-create the CA", present.display(), missing.display())]
    HalfCa { present: PathBuf, missing: PathBuf },
    #[error("{0} is set but {1} is not; give both")]
    MissingFlag(&'static str, &'static str),
    #[error(
        "cannot issue client certificates: the CA key is not available (external --client-ca-file)"
    )]
    NoCaKey,
}

/// Where certificates come from: the bootstrap directory or externally given files
/// (`--tls-cert-file`, `--tls-private-key-file`, `--client-ca-file`).
#[derive(Debug, Clone, Default)]
pub struct PkiConfig {
    pub data_dir: PathBuf,
    pub serving_sans: Vec<String>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_private_key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
}

/// Loaded certificates and, when bootstrapped, the CA key for issuing node certificates.
pub struct Pki {
    dir: Option<PathBuf>,
    issuer: Option<Issuer<'static, KeyPair>>,
    client_ca_pem: Option<String>,
    serving_cert_pem: String,
    serving_key_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .field("can_issue", &self.issuer.is_some())
            .field("client_ca", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// Loads external files when `--tls-cert-file` is given, otherwise bootstraps under the data dir.
    /// An explicit `--client-ca-file` replaces the bootstrapped CA for client verification.
    pub fn load(config: &PkiConfig) -> Result<Pki, PkiError> {
        let mut pki = match (&config.tls_cert_file, &config.tls_private_key_file) {
            (Some(cert), Some(key)) => Pki::from_files(cert, key, None)?,
            (Some(_), None) => {
                return Err(PkiError::MissingFlag(
                    "--tls-cert-file",
                    "--tls-private-key-file",
                ))
            }
            (None, Some(_)) => {
                return Err(PkiError::MissingFlag(
                    "--tls-private-key-file",
                    "--tls-cert-file",
                ))
            }
            (None, None) => Pki::load_or_bootstrap(&config.data_dir, &config.serving_sans)?,
        };
        if let Some(ca) = &config.client_ca_file {
            pki.client_ca_pem = Some(read_pem_certs(ca)?);
            pki.issuer = None; // certificates we would issue would not verify against that CA
        }
        Ok(pki)
    }

    /// Uses existing files: a serving certificate (chain) and key, and optionally a client CA bundle.
    /// Without a client CA, client certificates are not requested (bearer tokens only).
    pub fn from_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Pki, PkiError> {
        let serving_cert_pem = read_pem_certs(cert)?;
        let serving_key_pem = read(key)?;
        certs::parse_key(&serving_key_pem, "private key").map_err(|source| PkiError::File {
            path: key.to_path_buf(),
            source,
        })?;
        let client_ca_pem = client_ca.map(read_pem_certs).transpose()?;
        Ok(Pki {
            dir: None,
            issuer: None,
            client_ca_pem,
            serving_cert_pem,
            serving_key_pem,
        })
    }

    /// Creates the CA, serving and component client certificates on first start; reuses them later.
    /// The serving certificate is re-issued (same CA) when it lacks one of the requested names or
    /// expires within 30 days; client certificates are re-issued when they expire within 30 days.
    pub fn load_or_bootstrap(data_dir: &Path, serving_sans: &[String]) -> Result<Pki, PkiError> {
        let dir = data_dir.join(PKI_DIR);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_err(&dir))?;
        let (issuer, ca_pem) = load_or_create_ca(&dir, certs::CA_COMMON_NAME)?;
        let ca_der = certs::parse_certs(&ca_pem, "ca.crt")?.remove(0);
        let sans = serving_names(serving_sans);
        let serving = ensure_leaf(
            &dir,
            "apiserver",
            &issuer,
            &ca_der,
            &LeafKind::Server { sans: sans.clone() },
            &sans,
        )?;
        for client in BOOTSTRAP_CLIENTS {
            let kind = LeafKind::Client {
                user: client.user.to_string(),
                groups: client.group.map(str::to_string).into_iter().collect(),
            };
            ensure_leaf(&dir, client.file_stem, &issuer, &ca_der, &kind, &[])?;
        }
        Ok(Pki {
            dir: Some(dir),
            issuer: Some(issuer),
            client_ca_pem: Some(ca_pem),
            serving_cert_pem: serving.cert_pem,
            serving_key_pem: serving.key_pem,
        })
    }

    /// Issues a client certificate (CN = user, O = group; at most one group), e.g. for a node:
    /// `issue_client("system:node:node-1", &["system:nodes".into()])`. Returns (cert PEM, key PEM).
    pub fn issue_client(&self, cn: &str, groups: &[String]) -> Result<(String, String), PkiError> {
        let issuer = self.issuer.as_ref().ok_or(PkiError::NoCaKey)?;
        let kind = LeafKind::Client {
            user: cn.to_string(),
            groups: groups.to_vec(),
        };
        let issued = certs::issue_leaf(issuer, &kind)?;
        Ok((issued.cert_pem, issued.key_pem))
    }

    /// The bootstrap directory (`<data-dir>/pki`), `None` for external files.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The CA bundle client certificates are verified against (in bootstrap mode also the CA that signed
    /// the serving certificate, i.e. what kubeconfigs trust).
    pub fn client_ca_pem(&self) -> Option<&str> {
        self.client_ca_pem.as_deref()
    }

    /// The serving certificate chain, PEM.
    pub fn serving_cert_pem(&self) -> &str {
        &self.serving_cert_pem
    }

    /// The serving private key, PEM.
    pub fn serving_key_pem(&self) -> &str {
        &self.serving_key_pem
    }

    /// Reads a bootstrapped component's credentials by file stem (`admin`, `scheduler`,
    /// `controller-manager`). Returns (cert PEM, key PEM).
    pub fn component_credentials(&self, file_stem: &str) -> Result<(String, String), PkiError> {
        let dir = self.dir.as_ref().ok_or(PkiError::NoCaKey)?;
        let cert = read(&dir.join(format!("{file_stem}.crt")))?;
        let key = read(&dir.join(format!("{file_stem}.key")))?;
        Ok((cert, key))
    }
}

fn serving_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_SANS.iter().map(|s| s.to_string()).collect();
    for name in extra {
        let name = name.trim();
        if !name.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_string());
        }
    }
    names
}

/// The CA in `dir` (`ca.crt`, `ca.key`; the directory exists), created with `common_name` when
/// neither file exists. Returns the issuer and the CA certificate (PEM).
pub fn load_or_create_ca(dir: &Path, common_name: &str) -> Result<(CaIssuer, String), PkiError> {
    let (cert_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {
            let cert = read(&cert_path)?;
            let key = read(&key_path)?;
            let issuer = certs::load_issuer(&cert, &key).map_err(|source| PkiError::File {
                path: cert_path,
                source,
            })?;
            Ok((issuer, cert))
        }
        (true, false) => Err(PkiError::HalfCa {
            present: cert_path,
            missing: key_path,
        }),
        (false, true) => Err(PkiError::HalfCa {
            present: key_path,
            missing: cert_path,
        }),
        (false, false) => {
            let (issuer, issued) = certs::new_ca_named(common_name)?;
            write_pair(dir, "ca", &issued)?;
            tracing::info!(dir = %dir.display(), "bootstrapped a new cluster CA");
            Ok((issuer, issued.cert_pem))
        }
    }
}

/// Reuses `<stem>.crt/.key` when still current, otherwise issues and writes a new pair.
fn ensure_leaf(
    dir: &Path,
    stem: &str,
    issuer: &Issuer<'static, KeyPair>,
    ca: &CertificateDer<'_>,
    kind: &LeafKind,
    required_sans: &[String],
) -> Result<IssuedCert, PkiError> {
    let (cert_path, key_path) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    if cert_path.exists() && key_path.exists() {
        let cert_pem = read(&cert_path)?;
        let current = certs::parse_certs(&cert_pem, stem)
            .map(|c| certs::leaf_is_current(&c[0], ca, required_sans))
            .unwrap_or(false);
        if current {
            return Ok(IssuedCert {
                cert_pem,
                key_pem: read(&key_path)?,
            });
        }
        tracing::info!(cert = %cert_path.display(), "re-issuing certificate (expiring, other CA or missing names)");
    }
    let issued = certs::issue_leaf(issuer, kind)?;
    write_pair(dir, stem, &issued)?;
    Ok(issued)
}

fn write_pair(dir: &Path, stem: &str, issued: &IssuedCert) -> Result<(), PkiError> {
    write_file(
        &dir.join(format!("{stem}.key")),
        issued.key_pem.as_bytes(),
        0o600,
    )?;
    write_file(
        &dir.join(format!("{stem}.crt")),
        issued.cert_pem.as_bytes(),
        0o644,
    )
}

/// Writes atomically (temp file + rename) with the given mode set at creation, so a key is never
/// readable by others, not even briefly.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    file.write_all(contents).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(io_err(path))
}

fn read_pem_certs(path: &Path) -> Result<String, PkiError> {
    let pem = read(path)?;
    certs::parse_certs(&pem, "certificate file").map_err(|source| PkiError::File {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(pem)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
#[path = "pki_tests.rs"]
mod tests;
