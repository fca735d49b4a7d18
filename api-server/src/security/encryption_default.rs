//! Encryption at rest without an operator's config. Swarm encrypts its store always; Flotilla
//! does too: with no `--encryption-provider-config`, the api-server generates an
//! `EncryptionConfiguration` with a random AES-GCM key once, under its `--data-dir`
//! (`encryption/encryption.yaml`, directory 0700, file 0600), and reads it back on every later
//! start so what was written stays readable. `flotilla up` and `flotilla certs` write the same
//! kind of file and pass it explicitly.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::encryption::{EncryptionError, Transformers, SWARM_SECRETS};
use super::encryption_config;

/// Subdirectory of the api-server's data dir holding the generated config.
pub const DEFAULT_DIR: &str = "encryption";
/// File name of a generated config.
pub const CONFIG_FILE: &str = "encryption.yaml";

/// Resources Flotilla encrypts by default: SwarmSecrets (as in Swarm; SwarmConfigs stay plain text).
pub const DEFAULT_ENCRYPTED_RESOURCES: [&str; 1] = [SWARM_SECRETS];

/// The transformers of `<data_dir>/encryption/encryption.yaml`, generated first if absent.
/// An existing file is never replaced (its key is what reads the stored secrets): a broken one
/// is an error to fix, not a reason to start over.
pub fn load_or_generate(data_dir: &Path) -> Result<(Transformers, PathBuf), EncryptionError> {
    let path = data_dir.join(DEFAULT_DIR).join(CONFIG_FILE);
    if ensure_config_file(&path)? {
        tracing::info!(config = %path.display(), "generated an encryption key for secrets at rest");
    }
    Ok((Transformers::from_file(&path)?, path))
}

/// An `EncryptionConfiguration` encrypting `resources` with a fresh random 32-byte aesgcm key named
/// `key1`, followed by `identity` so values written before encryption was enabled stay readable
/// (and are re-encrypted when next written).
pub fn generate_config(resources: &[&str]) -> String {
    use base64::Engine;
    let key: [u8; 32] = rand::random();
    let secret = base64::engine::general_purpose::STANDARD.encode(key);
    let resources: Vec<String> = resources.iter().map(|r| format!("{r:?}")).collect();
    format!(
        "apiVersion: {}\nkind: {}\nresources:\n  - resources: [{}]\n    providers:\n      - aesgcm:\n          keys:\n            - name: key1\n              secret: {secret}\n      - identity: {{}}\n",
        encryption_config::API_VERSION,
        encryption_config::KIND,
        resources.join(", ")
    )
}

/// Writes a generated config for [`DEFAULT_ENCRYPTED_RESOURCES`] to `path` (mode 0600, its
/// directory 0700) unless the file already exists. Returns whether a file was created.
pub fn ensure_config_file(path: &Path) -> Result<bool, EncryptionError> {
    let io = |source| EncryptionError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io)?;
        // The key's directory is for its owner only, like the PKI directory.
        fs::set_permissions(parent, fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    if path.exists() {
        return Ok(false);
    }
    let yaml = generate_config(&DEFAULT_ENCRYPTED_RESOURCES);
    super::pki::write_file(path, yaml.as_bytes(), 0o600).map_err(|e| match e {
        super::pki::PkiError::Io { source, .. } => io(source),
        other => EncryptionError::Yaml(other.to_string()),
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "/registry/flotilla.dev/swarmsecrets/default/db-pass";

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn generated_configs_encrypt_secrets_with_a_fresh_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf/encryption.yaml");
        assert!(ensure_config_file(&path).unwrap());
        let first = fs::read_to_string(&path).unwrap();
        assert!(
            !ensure_config_file(&path).unwrap(),
            "an existing file is kept"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), first);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("conf")), 0o700);

        let t = Transformers::from_file(&path).unwrap();
        assert!(t.encrypts(SWARM_SECRETS));
        assert!(!t.encrypts("swarmconfigs.flotilla.dev"));
        assert!(t.plaintext_warnings().is_empty());
        let sealed = t.transform_to_storage(SWARM_SECRETS, KEY, b"pw").unwrap();
        assert!(sealed.starts_with(b"k8s:enc:aesgcm:v1:key1:"));
        assert_eq!(
            t.transform_from_storage(SWARM_SECRETS, KEY, b"old plain")
                .unwrap(),
            (b"old plain".to_vec(), true)
        );
        // Another generated config has another key.
        let other = Transformers::from_yaml(&generate_config(&[SWARM_SECRETS])).unwrap();
        assert!(other
            .transform_from_storage(SWARM_SECRETS, KEY, &sealed)
            .is_err());
    }

    #[test]
    fn the_default_key_is_generated_once_and_reused() {
        let data = tempfile::tempdir().unwrap();
        let (first, path) = load_or_generate(data.path()).unwrap();
        assert_eq!(path, data.path().join("encryption/encryption.yaml"));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let sealed = first
            .transform_to_storage(SWARM_SECRETS, KEY, b"pw")
            .unwrap();
        let (again, _) = load_or_generate(data.path()).unwrap();
        assert_eq!(
            again
                .transform_from_storage(SWARM_SECRETS, KEY, &sealed)
                .unwrap(),
            (b"pw".to_vec(), false),
            "a restart reads with the same key"
        );
    }

    #[test]
    fn a_broken_default_config_is_an_error_not_replaced() {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().join("encryption/encryption.yaml");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "kind: [").unwrap();
        let err = load_or_generate(data.path()).unwrap_err().to_string();
        assert!(err.starts_with("encryption config:"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "kind: [");
    }
}
