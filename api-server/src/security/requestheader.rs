//! Request-header authentication: the identity an authenticating proxy (kube-apiserver's
//! aggregator) asserts in `X-Remote-User`, `X-Remote-Group` and `X-Remote-Extra-<key>` headers.
//!
//! The headers are believed only on a connection whose client certificate chains to the
//! request-header CA (`--requestheader-client-ca-file`, a CA of its own, not the client CA) and
//! whose CN is in `--requestheader-allowed-names` (any CN when that list is empty). Anyone else's
//! headers are ignored, and the server strips them before a handler sees the request.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::HeaderMap;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use super::authn::{AuthnError, Identity};
use super::certs::{self, CertError};

/// kube-apiserver's usual header names (the flags' defaults).
pub const DEFAULT_USERNAME_HEADER: &str = "X-Remote-User";
pub const DEFAULT_GROUP_HEADER: &str = "X-Remote-Group";
pub const DEFAULT_EXTRA_HEADERS_PREFIX: &str = "X-Remote-Extra-";

#[derive(Debug, thiserror::Error)]
pub enum RequestHeaderError {
    #[error("--requestheader-client-ca-file: {0}")]
    Ca(#[from] CertError),
    #[error("--requestheader-client-ca-file: {0}")]
    Roots(rustls::Error),
    #[error("--requestheader-client-ca-file: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("--requestheader-username-headers: at least one header name is needed")]
    NoUsernameHeader,
    #[error("{flag}: {name:?} is not a valid header name")]
    HeaderName { flag: &'static str, name: String },
}

/// Which headers carry the user (kube-apiserver's `--requestheader-*` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNames {
    /// The first of these with a non-empty value names the user.
    pub username: Vec<String>,
    /// Every value of every one of these is a group.
    pub group: Vec<String>,
    /// `<prefix><key>: <value>` adds `value` to the extra attribute `key` (lowercased, %-decoded).
    pub extra_prefix: Vec<String>,
    /// The first of these with a value is the user's uid (Kubernetes 1.32+; none by default).
    pub uid: Vec<String>,
}

impl Default for HeaderNames {
    fn default() -> Self {
        HeaderNames {
            username: vec![DEFAULT_USERNAME_HEADER.into()],
            group: vec![DEFAULT_GROUP_HEADER.into()],
            extra_prefix: vec![DEFAULT_EXTRA_HEADERS_PREFIX.into()],
            uid: Vec::new(),
        }
    }
}

impl HeaderNames {
    /// Header names are case-insensitive; they are kept lowercased (as `http` stores them).
    fn normalized(self) -> Result<HeaderNames, RequestHeaderError> {
        let lower = |flag: &'static str, names: Vec<String>, prefix: bool| {
            names
                .into_iter()
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .map(|n| {
                    // A prefix is not a whole name but must be made of name characters.
                    let probe = if prefix { format!("{n}x") } else { n.clone() };
                    http::HeaderName::from_bytes(probe.as_bytes())
                        .map(|_| n.clone())
                        .map_err(|_| RequestHeaderError::HeaderName { flag, name: n })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let names = HeaderNames {
            username: lower("--requestheader-username-headers", self.username, false)?,
            group: lower("--requestheader-group-headers", self.group, false)?,
            extra_prefix: lower(
                "--requestheader-extra-headers-prefix",
                self.extra_prefix,
                true,
            )?,
            uid: lower("--requestheader-uid-headers", self.uid, false)?,
        };
        if names.username.is_empty() {
            return Err(RequestHeaderError::NoUsernameHeader);
        }
        Ok(names)
    }

    /// The identity the headers assert; `None` when no username header has a value.
    pub fn identity(&self, headers: &HeaderMap) -> Option<Identity> {
        let value = |v: &http::HeaderValue| v.to_str().ok().map(str::trim).map(String::from);
        let first = |names: &[String]| {
            names
                .iter()
                .filter_map(|name| headers.get(name.as_str()).and_then(value))
                .find(|v| !v.is_empty())
        };
        let user = first(&self.username)?;
        let groups: Vec<String> = self
            .group
            .iter()
            .flat_map(|name| headers.get_all(name.as_str()).iter().filter_map(value))
            .filter(|g| !g.is_empty())
            .collect();
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, v) in headers {
            let key = self
                .extra_prefix
                .iter()
                .find_map(|p| name.as_str().strip_prefix(p.as_str()));
            if let (Some(key), Some(v)) = (key.filter(|k| !k.is_empty()), value(v)) {
                extra.entry(unescape(key)).or_default().push(v);
            }
        }
        let mut identity = Identity::asserted(user, groups);
        identity.extra = extra;
        identity.uid = first(&self.uid).unwrap_or_default();
        identity.from_host = true;
        Some(identity)
    }

    /// Removes every header these names describe, so handlers never see an asserted identity.
    pub fn strip(&self, headers: &mut HeaderMap) {
        for name in self.username.iter().chain(&self.group).chain(&self.uid) {
            headers.remove(name.as_str());
        }
        let extras: Vec<http::HeaderName> = headers
            .keys()
            .filter(|k| self.extra_prefix.iter().any(|p| k.as_str().starts_with(p)))
            .cloned()
            .collect();
        for name in extras {
            headers.remove(name);
        }
    }
}

/// Extra keys travel %-encoded (a header name cannot hold every character a key may);
/// kube-apiserver decodes them and lowercases the key.
fn unescape(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_lowercase()
}

/// Whether a proxy's CN may assert identities: every CN when the list is empty.
pub fn name_allowed(allowed_names: &[String], cn: &str) -> bool {
    allowed_names.is_empty() || allowed_names.iter().any(|n| n == cn)
}

/// Checks whether a presented chain verifies against one CA bundle. rustls verified the chain
/// against the union of the client CA and the request-header CA during the handshake; this
/// tells which of the two it chains to.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ChainCheck {
    pub fn new(ca_pem: &str, what: &str) -> Result<ChainCheck, RequestHeaderError> {
        let mut roots = RootCertStore::empty();
        for cert in certs::parse_certs(ca_pem, what)? {
            roots.add(cert).map_err(RequestHeaderError::Roots)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
        Ok(ChainCheck { verifier })
    }

    pub fn verifies(&self, chain: &[CertificateDer<'_>]) -> bool {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return false;
        };
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .is_ok()
    }
}

/// The configured request-header authenticator.
#[derive(Debug, Clone)]
pub struct RequestHeaderAuth {
    ca: ChainCheck,
    ca_pem: String,
    allowed_names: Vec<String>,
    names: HeaderNames,
}

impl RequestHeaderAuth {
    pub fn new(
        ca_pem: &str,
        allowed_names: Vec<String>,
        names: HeaderNames,
    ) -> Result<RequestHeaderAuth, RequestHeaderError> {
        Ok(RequestHeaderAuth {
            ca: ChainCheck::new(ca_pem, "request-header CA")?,
            ca_pem: ca_pem.to_string(),
            allowed_names: allowed_names
                .into_iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            names: names.normalized()?,
        })
    }

    /// The CA bundle, for the TLS verifier (which must accept these client certificates too).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CN of a chain that verifies against the request-header CA (`Some("")` without a
    /// CN); `None` when the connection is not from a proxy.
    pub fn proxy_name(&self, chain: &[CertificateDer<'_>]) -> Option<String> {
        if !self.ca.verifies(chain) {
            return None;
        }
        let cn = certs::subject_user_groups(&chain[0]).map(|(cn, _)| cn);
        Some(cn.unwrap_or_default())
    }

    /// The identity a proxy asserts. `Ok(None)`: no username header, so other authenticators
    /// decide. A proxy whose CN is not allowed is refused, as kube-apiserver does.
    pub fn authenticate(
        &self,
        proxy_cn: &str,
        headers: &HeaderMap,
    ) -> Result<Option<Identity>, AuthnError> {
        if !name_allowed(&self.allowed_names, proxy_cn) {
            return Err(AuthnError::ProxyNotAllowed(proxy_cn.to_string()));
        }
        Ok(self.names.identity(headers))
    }

    pub fn strip(&self, headers: &mut HeaderMap) {
        self.names.strip(headers);
    }
}

#[cfg(test)]
#[path = "requestheader_tests.rs"]
mod tests;
