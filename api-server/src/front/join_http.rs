//! The join endpoints under `/join/v1/` (paths in [`flotilla_api::join`]):
//!
//! * `GET ca.crt`, anonymous: the cluster CA, which a joining node checks against its token's
//!   digest before trusting it (kubeadm serves the same from `kube-public/cluster-info`);
//! * `POST nodecertificates`: signs a node's CSR, approved when the bearer join token's secret is
//!   the current one and the node name is free, or when the caller is that node (renewal);
//! * `GET tokens/worker`, `POST tokens/worker/rotate`: the worker token, for administrators only.
//!
//! The server authorizes these paths before routing, from the non-resource table
//! ([`crate::security::paths`]): `ca.crt` and `nodecertificates` are public there, since the
//! caller has no credentials yet (the handler checks the token or the node's certificate), and
//! the token paths are in no grant, so only `system:masters` reach them.
//!
//! A dedicated endpoint rather than `certificates.k8s.io` CertificateSigningRequests: approval and
//! signing happen in the one request that carries the token, with no approver controller, no
//! stored CSR objects and no polling for `status.certificate`.

use std::time::Duration;

use bytes::Bytes;
use flotilla_api::join::{
    JoinToken, NodeCertificate, NodeCertificateRequest, WorkerToken, ROTATE_SUFFIX,
    TOKEN_PREFIX as JOIN_TOKEN_PREFIX,
};
use serde_json::json;
use time::OffsetDateTime;

use crate::security::authn::Identity;
use crate::security::authz::NODE_LEASE_NAMESPACE;
use crate::security::join::{name_taken, Join};
use crate::security::join_tokens::{SecretCheck, TokenStoreError};
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{self as resp, Response};
use crate::wire::route::Route;

/// How long a join keeps its name from others before the node's first heartbeat (the node
/// Lease's duration).
pub const CLAIM_TTL: Duration = Duration::from_secs(40);

/// Why a join request was refused; each maps to a `Status` naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("{0}")]
    Token(String),
    #[error("node name {name:?} is taken: {why}; choose another --node-name, or wait until that node is down")]
    NameTaken { name: String, why: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("this api-server signs no node certificates: give it --cluster-signing-cert-file and --cluster-signing-key-file (or let it bootstrap its own CA)")]
    NoSigner,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<TokenStoreError> for JoinError {
    fn from(e: TokenStoreError) -> Self {
        JoinError::Api(ApiError::Internal(e.to_string()))
    }
}

impl JoinError {
    fn response(&self) -> Response {
        let (code, reason, field) = match self {
            JoinError::Token(_) => (401, "Unauthorized", Some("Authorization")),
            JoinError::NameTaken { .. } => (409, "Conflict", Some("nodeName")),
            JoinError::Forbidden(_) => (403, "Forbidden", None),
            JoinError::Invalid { field, .. } => (400, "BadRequest", Some(*field)),
            JoinError::NoSigner => (404, "NotFound", None),
            JoinError::Api(e) => return resp::error(e),
        };
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.to_string(), "reason": reason, "code": code,
        });
        if let Some(field) = field {
            status["details"] = json!({"causes": [{"field": field, "message": self.to_string()}]});
        }
        resp::json(code, &status)
    }
}

/// Whether a request is a join-token holder asking for its node certificate: the server lets its
/// bearer token through as anonymous, for [`handle`] to check.
pub fn carries_join_token(route: &Route, authorization: Option<&str>) -> bool {
    let Route::Join(path) = route else {
        return false;
    };
    let token = authorization.and_then(|h| h.trim().strip_prefix("Bearer "));
    format!("/join/{path}") == flotilla_api::join::NODE_CERTIFICATES_PATH
        && token.is_some_and(|t| t.trim().starts_with(JOIN_TOKEN_PREFIX))
}

/// Serves `/join/<path>` once the server authorized it; `identity` is anonymous for join-token
/// holders.
pub async fn handle(
    server: &ApiServer,
    identity: &Identity,
    parts: &http::request::Parts,
    path: &str,
    body: Bytes,
) -> Result<Response> {
    let outcome = match server.join.get() {
        None => Err(JoinError::NoSigner),
        Some(join) => route(server, join, identity, parts, path, body).await,
    };
    Ok(outcome.unwrap_or_else(|e| e.response()))
}

async fn route(
    server: &ApiServer,
    join: &Join,
    identity: &Identity,
    parts: &http::request::Parts,
    path: &str,
    body: Bytes,
) -> std::result::Result<Response, JoinError> {
    let full = format!("/join/{path}");
    let method = &parts.method;
    let token_path = flotilla_api::join::WORKER_TOKEN_PATH;
    if full == flotilla_api::join::CA_PATH && method == http::Method::GET {
        let pem = join.signer.ca_pem().as_bytes().to_vec();
        return Ok(resp::bytes(200, pem, "application/x-pem-file"));
    }
    if full == flotilla_api::join::NODE_CERTIFICATES_PATH && method == http::Method::POST {
        let bearer = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        return node_certificate(server, join, identity, bearer, &body).await;
    }
    let rotate = full.strip_suffix(ROTATE_SUFFIX) == Some(token_path);
    match (method, rotate || full == token_path) {
        (&http::Method::GET, true) if !rotate => {}
        (&http::Method::POST, true) if rotate => {}
        (_, true) => return Err(ApiError::MethodNotAllowed.into()),
        (_, false) => return Err(ApiError::NoRoute.into()),
    }
    let token = match rotate {
        true => {
            join.tokens.rotate().await?;
            tracing::info!("worker join token rotated");
            join.worker_token().await?
        }
        false => join.worker_token().await?,
    };
    let body = serde_json::to_value(WorkerToken {
        token: token.to_string(),
    })
    .expect("a token serializes");
    Ok(resp::json(200, &body))
}

