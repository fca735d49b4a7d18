//! Turning a request into authorization attributes and asking the authorizer.

use serde_json::Value;

use crate::errors::{ApiError, Result};
use crate::handlers::Req;
use crate::registry::ResourceInfo;
use crate::security::authn::Identity;
use crate::security::authz::{self, Decision, RequestAttributes};
use crate::state::ApiServer;

/// The Kubernetes verb of a request.
pub fn verb(req: &Req) -> &'static str {
    use http::Method;
    let named = req.path.name.is_some();
    match (&req.method, named) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if req.query.watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
}

pub fn check(server: &ApiServer, identity: &Identity, info: &ResourceInfo, req: &Req) -> Result<()> {
    let attrs = RequestAttributes {
        verb: verb(req).to_string(),
        api_group: info.group.clone(),
        resource: info.plural.clone(),
        subresource: req.path.subresource.clone(),
        namespace: req.path.namespace.clone(),
        name: req.path.name.clone(),
        path: String::new(),
        field_selector: req.query.field_selector.clone(),
    };
    match server.authz.authorize(identity, &attrs, server.node_index.as_ref()) {
        Decision::Allow => Ok(()),
        Decision::Deny(_) => Err(ApiError::Forbidden(authz::forbidden_message(identity, &attrs))),
    }
}

/// SelfSubjectAccessReview: `spec.resourceAttributes` or `spec.nonResourceAttributes`.
pub fn review(server: &ApiServer, identity: &Identity, spec: &Value) -> (bool, String) {
    let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(String::from);
    let ra = &spec["resourceAttributes"];
    let attrs = if ra.is_object() {
        RequestAttributes {
            verb: s(&ra["verb"]).unwrap_or_default(),
            api_group: s(&ra["group"]).unwrap_or_default(),
            resource: s(&ra["resource"]).unwrap_or_default(),
            subresource: s(&ra["subresource"]),
            namespace: s(&ra["namespace"]),
            name: s(&ra["name"]),
            path: String::new(),
            field_selector: None,
        }
    } else {
        let nra = &spec["nonResourceAttributes"];
        RequestAttributes {
            verb: s(&nra["verb"]).unwrap_or_default(),
            path: s(&nra["path"]).unwrap_or_default(),
            ..Default::default()
        }
    };
    match server.authz.authorize(identity, &attrs, server.node_index.as_ref()) {
        Decision::Allow => (true, String::new()),
        Decision::Deny(reason) => (false, reason),
    }
}
