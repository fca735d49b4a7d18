//! Authentication: who is calling. The sources, tried in Kubernetes' order: an authenticating
//! proxy's request headers ([`super::requestheader`], only on a connection from the proxy), the
//! verified client certificate (CN = user, O = groups), then `Authorization: Bearer <token>`
//! against a static token file (`--token-auth-file`, Kubernetes' CSV format
//! `token,user,uid,"group1,group2"`) and, when delegation is configured, the host cluster's
//! TokenReview ([`super::delegated`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use super::certs;
use super::delegated::TokenReviewer;
use super::requestheader::{ChainCheck, RequestHeaderAuth, RequestHeaderError};
pub use super::token_file::{parse_token_file, TokenFileError};

/// Every authenticated identity is in this group.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The group of requests that presented no credentials (Kubernetes' anonymous requests).
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// The user of requests that presented no credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// Group that may read `/metrics` and the per-check health paths (Kubernetes' `system:monitoring`).
pub const MONITORING_GROUP: &str = "system:monitoring";
/// Superusers.
pub const MASTERS_GROUP: &str = "system:masters";
/// Group of every node identity.
pub const NODES_GROUP: &str = "system:nodes";
/// Node identities are `system:node:<node name>`.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The bootstrapped admin user (in `system:masters`).
pub const ADMIN_USER: &str = "flotilla:admin";
/// The scheduler's user.
pub const SCHEDULER_USER: &str = "system:flotilla-scheduler";
/// The controller-manager's user.
pub const CONTROLLER_MANAGER_USER: &str = "system:flotilla-controller-manager";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    /// Always contains [`AUTHENTICATED_GROUP`].
    pub groups: Vec<String>,
    /// Kubernetes' `UserInfo.uid`, when the source knows one (a TokenReview, a proxy).
    pub uid: String,
    /// Kubernetes' `UserInfo.extra` (e.g. a proxied user's scopes); passed on in delegated
    /// SubjectAccessReviews.
    pub extra: BTreeMap<String, Vec<String>>,
    /// Vouched for by a host cluster (an authenticating proxy's headers, a delegated
    /// TokenReview) rather than by Flotilla's own credentials: with delegated authorization
    /// the host decides what it may do ([`super::chain`]).
    pub from_host: bool,
}

impl Identity {
    /// An identity with the given groups plus `system:authenticated`.
    pub fn new(
        user: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Identity {
        let mut groups: Vec<String> = groups.into_iter().map(Into::into).collect();
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.to_string());
        }
        Identity {
            user: user.into(),
            groups,
            uid: String::new(),
            extra: BTreeMap::new(),
            from_host: false,
        }
    }

    /// The caller that presented no credentials: `system:anonymous` in `system:unauthenticated`
    /// (and not in `system:authenticated`). It is authorized like any other identity, and only
    /// public paths grant it anything.
    pub fn anonymous() -> Identity {
        Identity::exact(ANONYMOUS_USER, [UNAUTHENTICATED_GROUP])
    }

    /// An identity with exactly these groups (the subject of a SubjectAccessReview).
    pub fn exact(
        user: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Identity {
        Identity {
            user: user.into(),
            groups: groups.into_iter().map(Into::into).collect(),
            uid: String::new(),
            extra: BTreeMap::new(),
            from_host: false,
        }
    }

    /// An identity another authenticator asserted (a host cluster's TokenReview, an
    /// authenticating proxy). Like Kubernetes' authenticated-group adder, `system:authenticated`
    /// is added unless the user is `system:anonymous` or the groups already say
    /// `system:authenticated` or `system:unauthenticated`: the aggregator's own checks come as
    /// `system:kube-aggregator` in `system:masters` only, and a host's anonymous user stays
    /// anonymous.
    pub fn asserted(
        user: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Identity {
        let mut identity = Identity::exact(user, groups);
        let decided = identity.user == ANONYMOUS_USER
            || identity.in_group(AUTHENTICATED_GROUP)
            || identity.in_group(UNAUTHENTICATED_GROUP);
        if !decided {
            identity.groups.push(AUTHENTICATED_GROUP.to_string());
        }
        identity
    }

    /// Whether this is the caller without credentials.
    pub fn is_anonymous(&self) -> bool {
        !self.in_group(AUTHENTICATED_GROUP)
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The node name when this is a node identity (`system:node:<name>` in group `system:nodes`).
    pub fn node_name(&self) -> Option<&str> {
        let name = self.user.strip_prefix(NODE_USER_PREFIX)?;
        (!name.is_empty() && self.in_group(NODES_GROUP)).then_some(name)
    }
}

/// Why a request is not authenticated. Every variant means 401 `Unauthorized`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    #[error("no credentials: neither a client certificate nor a bearer token was presented")]
    Anonymous,
    #[error("invalid bearer token")]
    InvalidToken,
    #[error("invalid client certificate: {0}")]
    InvalidCertificate(String),
    #[error(
        "the authenticating proxy's certificate CN {0:?} is not in --requestheader-allowed-names"
    )]
    ProxyNotAllowed(String),
    #[error("delegated TokenReview failed: {0}")]
    TokenReview(String),
}

