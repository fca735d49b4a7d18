//! rustls configuration for the api-server (and a matching client config for tests and tools).
//!
//! HTTP/1.1 only (kube-rs speaks h1; kubectl works with an h1-only server). Client certificates are
//! optional so bearer-token users can connect too; a presented certificate must chain to the client CA.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::certs::{self, CertError};
use super::pki::Pki;

/// ALPN protocols the server offers: HTTP/2 first, as kube-apiserver (client-go picks it; kube-rs
/// speaks HTTP/1.1).
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error("{what}: {source}")]
    Rustls {
        what: &'static str,
        #[source]
        source: rustls::Error,
    },
    #[error("client CA: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

/// Always ring, never the process-wide default, so another crate enabling aws-lc cannot change
/// (or make ambiguous) what this server uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(pem: &str, what: &str) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certs::parse_certs(pem, what)? {
        store.add(cert).map_err(|source| TlsError::Rustls {
            what: "CA certificate",
            source,
        })?;
    }
    Ok(store)
}

/// The server configuration for the PKI's serving certificate. With a client CA, client certificates
/// are requested and verified but not required; without one, they are not requested.
pub fn server_config(pki: &Pki) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_trusting(pki, None)
}

/// [`server_config`] that also accepts client certificates chaining to `request_header_ca`
/// (an authenticating proxy's CA, `--requestheader-client-ca-file`). The handshake only checks
/// that a chain leads to one of the two; the authenticator tells which.
pub fn server_config_trusting(
    pki: &Pki,
    request_header_ca: Option<&str>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certs::parse_certs(pki.serving_cert_pem(), "serving certificate")?;
    let key = certs::parse_key(pki.serving_key_pem(), "serving key")?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            what: "protocol versions",
            source,
        })?;
    let client_cas = [
        pki.client_ca_pem().map(|ca| (ca, "client CA")),
        request_header_ca.map(|ca| (ca, "request-header CA")),
    ];
    let mut trusted: Option<RootCertStore> = None;
    for (pem, what) in client_cas.into_iter().flatten() {
        let store = trusted.get_or_insert_with(RootCertStore::empty);
        store.roots.extend(roots(pem, what)?.roots);
    }
    let builder = match trusted {
        Some(trusted) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(trusted), provider())
                    .allow_unauthenticated()
                    .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Rustls {
            what: "serving certificate/key",
            source,
        })?;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration trusting `ca_pem`, optionally presenting a client certificate
/// (`(cert PEM, key PEM)`). Offers ALPN `http/1.1`.
pub fn client_config(
    ca_pem: &str,
    client: Option<(&str, &str)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            what: "protocol versions",
            source,
        })?
        .with_root_certificates(roots(ca_pem, "CA")?);
    let mut config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                certs::parse_certs(cert, "client certificate")?,
                certs::parse_key(key, "client key")?,
            )
            .map_err(|source| TlsError::Rustls {
                what: "client certificate/key",
                source,
            })?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
