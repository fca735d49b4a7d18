//! TLS to etcd, configured like kube-apiserver's `--etcd-cafile`, `--etcd-certfile` and
//! `--etcd-keyfile` (endpoints must then be `https://`).

use std::path::{Path, PathBuf};

use etcd_client::{Certificate, Identity, TlsOptions};

/// Why the etcd TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EtcdTlsError {
    #[error("reading {flag} {path}: {source}")]
    Read {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--etcd-certfile and --etcd-keyfile must be given together")]
    HalfIdentity,
    #[error("--etcd-servers {endpoint}: an https:// endpoint needs --etcd-cafile (the CA that signed etcd's certificate)")]
    HttpsWithoutCa { endpoint: String },
    #[error("--etcd-servers {endpoint}: TLS files are given but the endpoint is not https://")]
    TlsOverHttp { endpoint: String },
}

/// The three file flags as given (paths only, so options can be printed without key material).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTlsFiles {
    /// `--etcd-cafile`
    pub ca: Option<PathBuf>,
    /// `--etcd-certfile`
    pub cert: Option<PathBuf>,
    /// `--etcd-keyfile`
    pub key: Option<PathBuf>,
}

impl EtcdTlsFiles {
    fn is_empty(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none()
    }

    /// The TLS configuration for `endpoints`: `None` for plain `http://` ones. Mixing TLS files
    /// with `http://`, or `https://` without a CA, is refused rather than half-secured: a
    /// client certificate sent over plain HTTP protects nothing, and without a CA the
    /// connection would fail later with a less helpful message.
    pub fn load(&self, endpoints: &[String]) -> Result<Option<EtcdTls>, EtcdTlsError> {
        for endpoint in endpoints {
            let https = endpoint.starts_with("https://");
            if https && self.ca.is_none() {
                return Err(EtcdTlsError::HttpsWithoutCa {
                    endpoint: endpoint.clone(),
                });
            }
            if !https && !self.is_empty() {
                return Err(EtcdTlsError::TlsOverHttp {
                    endpoint: endpoint.clone(),
                });
            }
        }
        if self.is_empty() {
            return Ok(None);
        }
        EtcdTls::from_files(
            self.ca.as_deref(),
            self.cert.as_deref(),
            self.key.as_deref(),
        )
        .map(Some)
    }
}

/// PEM material for a TLS connection to etcd.
#[derive(Debug, Clone, Default)]
pub struct EtcdTls {
    /// CA bundle that signed etcd's serving certificate (`--etcd-cafile`); `None` = system roots
    /// are not loaded, so give it whenever the endpoints are `https://`.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key for etcd's `--client-cert-auth` (`--etcd-certfile`, `--etcd-keyfile`).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, EtcdTlsError> {
    std::fs::read(path).map_err(|source| EtcdTlsError::Read {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

impl EtcdTls {
    /// Loads the files named by the three flags; any may be absent, but cert and key go together.
    pub fn from_files(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, EtcdTlsError> {
        let ca_pem = ca.map(|p| read("--etcd-cafile", p)).transpose()?;
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((read("--etcd-certfile", c)?, read("--etcd-keyfile", k)?)),
            (None, None) => None,
            _ => return Err(EtcdTlsError::HalfIdentity),
        };
        Ok(Self { ca_pem, identity })
    }

    pub(super) fn options(&self) -> TlsOptions {
        let mut tls = TlsOptions::new();
        if let Some(ca) = &self.ca_pem {
            tls = tls.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = &self.identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        tls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_flag_and_the_file() {
        let missing = Path::new("/nonexistent/ca.pem");
        let err = EtcdTls::from_files(Some(missing), None, None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("--etcd-cafile") && msg.contains("/nonexistent/ca.pem"),
            "{msg}"
        );
        let err = EtcdTls::from_files(None, Some(missing), None).unwrap_err();
        assert!(matches!(err, EtcdTlsError::HalfIdentity));
    }

    #[test]
    fn endpoints_and_files_must_agree_on_tls() {
        let https = vec!["https://10.0.0.1:2379".to_string()];
        let http = vec!["http://10.0.0.1:2379".to_string()];
        let none = EtcdTlsFiles::default();
        assert!(none.load(&http).unwrap().is_none(), "plain etcd, no files");
        let err = none.load(&https).unwrap_err().to_string();
        assert!(
            err.contains("--etcd-cafile") && err.contains("https://10.0.0.1"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, "pem").unwrap();
        let files = EtcdTlsFiles {
            ca: Some(ca),
            ..Default::default()
        };
        let err = files.load(&http).unwrap_err().to_string();
        assert!(err.contains("not https://"), "{err}");
        let tls = files.load(&https).unwrap().expect("TLS options");
        assert_eq!(tls.ca_pem.as_deref(), Some(&b"pem"[..]));
        assert!(tls.identity.is_none());
    }
}
