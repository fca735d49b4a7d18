use std::time::Duration;

use time::OffsetDateTime;

use super::*;

fn signer(duration: Duration) -> Signer {
    let (_, ca) = certs::new_ca().unwrap();
    Signer::new(&ca.cert_pem, &ca.key_pem, duration).unwrap()
}

fn csr(cn: &str) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.serialize_request(&key).unwrap().pem().unwrap()
}

#[test]
fn signs_the_node_identity_whatever_the_request_asks_for() {
    let signer = signer(Duration::from_secs(3600));
    let pem = signer
        .sign_node("node-1", &csr("system:masters-wannabe"))
        .unwrap();
    let leaf = certs::parse_certs(&pem, "leaf").unwrap().remove(0);
    let (user, groups) = certs::subject_user_groups(&leaf).unwrap();
    assert_eq!(user, "system:node:node-1");
    assert_eq!(groups, vec!["system:nodes".to_string()]);
    let ca = certs::parse_certs(signer.ca_pem(), "ca").unwrap().remove(0);
    let (_, parsed_leaf) = x509_parser::parse_x509_certificate(&leaf).unwrap();
    let (_, parsed_ca) = x509_parser::parse_x509_certificate(&ca).unwrap();
    assert!(parsed_leaf
        .verify_signature(Some(parsed_ca.public_key()))
        .is_ok());
    let left = parsed_leaf.validity().time_to_expiration().unwrap();
    assert!(left <= time::Duration::seconds(3600) && left > time::Duration::seconds(3500));
}

#[test]
fn a_garbled_csr_is_refused_by_name() {
    let err = signer(Duration::from_secs(60))
        .sign_node("node-1", "not a csr")
        .unwrap_err();
    assert!(err.to_string().starts_with("csr: "), "{err}");
}

#[test]
fn the_digest_is_sha256_of_the_ca_der() {
    let signer = signer(Duration::from_secs(60));
    let der = certs::parse_certs(signer.ca_pem(), "ca").unwrap().remove(0);
    assert_eq!(signer.ca_digest(), flotilla_api::join::ca_digest(&der));
    assert_eq!(signer.ca_digest().len(), 64);
}

#[test]
fn a_name_is_taken_while_its_lease_is_fresh_or_it_was_just_claimed() {
    let now = OffsetDateTime::now_utc();
    let ttl = Duration::from_secs(40);
    let lease = |ago: i64| Some((now - time::Duration::seconds(ago), Duration::from_secs(40)));
    assert!(name_taken(lease(10), None, ttl, now).is_some());
    assert_eq!(name_taken(lease(41), None, ttl, now), None);
    assert_eq!(name_taken(None, None, ttl, now), None);
    let claimed = |ago: i64| Some(now - time::Duration::seconds(ago));
    let why = name_taken(None, claimed(5), ttl, now).unwrap();
    assert!(why.contains("5s ago"), "{why}");
    assert_eq!(name_taken(lease(100), claimed(100), ttl, now), None);
}
