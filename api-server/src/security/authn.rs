//! Authentication: who is calling. Two sources, tried in Kubernetes' order: the verified client
//! certificate (CN = user, O = groups), then `Authorization: Bearer <token>` against a static token file
//! (`--token-auth-file`, Kubernetes' CSV format `token,user,uid,"group1,group2"`).

use std::collections::HashMap;
use std::path::Path;

use rustls::pki_types::CertificateDer;

use super::certs;

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
        }
    }

    /// The caller that presented no credentials: `system:anonymous` in `system:unauthenticated`
    /// (and not in `system:authenticated`). It is authorized like any other identity, and only
    /// public paths grant it anything.
    pub fn anonymous() -> Identity {
        Identity {
            user: ANONYMOUS_USER.to_string(),
            groups: vec![UNAUTHENTICATED_GROUP.to_string()],
        }
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
}

/// A static token file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("token file line {line}: {reason}")]
    Parse { line: usize, reason: String },
}

/// Authenticates requests from their TLS peer certificates and Authorization header.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tokens: HashMap<String, Identity>,
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
        })
    }

    /// Client certificates plus tokens given as CSV text (same format as the file).
    pub fn with_token_csv(text: &str) -> Result<Authenticator, TokenFileError> {
        Ok(Authenticator {
            tokens: parse_token_file(text)?,
        })
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

/// Parses Kubernetes' static token CSV: `token,user,uid[,"group1,group2"]`, one per line; blank
/// lines and lines starting with `#` are skipped.
pub fn parse_token_file(text: &str) -> Result<HashMap<String, Identity>, TokenFileError> {
    let mut tokens = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |reason: String| TokenFileError::Parse { line, reason };
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let fields = split_csv(raw).map_err(err)?;
        if fields.len() < 3 {
            return Err(err(format!(
                "expected at least 3 columns (token,user,uid), got {}",
                fields.len()
            )));
        }
        let (token, user) = (fields[0].trim(), fields[1].trim());
        if token.is_empty() {
            return Err(err("column 1 (token) is empty".into()));
        }
        if user.is_empty() {
            return Err(err("column 2 (user) is empty".into()));
        }
        let groups = fields
            .get(3)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_else(Vec::new);
        if tokens
            .insert(token.to_string(), Identity::new(user, groups))
            .is_some()
        {
            return Err(err("duplicate token (column 1)".into()));
        }
    }
    Ok(tokens)
}

/// Splits one CSV record (RFC 4180 quoting: `"a,b"` and `""` for a literal quote).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let field = fields.last_mut().expect("fields is never empty");
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(String::new()),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    Ok(fields)
}

#[cfg(test)]
#[path = "authn_tests.rs"]
mod tests;
