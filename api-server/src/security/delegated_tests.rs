use std::collections::BTreeMap;

use super::*;
use crate::security::authz::Verb;

#[test]
fn a_resource_request_becomes_resource_attributes() {
    let mut who = Identity::new("alice", ["devs"]);
    who.extra = BTreeMap::from([("scopes".to_string(), vec!["view".to_string()])]);
    let r = RequestAttributes::resource(Verb::Patch, "flotilla.dev", "swarmservices")
        .in_namespace("default")
        .named("web")
        .with_subresource("scale");
    let spec = review_spec(&who, &r);
    assert_eq!(spec.user.as_deref(), Some("alice"));
    assert_eq!(
        spec.groups.unwrap(),
        ["devs".to_string(), "system:authenticated".to_string()]
    );
    assert_eq!(spec.extra.unwrap()["scopes"], ["view"]);
    assert_eq!(spec.uid, None);
    let ra = spec.resource_attributes.unwrap();
    assert_eq!(ra.verb.as_deref(), Some("patch"));
    assert_eq!(ra.group.as_deref(), Some("flotilla.dev"));
    assert_eq!(ra.resource.as_deref(), Some("swarmservices"));
    assert_eq!(ra.subresource.as_deref(), Some("scale"));
    assert_eq!(ra.namespace.as_deref(), Some("default"));
    assert_eq!(ra.name.as_deref(), Some("web"));
    assert!(spec.non_resource_attributes.is_none());
}

#[test]
fn a_path_becomes_non_resource_attributes() {
    let who = Identity::new("bob", Vec::<String>::new());
    let spec = review_spec(
        &who,
        &RequestAttributes::non_resource(Verb::Get, "/metrics"),
    );
    let nra = spec.non_resource_attributes.unwrap();
    assert_eq!(nra.path.as_deref(), Some("/metrics"));
    assert_eq!(nra.verb.as_deref(), Some("get"));
    assert!(spec.resource_attributes.is_none());
}

#[test]
fn equal_questions_have_equal_cache_keys() {
    let r = RequestAttributes::resource(Verb::Get, "flotilla.dev", "tasks").in_namespace("a");
    let key = |who: &Identity| serde_json::to_string(&review_spec(who, &r)).unwrap();
    let a = Identity::new("alice", ["devs"]);
    assert_eq!(key(&a), key(&a.clone()));
    assert_ne!(key(&a), key(&Identity::new("alice", ["ops"])));
}

#[test]
fn the_hosts_reason_is_kept_on_a_denial() {
    let allowed = SubjectAccessReviewStatus {
        allowed: true,
        ..Default::default()
    };
    assert_eq!(decision_of(allowed), Decision::Allow);
    let denied = SubjectAccessReviewStatus {
        reason: Some("no RBAC policy matched".into()),
        ..Default::default()
    };
    assert_eq!(
        decision_of(denied),
        Decision::Deny("no RBAC policy matched".into())
    );
    let failed = SubjectAccessReviewStatus {
        evaluation_error: Some("webhook down".into()),
        ..Default::default()
    };
    assert_eq!(decision_of(failed), Decision::Deny("webhook down".into()));
}

#[test]
fn a_token_review_user_becomes_an_identity() {
    let user = UserInfo {
        username: Some("system:serviceaccount:kube-system:x".into()),
        uid: Some("u-1".into()),
        groups: Some(vec!["system:serviceaccounts".into()]),
        extra: None,
    };
    let id = identity_of(user).unwrap();
    assert_eq!(id.user, "system:serviceaccount:kube-system:x");
    assert_eq!(id.uid, "u-1");
    assert!(id.in_group("system:serviceaccounts"));
    assert_eq!(
        id.groups,
        ["system:serviceaccounts", "system:authenticated"]
    );
    assert_eq!(
        identity_of(UserInfo::default()),
        Err(AuthnError::InvalidToken)
    );
}
