use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::security::certs::subject_user_groups;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn subject(pem: &str) -> (String, Vec<String>) {
    subject_user_groups(&certs::parse_certs(pem, "test").unwrap()[0]).unwrap()
}

#[test]
fn bootstrap_writes_ca_serving_and_component_certs_with_private_keys_0600() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_bootstrap(
        dir.path(),
        &["flotilla-api-server".into(), "127.0.0.2".into()],
    )
    .unwrap();
    let pki_dir = dir.path().join("pki");
    assert_eq!(pki.dir(), Some(pki_dir.as_path()));
    assert_eq!(mode(&pki_dir), 0o700);
    for stem in [
        "ca",
        "apiserver",
        "admin",
        "scheduler",
        "controller-manager",
    ] {
        assert_eq!(
            mode(&pki_dir.join(format!("{stem}.key"))),
            0o600,
            "{stem}.key"
        );
        assert_eq!(
            mode(&pki_dir.join(format!("{stem}.crt"))),
            0o644,
            "{stem}.crt"
        );
    }
    let ca = certs::parse_certs(pki.client_ca_pem().unwrap(), "ca")
        .unwrap()
        .remove(0);
    let serving = certs::parse_certs(pki.serving_cert_pem(), "serving")
        .unwrap()
        .remove(0);
    let wanted: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "::1",
        "flotilla-api-server",
        "127.0.0.2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(certs::leaf_is_current(&serving, &ca, &wanted));
    assert!(!certs::leaf_is_current(
        &serving,
        &ca,
        &["127.0.0.3".to_string()]
    ));
}

#[test]
fn component_certs_carry_kubernetes_user_and_group() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_bootstrap(dir.path(), &[]).unwrap();
    let (admin, _) = pki.component_credentials("admin").unwrap();
    assert_eq!(
        subject(&admin),
        (
            "flotilla:admin".to_string(),
            vec!["system:masters".to_string()]
        )
    );
    let (scheduler, _) = pki.component_credentials("scheduler").unwrap();
    assert_eq!(
        subject(&scheduler),
        ("system:flotilla-scheduler".to_string(), vec![])
    );
    let (cm, _) = pki.component_credentials("controller-manager").unwrap();
    assert_eq!(subject(&cm).0, "system:flotilla-controller-manager");
}

#[test]
fn second_start_reuses_files_and_adds_missing_names_with_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    let first = Pki::load_or_bootstrap(dir.path(), &[]).unwrap();
    let second = Pki::load_or_bootstrap(dir.path(), &[]).unwrap();
    assert_eq!(first.client_ca_pem(), second.client_ca_pem());
    assert_eq!(first.serving_cert_pem(), second.serving_cert_pem());
    assert_eq!(
        first.component_credentials("admin").unwrap(),
        second.component_credentials("admin").unwrap()
    );

    let third = Pki::load_or_bootstrap(dir.path(), &["127.0.0.4".into()]).unwrap();
    assert_eq!(first.client_ca_pem(), third.client_ca_pem());
    assert_ne!(first.serving_cert_pem(), third.serving_cert_pem());
    let ca = certs::parse_certs(third.client_ca_pem().unwrap(), "ca")
        .unwrap()
        .remove(0);
    let serving = certs::parse_certs(third.serving_cert_pem(), "serving")
        .unwrap()
        .remove(0);
    assert!(certs::leaf_is_current(
        &serving,
        &ca,
        &["127.0.0.4".to_string(), "localhost".to_string()]
    ));
}

#[test]
fn issues_node_certificates_signed_by_the_cluster_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_bootstrap(dir.path(), &[]).unwrap();
    let (cert, key) = pki
        .issue_client("system:node:node-1", &["system:nodes".into()])
        .unwrap();
    assert_eq!(
        subject(&cert),
        (
            "system:node:node-1".to_string(),
            vec!["system:nodes".to_string()]
        )
    );
    certs::parse_key(&key, "key").unwrap();
    let ca = certs::parse_certs(pki.client_ca_pem().unwrap(), "ca")
        .unwrap()
        .remove(0);
    assert!(certs::leaf_is_current(
        &certs::parse_certs(&cert, "c").unwrap()[0],
        &ca,
        &[]
    ));

    let err = pki.issue_client("", &[]).unwrap_err();
    assert!(err.to_string().contains("user (CN)"), "{err}");
    let err = pki
        .issue_client("bob", &["a".into(), "b".into()])
        .unwrap_err();
    assert!(err.to_string().contains("at most one group"), "{err}");
}

#[test]
fn a_lone_ca_file_is_an_error_naming_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    Pki::load_or_bootstrap(dir.path(), &[]).unwrap();
    fs::remove_file(dir.path().join("pki/ca.key")).unwrap();
    let err = Pki::load_or_bootstrap(dir.path(), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("ca.key is missing"), "{err}");
}

#[test]
fn external_files_replace_the_bootstrap() {
    let boot = tempfile::tempdir().unwrap();
    let source = Pki::load_or_bootstrap(boot.path(), &[]).unwrap();
    let pki_dir = boot.path().join("pki");
    let data = tempfile::tempdir().unwrap();
    let config = PkiConfig {
        data_dir: data.path().to_path_buf(),
        tls_cert_file: Some(pki_dir.join("apiserver.crt")),
        tls_private_key_file: Some(pki_dir.join("apiserver.key")),
        client_ca_file: Some(pki_dir.join("ca.crt")),
        ..PkiConfig::default()
    };
    let pki = Pki::load(&config).unwrap();
    assert_eq!(pki.serving_cert_pem(), source.serving_cert_pem());
    assert_eq!(pki.client_ca_pem(), source.client_ca_pem());
    assert!(pki.dir().is_none());
    assert!(!data.path().join("pki").exists(), "nothing is bootstrapped");
    assert!(matches!(pki.issue_client("x", &[]), Err(PkiError::NoCaKey)));

    let half = PkiConfig {
        tls_private_key_file: None,
        ..config.clone()
    };
    assert!(Pki::load(&half)
        .unwrap_err()
        .to_string()
        .contains("--tls-private-key-file"));
    let bad = PkiConfig {
        tls_private_key_file: Some(pki_dir.join("ca.crt")),
        ..config
    };
    let err = Pki::load(&bad).unwrap_err().to_string();
    assert!(
        err.contains("ca.crt") && err.contains("PRIVATE KEY"),
        "{err}"
    );
}
