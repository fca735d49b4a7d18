//! Turning a request into authorization attributes and asking the authorizer.

use serde_json::Value;

use crate::errors::{ApiError, Result};
use crate::handlers::Req;
use crate::registry::ResourceInfo;
use crate::security::authn::Identity;
use crate::security::authz::{self, Decision, RequestAttributes, Verb};
use crate::state::ApiServer;

/// The Kubernetes verb of a request.
pub fn verb(req: &Req) -> Verb {
    use http::Method;
    let named = req.path.name.is_some();
    match (&req.method, named) {
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if req.query.watch => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Update,
        (&Method::PATCH, _) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        _ => Verb::DeleteCollection,
    }
}

pub async fn check(
    server: &ApiServer,
    identity: &Identity,
    info: &ResourceInfo,
    req: &Req,
) -> Result<()> {
    let mut attrs = RequestAttributes::resource(verb(req), &info.group, &info.plural);
    attrs.subresource = req.path.subresource.clone();
    attrs.namespace = req.path.namespace.clone();
    attrs.field_selector = req.query.field_selector.clone();
    // For create the name is in the body: node rules (own SwarmNode, own Lease) need it.
    attrs.name = req.path.name.clone().or_else(|| body_name(&req.body));
    allow(server, identity, &attrs).await
}

/// Asks the authorization chain; a deny is a 403 with Kubernetes' message.
pub async fn allow(
    server: &ApiServer,
    identity: &Identity,
    attrs: &RequestAttributes,
) -> Result<()> {
    match decide(server, identity, attrs).await? {
        Decision::Allow => Ok(()),
        Decision::Deny(reason) => Err(ApiError::Forbidden(authz::forbidden_message(
            identity, attrs, &reason,
        ))),
    }
}

/// The chain's decision ([`crate::security::chain`]); a host cluster that cannot answer is a
/// 500, as in Kubernetes.
pub async fn decide(
    server: &ApiServer,
    identity: &Identity,
    attrs: &RequestAttributes,
) -> Result<Decision> {
    let relations = server.node_index.as_ref();
    server
        .authz_chain
        .authorize(&server.authz, identity, attrs, relations)
        .await
        .map_err(|e| ApiError::Internal(format!("delegated authorization: {e}")))
}

/// `metadata.name` of a JSON body, read without building the whole document.
fn body_name(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        metadata: Meta,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        name: Option<String>,
    }
    serde_json::from_slice::<Named>(body).ok()?.metadata.name
}

/// A (Self)SubjectAccessReview: `spec.resourceAttributes` or `spec.nonResourceAttributes`.
pub async fn review(server: &ApiServer, identity: &Identity, spec: &Value) -> (bool, String) {
    let attrs = match attributes(spec) {
        Ok(attrs) => attrs,
        Err(reason) => return (false, reason),
    };
    match decide(server, identity, &attrs).await {
        Ok(Decision::Allow) => (true, String::new()),
        Ok(Decision::Deny(reason)) => (false, reason),
        Err(e) => (false, e.to_string()),
    }
}

/// The attributes a review's spec asks about.
fn attributes(spec: &Value) -> std::result::Result<RequestAttributes, String> {
    let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(String::from);
    let ra = &spec["resourceAttributes"];
    let attrs = if ra.is_object() {
        let Some(verb) = s(&ra["verb"]).and_then(|v| Verb::parse(&v)) else {
            return Err("unknown verb".into());
        };
        let mut a = RequestAttributes::resource(
            verb,
            &s(&ra["group"]).unwrap_or_default(),
            &s(&ra["resource"]).unwrap_or_default(),
        );
        a.subresource = s(&ra["subresource"]);
        a.namespace = s(&ra["namespace"]);
        a.name = s(&ra["name"]);
        a
    } else {
        let nra = &spec["nonResourceAttributes"];
        let Some(verb) = s(&nra["verb"]).and_then(|v| Verb::parse(&v)) else {
            return Err("unknown verb".into());
        };
        RequestAttributes::non_resource(verb, &s(&nra["path"]).unwrap_or_default())
    };
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::body_name;

    #[test]
    fn body_name_reads_metadata_name_only() {
        let body = br#"{"apiVersion":"v1","metadata":{"labels":{"a":"b"},"name":"web"},"spec":{"x":[1,{"name":"no"}]}}"#;
        assert_eq!(body_name(body).as_deref(), Some("web"));
        assert_eq!(body_name(br#"{"metadata":{"generateName":"w-"}}"#), None);
        assert_eq!(body_name(b"kind: Pod\nmetadata: {name: yaml}"), None);
    }
}
