use super::*;
use crate::security::certs::{self, LeafKind};

const TOKENS: &str = r#"
# token,user,uid,groups
s3cret,alice,1001,"devs,ops"
t0ken,bob,1002
"quoted,token",carol,1003,viewers
"#;

fn client_cert(user: &str, groups: &[&str]) -> CertificateDer<'static> {
    let (issuer, _) = certs::new_ca().unwrap();
    let kind = LeafKind::Client {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    };
    let issued = certs::issue_leaf(&issuer, &kind).unwrap();
    certs::parse_certs(&issued.cert_pem, "test")
        .unwrap()
        .remove(0)
}

#[test]
fn bearer_tokens_map_to_user_and_groups() {
    let authn = Authenticator::with_token_csv(TOKENS).unwrap();
    let alice = authn.authenticate(None, Some("Bearer s3cret")).unwrap();
    let mut want = Identity::new("alice", ["devs", "ops", AUTHENTICATED_GROUP]);
    want.uid = "1001".into();
    assert_eq!(alice, want);
    let bob = authn.authenticate(None, Some("bearer   t0ken ")).unwrap();
    assert_eq!(bob.user, "bob");
    assert_eq!(bob.groups, vec![AUTHENTICATED_GROUP.to_string()]);
    let carol = authn
        .authenticate(None, Some("Bearer quoted,token"))
        .unwrap();
    assert_eq!(
        carol.groups,
        vec!["viewers".to_string(), AUTHENTICATED_GROUP.to_string()]
    );
}

#[test]
fn unknown_token_is_rejected_and_no_credentials_is_anonymous() {
    let authn = Authenticator::with_token_csv(TOKENS).unwrap();
    assert_eq!(
        authn.authenticate(None, Some("Bearer nope")),
        Err(AuthnError::InvalidToken)
    );
    assert_eq!(authn.authenticate(None, None), Err(AuthnError::Anonymous));
    assert_eq!(
        authn.authenticate(None, Some("Basic YWxpY2U6eA==")),
        Err(AuthnError::Anonymous)
    );
    assert_eq!(
        authn.authenticate(Some(&[]), Some("Bearer ")),
        Err(AuthnError::Anonymous)
    );
}

#[test]
fn client_certificate_gives_cn_as_user_and_o_as_group_and_wins_over_a_token() {
    let authn = Authenticator::with_token_csv(TOKENS).unwrap();
    let cert = client_cert("system:node:node-1", &["system:nodes"]);
    let id = authn
        .authenticate(Some(&[cert]), Some("Bearer s3cret"))
        .unwrap();
    assert_eq!(id.user, "system:node:node-1");
    assert_eq!(
        id.groups,
        vec!["system:nodes".to_string(), AUTHENTICATED_GROUP.to_string()]
    );
    assert_eq!(id.node_name(), Some("node-1"));
}

#[test]
fn garbage_peer_certificate_is_an_error() {
    let authn = Authenticator::new();
    let junk = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x01, 0x00]);
    assert!(matches!(
        authn.authenticate(Some(&[junk]), None),
        Err(AuthnError::InvalidCertificate(_))
    ));
}

#[test]
fn node_name_needs_prefix_and_group() {
    assert_eq!(
        Identity::new("system:node:n2", [NODES_GROUP]).node_name(),
        Some("n2")
    );
    assert_eq!(Identity::new("system:node:n2", ["devs"]).node_name(), None);
    assert_eq!(
        Identity::new("system:node:", [NODES_GROUP]).node_name(),
        None
    );
    assert_eq!(Identity::new("alice", [NODES_GROUP]).node_name(), None);
}

#[test]
fn token_file_errors_name_line_and_column() {
    let err = |text: &str| parse_token_file(text).unwrap_err().to_string();
    assert_eq!(
        err("a,b,c\nonly,two"),
        "token file line 2: expected at least 3 columns (token,user,uid), got 2"
    );
    assert_eq!(
        err(",alice,1"),
        "token file line 1: column 1 (token) is empty"
    );
    assert_eq!(
        err("tok, ,1"),
        "token file line 1: column 2 (user) is empty"
    );
    assert_eq!(
        err("tok,alice,1,\"devs"),
        "token file line 1: unterminated quoted field"
    );
    assert_eq!(
        err("tok,a,1\ntok,b,2"),
        "token file line 2: duplicate token (column 1)"
    );
}

#[test]
fn token_file_is_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.csv");
    std::fs::write(&path, TOKENS).unwrap();
    let authn = Authenticator::with_token_file(&path).unwrap();
    assert_eq!(
        authn.authenticate(None, Some("Bearer t0ken")).unwrap().user,
        "bob"
    );
    let missing = Authenticator::with_token_file(&dir.path().join("nope.csv")).unwrap_err();
    assert!(missing.to_string().contains("nope.csv"), "{missing}");
}
