//! Where a secret must not be: on disk under the cluster's data dir, in a container's writable
//! layer or config directory, in plain text in etcd.

use std::path::Path;

use super::docker;
use flotilla_tests::probe::fs_type_of;

/// The secret's host side is a file on a tmpfs; the container's writable layer and its
/// config directory do not hold the value.
pub fn assert_secret_only_on_tmpfs(container: &str, secret: &str) {
    let source = docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/run/secrets/db-pass\"}}{{.Source}}{{end}}{{end}}",
        container,
    ])
    .expect("docker inspect");
    assert_eq!(
        fs_type_of(&source),
        "tmpfs",
        "secret file {source} is not on a tmpfs"
    );
    let layer = docker(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", container]);
    let full_id = docker(&["inspect", "-f", "{{.Id}}", container]).unwrap_or_default();
    let config_dir = format!("/var/lib/docker/containers/{full_id}");
    for dir in layer
        .iter()
        .map(String::as_str)
        .chain([config_dir.as_str()])
    {
        if Path::new(dir).is_dir() {
            assert_files_lack(Path::new(dir), secret);
        }
    }
}

/// No file under `dir` contains `needle`.
pub fn assert_files_lack(dir: &Path, needle: &str) {
    let mut stack = vec![dir.to_path_buf()];
    let mut scanned = 0;
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).into_iter().flatten().flatten();
            stack.extend(entries.map(|e| e.path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            scanned += 1;
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "the secret is on disk in {}", path.display());
        }
    }
    println!("secret absent from {scanned} files under {}", dir.display());
}

/// The stored secret is an AES-GCM envelope, and no key in etcd holds the plain value.
pub async fn assert_etcd_has_ciphertext(etcd: &str, name: &str, secret: &str) {
    let mut c = etcd_client::Client::connect([etcd], None)
        .await
        .expect("etcd");
    let key = format!("/registry/flotilla.dev/swarmsecrets/default/{name}");
    let stored = c.get(key.as_str(), None).await.expect("etcd get");
    let value = stored.kvs().first().expect("the secret is in etcd").value();
    assert!(
        value.starts_with(b"k8s:enc:aesgcm:v1:"),
        "not encrypted: {:?}",
        &value[..32.min(value.len())]
    );
    let all = c
        .get("/", Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .expect("etcd get all");
    for kv in all.kvs() {
        let found = kv
            .value()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes());
        assert!(
            !found,
            "plain secret under {}",
            String::from_utf8_lossy(kv.key())
        );
    }
}