/// What a connection's client certificate says, read once per connection (Kubernetes'
/// request-header and x509 authenticators, which both look at the certificate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// A certificate that chains to the client CA: CN = user, O = groups.
    pub client: Option<Result<Identity, AuthnError>>,
    /// The CN of a certificate that chains to the request-header CA: an authenticating proxy.
    pub proxy: Option<String>,
}

/// Authenticates requests from their TLS peer certificates and Authorization header.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tokens: HashMap<String, Identity>,
    request_header: Option<Arc<RequestHeaderAuth>>,
    /// With a request-header CA the handshake accepts two CAs; this tells the client CA's apart.
    client_ca: Option<ChainCheck>,
    token_review: Option<Arc<TokenReviewer>>,
}

impl Authenticator {
    /// Client certificates only.
    pub fn new() -> Authenticator {
        Authenticator::default()
    }

    /// Client certificates plus the tokens of a `--token-auth-file`.
    pub fn with_token_file(path: &Path) -> Result<Authenticator, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Authenticator {
            tokens: parse_token_file(&text)?,
            ..Authenticator::default()
        })
    }

    /// Client certificates plus tokens given as CSV text (same format as the file).
    pub fn with_token_csv(text: &str) -> Result<Authenticator, TokenFileError> {
        Ok(Authenticator {
            tokens: parse_token_file(text)?,
            ..Authenticator::default()
        })
    }

    /// Also trusts an authenticating proxy's headers. `client_ca_pem` is the ordinary client CA
    /// (`None`: no client certificates but the proxy's are identities).
    pub fn with_request_header(
        mut self,
        proxy: RequestHeaderAuth,
        client_ca_pem: Option<&str>,
    ) -> Result<Authenticator, RequestHeaderError> {
        self.client_ca = client_ca_pem
            .map(|pem| ChainCheck::new(pem, "client CA"))
            .transpose()?;
        self.request_header = Some(Arc::new(proxy));
        Ok(self)
    }

    /// Also asks the host cluster (TokenReview) about bearer tokens it does not know itself.
    pub fn with_token_review(mut self, reviewer: TokenReviewer) -> Authenticator {
        self.token_review = Some(Arc::new(reviewer));
        self
    }

    /// The request-header CA bundle: the TLS layer must accept client certificates from it.
    pub fn request_header_ca(&self) -> Option<&str> {
        self.request_header
            .as_deref()
            .map(RequestHeaderAuth::ca_pem)
    }

    /// Reads a connection's verified certificate chain (leaf first): which CA it chains to
    /// and what it says.
    pub fn peer(&self, peer_certs: Option<&[CertificateDer<'_>]>) -> Peer {
        let Some(chain) = peer_certs.filter(|c| !c.is_empty()) else {
            return Peer::default();
        };
        let Some(proxy) = &self.request_header else {
            return Peer {
                client: certificate_identity(Some(chain)),
                proxy: None,
            };
        };
        let from_client_ca = self.client_ca.as_ref().is_some_and(|ca| ca.verifies(chain));
        Peer {
            client: from_client_ca
                .then(|| certificate_identity(Some(chain)))
                .flatten(),
            proxy: proxy.proxy_name(chain),
        }
    }

    /// Authenticates one request, in Kubernetes' order: proxy headers (only from a proxy's
    /// connection), client certificate, bearer token. The proxy headers are removed from
    /// `headers` whoever sent them.
    pub async fn authenticate_request(
        &self,
        peer: &Peer,
        headers: &mut http::HeaderMap,
    ) -> Result<Identity, AuthnError> {
        let mut failure = None;
        if let Some(proxy) = &self.request_header {
            let asserted = match &peer.proxy {
                Some(cn) => proxy.authenticate(cn, headers),
                None => Ok(None),
            };
            proxy.strip(headers);
            match asserted {
                Ok(Some(identity)) => return Ok(identity),
                Ok(None) => {}
                Err(e) => {
                    // A misconfigured --requestheader-allowed-names shows only as 401s otherwise.
                    tracing::warn!(error = %e, "authenticating proxy refused");
                    failure = Some(e);
                }
            }
        }
        if let Some(from_cert) = &peer.client {
            return from_cert.clone();
        }
        let authorization = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match authorization.and_then(bearer_token) {
            Some(token) => self.authenticate_token(token).await,
            None => Err(failure.unwrap_or(AuthnError::Anonymous)),
        }
    }

    /// A bearer token: the static tokens first, then the host cluster's TokenReview.
    pub async fn authenticate_token(&self, token: &str) -> Result<Identity, AuthnError> {
        if let Some(identity) = self.tokens.get(token) {
            return Ok(identity.clone());
        }
        match &self.token_review {
            Some(reviewer) => reviewer.review(token).await,
            None => Err(AuthnError::InvalidToken),
        }
    }

    /// `peer_certs` are the certificates rustls verified against the client CA (leaf first).
    /// A verified certificate wins; otherwise a bearer token is looked up. Other Authorization schemes
    /// are ignored, as kube-apiserver does when no authenticator handles them.
    pub fn authenticate(
        &self,
        peer_certs: Option<&[CertificateDer<'_>]>,
        authorization_header: Option<&str>,
    ) -> Result<Identity, AuthnError> {
        let peer = certificate_identity(peer_certs);
        self.authenticate_peer(peer.as_ref(), authorization_header)
    }

    /// [`Authenticator::authenticate`] with the certificate already read (once per connection,
    /// by [`certificate_identity`]): the server parses a client's certificate once, not per request.
    pub fn authenticate_peer(
        &self,
        peer: Option<&Result<Identity, AuthnError>>,
        authorization_header: Option<&str>,
    ) -> Result<Identity, AuthnError> {
        if let Some(from_cert) = peer {
            return from_cert.clone();
        }
        match authorization_header.and_then(bearer_token) {
            Some(token) => self
                .tokens
                .get(token)
                .cloned()
                .ok_or(AuthnError::InvalidToken),
            None => Err(AuthnError::Anonymous),
        }
    }
}

/// The identity of a connection's verified client certificate (CN = user, O = groups); `None`
/// when the client presented none.
pub fn certificate_identity(
    peer_certs: Option<&[CertificateDer<'_>]>,
) -> Option<Result<Identity, AuthnError>> {
    let leaf = peer_certs.and_then(<[_]>::first)?;
    Some(match certs::subject_user_groups(leaf) {
        Err(e) => Err(AuthnError::InvalidCertificate(e.to_string())),
        Ok((user, _)) if user.is_empty() => Err(AuthnError::InvalidCertificate(
            "empty common name (CN)".into(),
        )),
        Ok((user, groups)) => Ok(Identity::new(user, groups)),
    })
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
#[path = "authn_tests.rs"]
mod tests;
