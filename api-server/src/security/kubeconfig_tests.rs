use std::os::unix::fs::PermissionsExt;

use serde_yaml_ng::Value;

use super::*;

fn decode(v: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn writes_a_standard_kubeconfig_with_embedded_credentials_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/admin.kubeconfig");
    write_kubeconfig(
        &path,
        "https://127.0.0.1:6443",
        "CA PEM\n",
        "CERT PEM\n",
        "KEY PEM\n",
        "flotilla:admin",
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["apiVersion"], "v1");
    assert_eq!(doc["kind"], "Config");
    assert_eq!(doc["current-context"], "flotilla");
    let cluster = &doc["clusters"][0];
    assert_eq!(cluster["name"], "flotilla");
    assert_eq!(cluster["cluster"]["server"], "https://127.0.0.1:6443");
    assert_eq!(
        decode(&cluster["cluster"]["certificate-authority-data"]),
        "CA PEM\n"
    );
    let user = &doc["users"][0];
    assert_eq!(user["name"], "flotilla:admin");
    assert_eq!(
        decode(&user["user"]["client-certificate-data"]),
        "CERT PEM\n"
    );
    assert_eq!(decode(&user["user"]["client-key-data"]), "KEY PEM\n");
    assert!(user["user"].get("token").is_none());
    let context = &doc["contexts"][0];
    assert_eq!(context["name"], "flotilla");
    assert_eq!(context["context"]["cluster"], "flotilla");
    assert_eq!(context["context"]["user"], "flotilla:admin");
    assert!(!dir.path().join("nested/admin.kubeconfig.tmp").exists());
}

#[test]
fn token_kubeconfigs_carry_the_token() {
    let yaml =
        render_kubeconfig("https://h:1", "CA", Credentials::Token("s3cret"), "alice").unwrap();
    let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(doc["users"][0]["user"]["token"], "s3cret");
    assert!(doc["users"][0]["user"].get("client-key-data").is_none());
}

#[test]
fn bad_input_names_the_field() {
    let cert = Credentials::ClientCert {
        cert_pem: "C",
        key_pem: "K",
    };
    let err = |r: Result<String, KubeconfigError>| r.unwrap_err().to_string();
    assert!(err(render_kubeconfig("http://h:1", "CA", cert, "u"))
        .starts_with("kubeconfig clusters[0].cluster.server: must be an https:// URL"));
    assert!(
        err(render_kubeconfig("https://h:1", "", cert, "u")).contains("certificate-authority-data")
    );
    assert!(err(render_kubeconfig("https://h:1", "CA", cert, " ")).contains("users[0].name"));
    let no_key = Credentials::ClientCert {
        cert_pem: "C",
        key_pem: "",
    };
    assert!(err(render_kubeconfig("https://h:1", "CA", no_key, "u")).contains("client-key-data"));
}
