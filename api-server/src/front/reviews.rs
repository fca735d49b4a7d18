//! Self reviews: `kubectl auth can-i` (authorization.k8s.io/v1 SelfSubjectAccessReview) and
//! `kubectl auth whoami` (authentication.k8s.io SelfSubjectReview). kubectl 1.27–1.31 send
//! JSON, 1.32+ protobuf ([`crate::wire::k8s_proto`]); the answer is always JSON, which kubectl's
//! Accept header allows.

use serde_json::{json, Value};

use crate::security::authn::Identity;
use crate::security::rules;
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{self as resp, Response};
use crate::wire::k8s_proto;

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`.
pub async fn self_subject_access_review(
    server: &ApiServer,
    identity: &Identity,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Response> {
    let spec = review_body(parts, body, k8s_proto::access_review_spec, |v| {
        v["spec"].clone()
    })?;
    let (allowed, reason) = crate::front::authorize::review(server, identity, &spec).await;
    let answer = json!({
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null}, "spec": spec,
        "status": {"allowed": allowed, "reason": reason},
    });
    Ok(resp::json(201, &answer))
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`: what the caller may do in
/// `spec.namespace`, over every served resource and the self reviews.
pub fn self_subject_rules_review(
    server: &ApiServer,
    identity: &Identity,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Response> {
    let namespace = review_body(parts, body, k8s_proto::rules_review_namespace, |v| {
        v["spec"]["namespace"].as_str().unwrap_or("").to_string()
    })?;
    let mut resources = Vec::new();
    for info in server.registry.iter() {
        let subresources = [
            info.status_subresource.then_some("status"),
            info.scale.is_some().then_some("scale"),
            info.binding_subresource.then_some("binding"),
        ];
        resources.push((info.group.clone(), info.plural.clone()));
        for sub in subresources.into_iter().flatten() {
            resources.push((info.group.clone(), format!("{}/{sub}", info.plural)));
        }
    }
    resources.dedup();
    let reviews = rules::SELF_REVIEWS.iter();
    resources.extend(reviews.map(|(g, r)| (g.to_string(), r.to_string())));
    let status = rules::rules_for(&server.authz, identity, &namespace, &resources);
    let answer = json!({
        "kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null}, "spec": {"namespace": namespace},
        "status": status,
    });
    Ok(resp::json(201, &answer))
}

/// `POST /apis/authentication.k8s.io/<version>/selfsubjectreviews`: who the caller is. The
/// request carries nothing but its kind, so its body is not decoded.
pub fn self_subject_review(
    identity: &Identity,
    parts: &http::request::Parts,
    version: &str,
) -> Result<Response> {
    if parts.method != http::Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    Ok(resp::json(201, &who_am_i(identity, version)))
}

fn who_am_i(identity: &Identity, version: &str) -> Value {
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": format!("authentication.k8s.io/{version}"),
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {"username": identity.user, "groups": identity.groups}},
    })
}

/// What a POSTed review asks: `proto` decodes a protobuf body (kubectl 1.32+), `from_json`
/// picks it out of a JSON one; either malformed body is a 400.
fn review_body<T, E: std::fmt::Display>(
    parts: &http::request::Parts,
    body: &[u8],
    proto: impl FnOnce(&[u8]) -> std::result::Result<T, E>,
    from_json: impl FnOnce(Value) -> T,
) -> Result<T> {
    if parts.method != http::Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let bad = |e: &dyn std::fmt::Display| ApiError::BadRequest(e.to_string());
    if k8s_proto::is_protobuf(content_type(parts)) {
        return proto(body).map_err(|e| bad(&e));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(&e))?;
    Ok(from_json(v))
}

fn content_type(parts: &http::request::Parts) -> &str {
    parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whoami_names_the_user_and_groups_in_the_asked_version() {
        let id = Identity::new("system:node:n1", &["system:nodes".to_string()]);
        let v = who_am_i(&id, "v1beta1");
        assert_eq!(v["apiVersion"], "authentication.k8s.io/v1beta1");
        assert_eq!(v["status"]["userInfo"]["username"], "system:node:n1");
        let groups = v["status"]["userInfo"]["groups"].as_array().unwrap();
        assert!(groups.iter().any(|g| g == "system:nodes"));
    }
}
