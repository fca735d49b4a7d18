//! Join tokens and the node-certificate exchange, shared by the api-server (which issues and
//! checks them), the node agent (which joins with one) and the CLI (which prints one).
//!
//! A token is `FLTKN-1-<digest>-<secret>`: `<digest>` is the lowercase hex SHA-256 of the
//! cluster CA certificate's DER encoding, so a joining node can tell the real CA from one a
//! man in the middle serves it; `<secret>` (16–64 of `[a-z0-9]`) is what the api-server checks
//! before it signs the node's certificate. Docker Swarm's `SWMTKN-1-…` has the same two parts,
//! with the digest written in base 36.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first part of every token.
pub const TOKEN_PREFIX: &str = "FLTKN";
/// The token format's version.
pub const TOKEN_VERSION: &str = "1";
/// Length of a generated secret (the chart generates the same length).
pub const SECRET_LEN: usize = 32;
const SECRET_MIN: usize = 16;
const SECRET_MAX: usize = 64;

/// Unauthenticated: the cluster CA certificate (PEM), like kubeadm's `kube-public/cluster-info`.
pub const CA_PATH: &str = "/join/v1/ca.crt";
/// `POST` a [`NodeCertificateRequest`]: with `Authorization: Bearer <join token>` to join, with
/// the node's own client certificate to renew.
pub const NODE_CERTIFICATES_PATH: &str = "/join/v1/nodecertificates";
/// `GET` the worker token; `POST …/rotate` replaces its secret. Administrators only.
pub const WORKER_TOKEN_PATH: &str = "/join/v1/tokens/worker";
/// Suffix of [`WORKER_TOKEN_PATH`] that rotates.
pub const ROTATE_SUFFIX: &str = "/rotate";

/// Why a string is not a join token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "join token must look like FLTKN-1-<64 hex digits>-<secret>, got {0} dash-separated parts"
    )]
    Parts(usize),
    #[error("join token must start with FLTKN-1- (got {0:?})")]
    Prefix(String),
    #[error("join token CA digest must be 64 lowercase hex digits (SHA-256)")]
    Digest,
    #[error("join token secret must be 16 to 64 characters of [a-z0-9]")]
    Secret,
}

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// Lowercase hex SHA-256 of the CA certificate's DER.
    pub ca_digest: String,
    pub secret: String,
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_digest", &self.ca_digest)
            .finish_non_exhaustive()
    }
}

impl JoinToken {
    pub fn new(ca_digest: &str, secret: &str) -> JoinToken {
        JoinToken {
            ca_digest: ca_digest.to_string(),
            secret: secret.to_string(),
        }
    }

    /// Parses `FLTKN-1-<digest>-<secret>` (surrounding whitespace ignored, as in a file).
    pub fn parse(text: &str) -> Result<JoinToken, TokenError> {
        let parts: Vec<&str> = text.trim().split('-').collect();
        let [prefix, version, digest, secret] = parts.as_slice() else {
            return Err(TokenError::Parts(parts.len()));
        };
        if *prefix != TOKEN_PREFIX || *version != TOKEN_VERSION {
            return Err(TokenError::Prefix(format!("{prefix}-{version}")));
        }
        if !is_digest(digest) {
            return Err(TokenError::Digest);
        }
        if !is_valid_secret(secret) {
            return Err(TokenError::Secret);
        }
        Ok(JoinToken::new(digest, secret))
    }
}

impl std::fmt::Display for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{TOKEN_PREFIX}-{TOKEN_VERSION}-{}-{}",
            self.ca_digest, self.secret
        )
    }
}

fn is_digest(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `s` is acceptable as a token secret: 16–64 of `[a-z0-9]`.
pub fn is_valid_secret(s: &str) -> bool {
    (SECRET_MIN..=SECRET_MAX).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Lowercase hex SHA-256 of a certificate's DER encoding: the digest a token pins.
pub fn ca_digest(der: &[u8]) -> String {
    hex(&Sha256::digest(der))
}

/// Lowercase hex SHA-256 of a secret (how retired secrets are remembered).
pub fn secret_digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What a node sends to obtain (or renew) its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCertificateRequest {
    /// The SwarmNode name; the certificate is for `system:node:<nodeName>`.
    pub node_name: String,
    /// PKCS#10 request, PEM; its key never leaves the node.
    pub csr: String,
}

/// The signed certificate and the CA it chains to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCertificate {
    pub certificate: String,
    pub ca_certificate: String,
}

/// The worker token as `GET /join/v1/tokens/worker` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerToken {
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trips() {
        let text = format!("FLTKN-1-{DIGEST}-abcdefghij0123456789abcdefghij01");
        let token = JoinToken::parse(&format!(" {text}\n")).unwrap();
        assert_eq!(token.ca_digest, DIGEST);
        assert_eq!(token.secret, "abcdefghij0123456789abcdefghij01");
        assert_eq!(token.to_string(), text);
    }

    #[test]
    fn names_what_is_wrong() {
        let secret = "abcdefghij0123456789";
        assert_eq!(
            JoinToken::parse(&format!("SWMTKN-1-{DIGEST}-{secret}")),
            Err(TokenError::Prefix("SWMTKN-1".into()))
        );
        assert_eq!(
            JoinToken::parse(&format!("FLTKN-1-{}-{secret}", &DIGEST[1..])),
            Err(TokenError::Digest)
        );
        assert_eq!(
            JoinToken::parse(&format!("FLTKN-1-{}-{secret}", DIGEST.to_uppercase())),
            Err(TokenError::Digest)
        );
        assert_eq!(
            JoinToken::parse(&format!("FLTKN-1-{DIGEST}-short")),
            Err(TokenError::Secret)
        );
        assert_eq!(
            JoinToken::parse(&format!("FLTKN-1-{DIGEST}-ABCDEFGHIJ0123456789")),
            Err(TokenError::Secret)
        );
        assert_eq!(JoinToken::parse("FLTKN-1-x"), Err(TokenError::Parts(3)));
    }

    #[test]
    fn debug_hides_the_secret() {
        let token = JoinToken::new(DIGEST, "topsecretvalue0000");
        assert!(!format!("{token:?}").contains("topsecret"));
    }

    #[test]
    fn compares_secrets() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}
