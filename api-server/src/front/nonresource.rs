//! Everything that is not a resource: version, discovery, OpenAPI, health, metrics, and
//! the self reviews of `kubectl auth can-i` and `kubectl auth whoami` ([`crate::front::reviews`]).

use bytes::Bytes;

use crate::describe::discovery::{self, DiscoveryRoot};
use crate::security::authn::Identity;
use crate::security::authz::RequestAttributes;
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{self as resp, Response};
use crate::wire::route::Route;

/// Authorizes a request outside the resource tree. The server calls it before it reads the
/// request body: a caller without rights never gets its body read.
pub async fn authorize(
    server: &ApiServer,
    identity: &Identity,
    route: &Route,
    parts: &http::request::Parts,
) -> Result<()> {
    crate::front::authorize::check_other(server, identity, &attributes(route, parts)).await
}

/// Answers a request [`authorize`] allowed.
pub async fn handle(
    server: &ApiServer,
    identity: &Identity,
    parts: &http::request::Parts,
    route: Route,
    accept: Option<&str>,
    body: Bytes,
) -> Result<Response> {
    if let Route::Health(check) = &route {
        return Ok(health(check, parts.uri.query()));
    }
    if let Route::Join(path) = &route {
        return crate::front::join_http::handle(server, identity, parts, path, body).await;
    }
    match route {
        Route::SelfSubjectAccessReview => {
            crate::front::reviews::self_subject_access_review(server, identity, parts, &body).await
        }
        Route::SubjectAccessReview => {
            crate::front::access_reviews::subject_access_review(server, parts, &body).await
        }
        Route::TokenReview => {
            crate::front::access_reviews::token_review(server, parts, &body).await
        }
        Route::SelfSubjectRulesReview => {
            crate::front::reviews::self_subject_rules_review(server, identity, parts, &body)
        }
        Route::SelfSubjectReview(version) => {
            crate::front::reviews::self_subject_review(identity, parts, &version)
        }
        Route::Health(_)
        | Route::Join(_)
        | Route::Resource(_)
        | Route::InvalidSegment(_)
        | Route::NotFound => Err(ApiError::NoRoute),
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

/// What a request outside the resource tree asks to do: a self review is a `create` of its
/// resource (as in Kubernetes); anything else is the method on the path, so an unknown path is
/// authorized (and denied) before it is found missing, as kube-apiserver does.
fn attributes(route: &Route, parts: &http::request::Parts) -> RequestAttributes {
    let verb = crate::front::authorize::path_verb(&parts.method);
    let review = |group: &str, resource: &str| RequestAttributes::resource(verb, group, resource);
    match route {
        Route::SelfSubjectAccessReview => {
            review("authorization.k8s.io", "selfsubjectaccessreviews")
        }
        Route::SelfSubjectRulesReview => review("authorization.k8s.io", "selfsubjectrulesreviews"),
        Route::SelfSubjectReview(_) => review("authentication.k8s.io", "selfsubjectreviews"),
        Route::SubjectAccessReview => review("authorization.k8s.io", "subjectaccessreviews"),
        Route::TokenReview => review("authentication.k8s.io", "tokenreviews"),
        _ => RequestAttributes::non_resource(verb, parts.uri.path()),
    }
}

/// The read-only documents: version, discovery (for the client's `Accept`), OpenAPI, metrics.
fn document(
    server: &ApiServer,
    route: Route,
    accept: Option<&str>,
    host: &str,
) -> Result<Response> {
    let reg = &server.discovery;
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
            crate::describe::openapi::v2::CONTENT_TYPE,
        ),
        Route::OpenApiV3Root => resp::json(200, server.openapi_v3.root()),
        Route::OpenApiV3(path) => {
            let doc = server.openapi_v3.document(&path).ok_or(ApiError::NoRoute)?;
            resp::bytes(200, doc.to_vec(), "application/json")
        }
        Route::Metrics => resp::bytes(
            200,
            crate::front::metrics::render().into_bytes(),
            "text/plain; version=0.0.4",
        ),
        _ => return Err(ApiError::NoRoute),
    })
}

/// `/healthz`, `/livez`, `/readyz` (and `?verbose`; open to anonymous callers like Kubernetes),
/// and their per-check paths (for `system:monitoring`).
fn health(check: &str, query: Option<&str>) -> Response {
    if query.is_some_and(|q| q.contains("verbose")) {
        return resp::text(
            200,
            &format!("[+]ping ok\n[+]etcd ok\n{check} check passed\n"),
        );
    }
    resp::text(200, "ok")
}
