use super::*;
use rcgen::{BasicConstraints, IsCa, Issuer};

/// A CA and a certificate for `cn` signed by it, valid `secs` from now.
fn identity(cn: &str, secs: i64) -> NodeIdentity {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(60);
    params.not_after = now + time::Duration::seconds(secs);
    let cert = params.signed_by(&key, &issuer).unwrap();
    NodeIdentity {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

#[test]
fn renews_two_thirds_into_the_lifetime() {
    let v = Validity {
        not_before: 1000,
        not_after: 1900,
    };
    assert_eq!(v.renew_at(), 1600);
    assert_eq!(until_renewal(v, 1500), Duration::from_secs(100));
    assert_eq!(until_renewal(v, 1700), Duration::ZERO);
}

#[test]
fn a_certificate_for_another_name_or_expired_is_unusable() {
    let now = now_secs();
    let good = identity("system:node:n1", 3600);
    assert_eq!(good.unusable_for("n1", now), None);
    let other = good.unusable_for("n2", now).unwrap();
    assert!(other.contains("system:node:n2"), "{other}");
    let expired = identity("system:node:n1", 10);
    assert_eq!(
        expired.unusable_for("n1", now + 20).as_deref(),
        Some("it has expired")
    );
    let mut foreign = good.clone();
    foreign.ca_pem = identity("x", 60).ca_pem;
    assert!(foreign
        .unusable_for("n1", now)
        .unwrap()
        .contains("not signed"));
    assert!(good.certified_key().is_ok());
}

#[test]
fn saves_every_file_0600_and_loads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    assert!(load(&certs).unwrap().is_none(), "nothing there yet");
    let id = identity("system:node:n1", 3600);
    save(&certs, &id).unwrap();
    for name in [CA_FILE, CERT_FILE, KEY_FILE] {
        let mode = std::fs::metadata(certs.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    let back = load(&certs).unwrap().unwrap();
    assert_eq!(back.cert_pem, id.cert_pem);
    assert_eq!(back.key_pem, id.key_pem);
}

#[test]
fn the_csr_names_the_node() {
    let (csr, key) = new_csr("n1").unwrap();
    assert!(csr.contains("BEGIN CERTIFICATE REQUEST"));
    assert!(key.contains("PRIVATE KEY"));
}

#[test]
fn new_connections_get_the_certificate_set_last() {
    use rustls::client::ResolvesClientCert;
    let (a, b) = (
        identity("system:node:n1", 60),
        identity("system:node:n1", 60),
    );
    let source = ReloadingCert::new(a.certified_key().unwrap());
    source.set(b.certified_key().unwrap());
    let presented = source.resolve(&[], &[]).unwrap();
    assert_eq!(
        presented.cert[0].as_ref(),
        cert_der(&b.cert_pem, "b").unwrap()
    );
}
