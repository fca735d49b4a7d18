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
    let identity = identity.ok_or(ApiError::Unauthorized)?;
    let get_only = |r: Response| {
        if parts.method == http::Method::GET {
            Ok(r)
        } else {
            Err(ApiError::MethodNotAllowed)
        }
    };
    let reg = &server.registry;
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    match route {
        Route::Version => get_only(resp::json(200, &discovery::version_info())),
        Route::CoreVersions | Route::Groups => {
            let root = if route == Route::CoreVersions {
                DiscoveryRoot::Api
            } else {
                DiscoveryRoot::Apis
            };
            let (ct, body) = discovery::discovery_root(reg, root, accept, host);
            get_only(resp::json_with_type(200, &body, ct))
        }
        Route::Group(g) => {
            let body = discovery::api_group(reg, &g).ok_or(ApiError::NoRoute)?;
            get_only(resp::json(200, &body))
        }
        Route::GroupVersion(g, v) => {
            let body = discovery::api_resource_list(reg, &g, &v).ok_or(ApiError::NoRoute)?;
            get_only(resp::json(200, &body))
        }
        Route::OpenApiV2 => get_only(resp::bytes(
            200,
            server.openapi_v2.clone(),
            crate::openapi::v2::CONTENT_TYPE,
        )),
        Route::OpenApiV3Root => get_only(resp::json(200, server.openapi_v3.root())),
        Route::OpenApiV3(path) => {
            let doc = server.openapi_v3.document(&path).ok_or(ApiError::NoRoute)?;
            get_only(resp::bytes(200, doc.to_vec(), "application/json"))
        }
        Route::Metrics => get_only(resp::bytes(
            200,
            crate::metrics::render().into_bytes(),
            "text/plain; version=0.0.4",
        )),
        Route::SelfSubjectAccessReview => {
            crate::reviews::self_subject_access_review(server, identity, parts, &body)
        }
        Route::SelfSubjectRulesReview => {
            crate::reviews::self_subject_rules_review(server, identity, parts, &body)
        }
        Route::SelfSubjectReview(version) => {
            crate::reviews::self_subject_review(identity, parts, &version)
        }
        Route::Health(_) | Route::Resource(_) | Route::NotFound => Err(ApiError::NoRoute),
    }
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
