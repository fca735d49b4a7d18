//! The reviews an extension API server delegating to Flotilla sends:
//! `authorization.k8s.io/v1` SubjectAccessReview (answered by Flotilla's authorization chain) and
//! `authentication.k8s.io/v1` TokenReview (answered by Flotilla's authenticator). Creating either
//! needs the delegator rule (group `flotilla:auth-delegators`) or `system:masters`, checked with
//! every other non-resource request ([`crate::front::nonresource::authorize`]) before the body is read.
//! JSON only: delegating clients speak it, and protobuf is answered 415.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::security::authn::{AuthnError, Identity};
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Cause, Result};
use crate::wire::http::{self as resp, Response};

const AUTHORIZATION: &str = "authorization.k8s.io";

/// `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`: may `spec.user` (with
/// `spec.groups`, `spec.extra`) do what `spec.resourceAttributes` or `spec.nonResourceAttributes`
/// say?
pub async fn subject_access_review(
    server: &ApiServer,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Response> {
    let review = json_body(parts, body)?;
    let spec = &review["spec"];
    let subject = subject_of(spec)?;
    let (allowed, reason) = crate::front::authorize::review(server, &subject, spec).await;
    let mut status = json!({"allowed": allowed});
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    let answer = json!({
        "kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null}, "spec": spec, "status": status,
    });
    Ok(resp::json(201, &answer))
}

/// `POST /apis/authentication.k8s.io/v1/tokenreviews`: whose is `spec.token`?
pub async fn token_review(
    server: &ApiServer,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Response> {
    let review = json_body(parts, body)?;
    let spec = &review["spec"];
    let Some(token) = spec["token"].as_str().filter(|t| !t.is_empty()) else {
        return Err(ApiError::BadRequest(
            "token is required for TokenReview in authentication".into(),
        ));
    };
    let audiences = spec["audiences"].as_array().is_some_and(|a| !a.is_empty());
    let status = if audiences {
        // Flotilla's tokens are for Flotilla only; it cannot vouch for another audience.
        unauthenticated("token audiences are not supported by this server")
    } else {
        match server.authn.authenticate_token(token).await {
            Ok(identity) => json!({"authenticated": true, "user": user_info(&identity)}),
            Err(e @ AuthnError::TokenReview(_)) => unauthenticated(&e.to_string()),
            Err(_) => unauthenticated("invalid bearer token"),
        }
    };
    let answer = json!({
        "kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null}, "spec": spec, "status": status,
    });
    Ok(resp::json(201, &answer))
}

fn unauthenticated(error: &str) -> Value {
    json!({"authenticated": false, "user": {}, "error": error})
}

fn user_info(id: &Identity) -> Value {
    let mut user = json!({"username": id.user, "groups": id.groups});
    if !id.uid.is_empty() {
        user["uid"] = json!(id.uid);
    }
    if !id.extra.is_empty() {
        user["extra"] = json!(id.extra);
    }
    user
}

fn json_body(parts: &http::request::Parts, body: &[u8]) -> Result<Value> {
    if parts.method != http::Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if crate::wire::k8s_proto::is_protobuf(content_type) {
        return Err(ApiError::UnsupportedMediaType {
            accepted: "application/json".into(),
        });
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The subject of a SubjectAccessReview, validated as Kubernetes does. Its groups are taken
/// as given (no `system:authenticated` is added: the reviewer asks about exactly this user).
pub fn subject_of(spec: &Value) -> Result<Identity> {
    let invalid = |field: &str, message: &str| Cause {
        reason: "FieldValueInvalid".into(),
        field: field.into(),
        message: message.into(),
    };
    let mut causes = Vec::new();
    let (ra, nra) = (&spec["resourceAttributes"], &spec["nonResourceAttributes"]);
    match (ra.is_object(), nra.is_object()) {
        (true, true) => causes.push(invalid(
            "spec.nonResourceAttributes",
            "cannot be specified in combination with resourceAttributes",
        )),
        (false, false) => causes.push(invalid(
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    let strings = |v: &Value| -> Vec<String> {
        let items = v.as_array().into_iter().flatten();
        items.filter_map(|s| s.as_str().map(String::from)).collect()
    };
    let user = spec["user"].as_str().unwrap_or("").to_string();
    let groups = strings(&spec["groups"]);
    if user.is_empty() && groups.is_empty() {
        causes.push(invalid(
            "spec.user",
            "at least one of user or group must be specified",
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::Invalid {
            kind: "SubjectAccessReview".into(),
            group: AUTHORIZATION.into(),
            name: String::new(),
            causes,
        });
    }
    let extra = spec["extra"].as_object().into_iter().flatten();
    let extra: BTreeMap<String, Vec<String>> =
        extra.map(|(k, v)| (k.clone(), strings(v))).collect();
    let mut subject = Identity::exact(user, groups);
    subject.uid = spec["uid"].as_str().unwrap_or("").to_string();
    subject.extra = extra;
    Ok(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_needs_a_user_or_group_and_exactly_one_kind_of_attributes() {
        let err = subject_of(&json!({"resourceAttributes": {"verb": "get"}})).unwrap_err();
        assert!(err.to_string().contains("spec.user"), "{err}");
        let both = json!({"user": "a", "resourceAttributes": {}, "nonResourceAttributes": {}});
        let err = subject_of(&both).unwrap_err().to_string();
        assert!(err.contains("spec.nonResourceAttributes"), "{err}");
        let neither = subject_of(&json!({"user": "a"})).unwrap_err().to_string();
        assert!(neither.contains("exactly one of"), "{neither}");
    }

    #[test]
    fn the_subject_is_exactly_who_the_review_names() {
        let spec = json!({
            "user": "alice", "groups": ["devs"], "uid": "u1",
            "extra": {"scopes": ["view"]},
            "nonResourceAttributes": {"path": "/metrics", "verb": "get"},
        });
        let id = subject_of(&spec).unwrap();
        assert_eq!(id.user, "alice");
        assert_eq!(id.groups, ["devs"]);
        assert_eq!(id.uid, "u1");
        assert_eq!(id.extra["scopes"], ["view"]);
    }
}
