//! Everything that is not a resource: version, discovery, OpenAPI, health, metrics, and
//! the self reviews of `kubectl auth can-i` and `kubectl auth whoami` ([`crate::reviews`]).

use bytes::Bytes;

use crate::discovery::{self, DiscoveryRoot};
use crate::errors::{ApiError, Result};
use crate::http::{self as resp, Response};
use crate::route::Route;
use crate::security::authn::Identity;
use crate::state::ApiServer;

pub async fn handle(
    server: &ApiServer,
    identity: Option<&Identity>,
    parts: &http::request::Parts,
    route: Route,
    accept: Option<&str>,
    body: Bytes,
) -> Result<Response> {
    if let Route::Health(check) = &route {
        return Ok(health(check, parts.uri.query()));
    }
    if let Route::Join(path) = &route {
        return crate::join_http::handle(server, identity, parts, path, body).await;
    }
    let identity = identity.ok_or(ApiError::Unauthorized)?;
    match route {
        Route::SelfSubjectAccessReview => {
            crate::reviews::self_subject_access_review(server, identity, parts, &body)
        }
        Route::SelfSubjectRulesReview => {
            crate::reviews::self_subject_rules_review(server, identity, parts, &body)
        }
        Route::SelfSubjectReview(version) => {
            crate::reviews::self_subject_review(identity, parts, &version)
        }
        Route::Health(_) | Route::Join(_) | Route::Resource(_) | Route::NotFound => {
            Err(ApiError::NoRoute)
        }
        document_route => {
            let host = parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            // A document that does not exist is a 404 whatever the method; one that does is
            // read-only.
            let doc = document(server, document_route, accept, host)?;
            match parts.method {
                http::Method::GET => Ok(doc),
                _ => Err(ApiError::MethodNotAllowed),
            }
        }
    }
}

/// The read-only documents: version, discovery (for the client's `Accept`), OpenAPI, metrics.
fn document(
    server: &ApiServer,
    route: Route,
    accept: Option<&str>,
    host: &str,
) -> Result<Response> {
    let reg = &server.registry;
    Ok(match route {
        Route::Version => resp::json(200, &discovery::version_info()),
        Route::CoreVersions | Route::Groups => {
            let root = if route == Route::CoreVersions {
                DiscoveryRoot::Api
            } else {
                DiscoveryRoot::Apis
            };
            let (ct, body) = discovery::discovery_root(reg, root, accept, host);
            resp::json_with_type(200, &body, ct)
        }
        Route::Group(g) => {
            let body = discovery::api_group(reg, &g).ok_or(ApiError::NoRoute)?;
            resp::json(200, &body)
        }
        Route::GroupVersion(g, v) => {
            let body = discovery::api_resource_list(reg, &g, &v).ok_or(ApiError::NoRoute)?;
            resp::json(200, &body)
        }
        Route::OpenApiV2 => resp::bytes(
            200,
            server.openapi_v2.clone(),
            crate::openapi::v2::CONTENT_TYPE,
        ),
        Route::OpenApiV3Root => resp::json(200, server.openapi_v3.root()),
        Route::OpenApiV3(path) => {
            let doc = server.openapi_v3.document(&path).ok_or(ApiError::NoRoute)?;
            resp::bytes(200, doc.to_vec(), "application/json")
        }
        Route::Metrics => resp::bytes(
            200,
            crate::metrics::render().into_bytes(),
            "text/plain; version=0.0.4",
        ),
        _ => return Err(ApiError::NoRoute),
    })
}

/// `/healthz`, `/livez`, `/readyz` (and `?verbose`), open to anonymous callers like Kubernetes.
fn health(check: &str, query: Option<&str>) -> Response {
    if query.is_some_and(|q| q.contains("verbose")) {
        return resp::text(
            200,
            &format!("[+]ping ok\n[+]etcd ok\n{check} check passed\n"),
        );
    }
    resp::text(200, "ok")
}