async fn node_certificate(
    server: &ApiServer,
    join: &Join,
    identity: &Identity,
    bearer: Option<&str>,
    body: &[u8],
) -> std::result::Result<Response, JoinError> {
    let request: NodeCertificateRequest =
        serde_json::from_slice(body).map_err(|e| JoinError::Invalid {
            field: "body",
            message: format!("expected a NodeCertificateRequest {{nodeName, csr}}: {e}"),
        })?;
    let name = request.node_name.as_str();
    if let Some(err) = flotilla_api::validation::validate_object_reference("nodeName", name)
        .into_iter()
        .next()
    {
        return Err(JoinError::Invalid {
            field: "nodeName",
            message: err.to_string(),
        });
    }
    if identity.is_anonymous() {
        check_token(join, bearer).await?;
        claim_name(server, join, name).await?;
    } else {
        may_renew(identity, name)?;
    }
    let certificate =
        join.signer
            .sign_node(name, &request.csr)
            .map_err(|e| JoinError::Invalid {
                field: "csr",
                message: e.to_string(),
            })?;
    tracing::info!(
        node = name,
        renewal = !identity.is_anonymous(),
        "signed a node certificate"
    );
    let body = serde_json::to_value(NodeCertificate {
        certificate,
        ca_certificate: join.signer.ca_pem().to_string(),
    })
    .expect("a certificate serializes");
    Ok(resp::json(201, &body))
}

/// Renewal: a node over its own certificate, for its own name only.
fn may_renew(who: &Identity, name: &str) -> std::result::Result<(), JoinError> {
    match who.node_name() {
        Some(own) if own == name => Ok(()),
        Some(own) => Err(JoinError::Forbidden(format!(
            "node {own:?} may renew only its own certificate, not {name:?}'s"
        ))),
        None => Err(JoinError::Forbidden(format!(
            "User {:?} is not a node: node certificates are issued to join-token holders and renewed by their nodes",
            who.user
        ))),
    }
}

async fn check_token(join: &Join, bearer: Option<&str>) -> std::result::Result<(), JoinError> {
    let presented = bearer
        .and_then(|h| h.trim().strip_prefix("Bearer "))
        .ok_or_else(|| {
            JoinError::Token(
                "a join token (Authorization: Bearer FLTKN-1-…) or the node's own client certificate is required".into(),
            )
        })?;
    let token = JoinToken::parse(presented).map_err(|e| JoinError::Token(e.to_string()))?;
    if token.ca_digest != join.signer.ca_digest() {
        return Err(JoinError::Token(format!(
            "join token is for another cluster CA (digest {}); this cluster's CA digest is {}",
            token.ca_digest,
            join.signer.ca_digest()
        )));
    }
    match join.tokens.check(&token.secret).await? {
        SecretCheck::Valid => Ok(()),
        SecretCheck::Rotated => Err(JoinError::Token(
            "join token has been rotated: get the current one with `flotilla join-token worker`"
                .into(),
        )),
        SecretCheck::Wrong => Err(JoinError::Token(
            "join token secret is not valid for this cluster".into(),
        )),
    }
}

/// Claims the name unless a live node holds it (fresh heartbeat Lease) or another join
/// claimed it within [`CLAIM_TTL`].
async fn claim_name(
    server: &ApiServer,
    join: &Join,
    name: &str,
) -> std::result::Result<(), JoinError> {
    let lease = node_lease(server, name).await?;
    let now = OffsetDateTime::now_utc();
    join.tokens
        .claim(name, now, |claimed| {
            name_taken(lease, claimed, CLAIM_TTL, now)
        })
        .await?
        .map_err(|why| JoinError::NameTaken {
            name: name.to_string(),
            why,
        })
}

/// The node's heartbeat Lease: when it was last renewed and for how long it holds.
async fn node_lease(
    server: &ApiServer,
    name: &str,
) -> std::result::Result<Option<(OffsetDateTime, Duration)>, JoinError> {
    let info = server
        .registry
        .get("coordination.k8s.io", "v1", "leases")
        .ok_or_else(|| ApiError::Internal("leases are not registered".into()))?;
    let lease = match server.rs.get(info, Some(NODE_LEASE_NAMESPACE), name).await {
        Ok(lease) => lease,
        Err(ApiError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let spec = &lease["spec"];
    let renewed = spec["renewTime"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.timestamp()).ok());
    let duration = spec["leaseDurationSeconds"].as_u64().unwrap_or(0);
    Ok(renewed.map(|at| (at, Duration::from_secs(duration))))
}
