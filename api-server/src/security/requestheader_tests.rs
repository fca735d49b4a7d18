use super::*;
use crate::security::certs::{issue_leaf, new_ca, LeafKind};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

fn names() -> HeaderNames {
    HeaderNames::default().normalized().unwrap()
}

#[test]
fn user_groups_and_extras_come_from_the_headers() {
    let h = headers(&[
        ("X-Remote-User", "alice"),
        ("X-Remote-Group", "devs"),
        ("X-Remote-Group", "system:authenticated"),
        ("X-Remote-Extra-Scopes", "view"),
        ("X-Remote-Extra-Scopes", "edit"),
        ("X-Remote-Extra-Acme.com%2Fproject", "p1"),
    ]);
    let id = names().identity(&h).unwrap();
    assert_eq!(id.user, "alice");
    assert_eq!(id.groups, ["devs", "system:authenticated"]);
    assert_eq!(id.extra["scopes"], ["view", "edit"]);
    assert_eq!(id.extra["acme.com/project"], ["p1"]);
}

#[test]
fn no_username_header_asserts_nobody() {
    let h = headers(&[("X-Remote-Group", "system:masters"), ("X-Remote-User", "")]);
    assert_eq!(names().identity(&h), None);
}

#[test]
fn the_first_configured_username_header_with_a_value_wins() {
    let n = HeaderNames {
        username: vec!["X-First".into(), "X-Second".into()],
        ..HeaderNames::default()
    }
    .normalized()
    .unwrap();
    let id = n.identity(&headers(&[("x-second", "bob")])).unwrap();
    assert_eq!(id.user, "bob");
}

#[test]
fn strip_removes_every_identity_header_and_nothing_else() {
    let mut h = headers(&[
        ("X-Remote-User", "alice"),
        ("X-Remote-Group", "devs"),
        ("X-Remote-Extra-A", "1"),
        ("X-Remote-Extra-B", "2"),
        ("Accept", "application/json"),
    ]);
    names().strip(&mut h);
    let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
    assert_eq!(left, ["accept"]);
}

#[test]
fn an_empty_allowed_list_allows_every_name() {
    assert!(name_allowed(&[], "anyone"));
    let allowed = vec!["front-proxy-client".to_string()];
    assert!(name_allowed(&allowed, "front-proxy-client"));
    assert!(!name_allowed(&allowed, "front-proxy-client2"));
}

#[test]
fn invalid_header_names_are_refused_with_the_flag() {
    let bad = HeaderNames {
        group: vec!["X Group".into()],
        ..HeaderNames::default()
    };
    let err = bad.normalized().unwrap_err().to_string();
    assert!(err.contains("--requestheader-group-headers"), "{err}");
    let none = HeaderNames {
        username: vec![" ".into()],
        ..HeaderNames::default()
    };
    assert!(matches!(
        none.normalized(),
        Err(RequestHeaderError::NoUsernameHeader)
    ));
}

#[test]
fn only_chains_to_the_request_header_ca_are_proxies() {
    let (proxy_ca, proxy_ca_cert) = new_ca().unwrap();
    let (client_ca, _) = new_ca().unwrap();
    let leaf = |issuer, user: &str| {
        let kind = LeafKind::Client {
            user: user.into(),
            groups: vec![],
        };
        let issued = issue_leaf(issuer, &kind).unwrap();
        certs::parse_certs(&issued.cert_pem, "leaf").unwrap()
    };
    let auth = RequestHeaderAuth::new(
        &proxy_ca_cert.cert_pem,
        vec!["front-proxy-client".into()],
        HeaderNames::default(),
    )
    .unwrap();
    let proxy = leaf(&proxy_ca, "front-proxy-client");
    assert_eq!(
        auth.proxy_name(&proxy).as_deref(),
        Some("front-proxy-client")
    );
    assert_eq!(
        auth.proxy_name(&leaf(&client_ca, "front-proxy-client")),
        None
    );
    let h = headers(&[("X-Remote-User", "alice")]);
    assert_eq!(
        auth.authenticate("front-proxy-client", &h)
            .unwrap()
            .unwrap()
            .user,
        "alice"
    );
    assert_eq!(
        auth.authenticate("someone-else", &h),
        Err(AuthnError::ProxyNotAllowed("someone-else".into()))
    );
}

#[test]
fn a_uid_header_counts_only_when_configured() {
    let h = headers(&[("X-Remote-User", "alice"), ("X-Remote-Uid", "u-1")]);
    assert_eq!(names().identity(&h).unwrap().uid, "");
    let with_uid = HeaderNames {
        uid: vec!["X-Remote-Uid".into()],
        ..HeaderNames::default()
    }
    .normalized()
    .unwrap();
    assert_eq!(with_uid.identity(&h).unwrap().uid, "u-1");
    let mut h = h;
    with_uid.strip(&mut h);
    assert!(h.is_empty());
}

#[test]
fn asserted_groups_get_system_authenticated_unless_anonymous() {
    // A host's anonymous user must not become authenticated here.
    let h = headers(&[
        ("X-Remote-User", "system:anonymous"),
        ("X-Remote-Group", "system:unauthenticated"),
    ]);
    let id = names().identity(&h).unwrap();
    assert_eq!(id.groups, ["system:unauthenticated"]);
    assert!(id.from_host);
    // Anyone else is authenticated, as Kubernetes' authenticated-group adder makes them.
    let h = headers(&[
        ("X-Remote-User", "system:kube-aggregator"),
        ("X-Remote-Group", "system:masters"),
    ]);
    let id = names().identity(&h).unwrap();
    assert_eq!(id.groups, ["system:masters", "system:authenticated"]);
}
