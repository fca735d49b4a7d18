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
}
