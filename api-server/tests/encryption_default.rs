//! Secrets at rest with no `--encryption-provider-config`, checked in etcd itself: the
//! api-server binary started as an operator would (`--etcd-servers … --data-dir D`), stock
//! kubectl applying examples/secret-config.yaml, the stored SwarmSecret read from etcd.

mod binary;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use binary::ApiServerProcess;
use flotilla_tests::etcd::Etcd;
use flotilla_tests::kubectl::Kubectl;

/// The secret's data as examples/secret-config.yaml has it, and what it decodes to.
const DATA_B64: &str = "czNjcjN0LXBhc3N3b3Jk";
const DATA_PLAIN: &str = "s3cr3t-password";
const SECRET_KEY: &str = "/registry/flotilla.dev/swarmsecrets/default/db-password";

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/secret-config.yaml");
    path.to_string_lossy().into_owned()
}

async fn etcd_values(endpoint: &str) -> Vec<(String, Vec<u8>)> {
    let mut c = etcd_client::Client::connect([endpoint], None)
        .await
        .unwrap();
    let all = c
        .get("/", Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .unwrap();
    all.kvs()
        .iter()
        .map(|kv| {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            (key, kv.value().to_vec())
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn kubectl(kubeconfig: &Path) -> Kubectl {
    Kubectl::new(33, kubeconfig).expect("kubectl 1.33 is installed")
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_encrypted_without_an_encryption_flag_and_stay_readable_after_a_restart() {
    let etcd = Etcd::start().await.expect("etcd starts");
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let args = vec![
        format!("--etcd-servers={}", etcd.endpoint()),
        format!("--data-dir={}", data_dir.display()),
    ];
    let server = ApiServerProcess::start(dir.path(), &args).await.unwrap();
    let k = kubectl(&server.kubeconfig);
    k.run(&["apply", "-f", &example()]).ok();
    // kubectl keeps the whole object, data included, in an annotation: it must not leak either.
    let annotation = k
        .run(&[
            "get",
            "swarmsecret",
            "db-password",
            "-o",
            "jsonpath={.metadata.annotations}",
        ])
        .ok()
        .stdout;
    assert!(
        annotation.contains("last-applied-configuration") && annotation.contains(DATA_B64),
        "{annotation}"
    );

    let values = etcd_values(etcd.endpoint()).await;
    let (_, stored) = values
        .iter()
        .find(|(key, _)| key == SECRET_KEY)
        .expect("the SwarmSecret is in etcd");
    assert!(
        stored.starts_with(b"k8s:enc:aesgcm:v1:key1:"),
        "stored as {:?}",
        String::from_utf8_lossy(&stored[..40.min(stored.len())])
    );
    for (key, value) in &values {
        for needle in [DATA_B64, DATA_PLAIN] {
            assert!(
                !contains(value, needle),
                "{needle} in plain text under {key}"
            );
        }
    }
    assert!(!contains(stored, "last-applied-configuration"));

    let config = data_dir.join("encryption/encryption.yaml");
    assert_eq!(mode(&config), 0o600, "the key file");
    assert_eq!(mode(config.parent().unwrap()), 0o700, "the key's directory");
    let key_before = std::fs::read(&config).unwrap();
    assert!(!server.log_text().contains("WARN"), "{}", server.log_text());

    // A restart generates nothing new and reads the secret with the same key.
    server.kill();
    let server = ApiServerProcess::start(dir.path(), &args).await.unwrap();
    let k = kubectl(&server.kubeconfig);
    let data = k
        .run(&[
            "get",
            "swarmsecret",
            "db-password",
            "-o",
            "jsonpath={.spec.data}",
        ])
        .ok()
        .stdout;
    assert_eq!(data, DATA_B64);
    assert_eq!(std::fs::read(&config).unwrap(), key_before, "the same key");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_first_config_is_warned_about_at_start() {
    let etcd = Etcd::start().await.expect("etcd starts");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("identity.yaml");
    std::fs::write(
        &config,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [swarmsecrets.flotilla.dev]\n  providers:\n  - identity: {}\n",
    )
    .unwrap();
    let args = vec![
        format!("--etcd-servers={}", etcd.endpoint()),
        format!("--data-dir={}", dir.path().join("data").display()),
        format!("--encryption-provider-config={}", config.display()),
    ];
    let server = ApiServerProcess::start(dir.path(), &args).await.unwrap();
    let log = server.log_text();
    let warning = log
        .lines()
        .find(|l| l.contains("WARN"))
        .unwrap_or_else(|| panic!("no warning logged:\n{log}"));
    assert!(
        warning.contains("identity is the first provider for swarmsecrets.flotilla.dev"),
        "{warning}"
    );
}
