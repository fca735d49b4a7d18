//! Encryption at rest, kube-apiserver style (`--encryption-provider-config`).
//!
//! The first provider (and its first key) of the matching rule encrypts; reads try every provider by
//! prefix. `aesgcm` values are `k8s:enc:aesgcm:v1:<key name>:` ‖ 12-byte random nonce ‖ ciphertext+tag
//! with the full etcd key as additional authenticated data, so a value copied under another key does
//! not decrypt. `identity` stores plaintext without a prefix. A value read with anything but the
//! primary provider/key is *stale*: the storage layer should rewrite it even if nothing changed, which
//! is how keys are rotated.

use std::path::Path;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::Nonce;

use super::encryption_config::{self, Cipher, NamedKey, Provider, Rule};

/// The resource whose values Flotilla encrypts by default (as Swarm encrypts its secrets).
pub const SWARM_SECRETS: &str = "swarmsecrets.flotilla.dev";

/// Prefix of every encrypted value.
pub const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("encryption config: {0}")]
    Yaml(String),
    #[error("encryption config: {field}: {reason}")]
    Config { field: String, reason: String },
    #[error("encrypting {resource} with key {key_name:?} failed")]
    Encrypt { resource: String, key_name: String },
    #[error("decrypting {etcd_key} with aesgcm key {key_name:?} failed (wrong key, corrupted, or stored under another key)")]
    Decrypt { etcd_key: String, key_name: String },
    #[error("{etcd_key} is encrypted with {prefix:?}, which no configured provider for {resource} can read")]
    UnknownPrefix {
        etcd_key: String,
        resource: String,
        prefix: String,
    },
    #[error("{etcd_key} is stored unencrypted but {resource} has no identity provider configured")]
    NotEncrypted { etcd_key: String, resource: String },
}

/// The transformers of a loaded encryption config (or none: everything is stored as is).
#[derive(Default)]
pub struct Transformers {
    rules: Vec<Rule>,
}

impl std::fmt::Debug for Transformers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let resources: Vec<&String> = self.rules.iter().flat_map(|r| &r.resources).collect();
        f.debug_struct("Transformers")
            .field("resources", &resources)
            .finish()
    }
}

impl Transformers {
    /// No encryption: every value is stored and read as is.
    pub fn none() -> Transformers {
        Transformers::default()
    }

    /// Loads an `EncryptionConfiguration` file.
    pub fn from_file(path: &Path) -> Result<Transformers, EncryptionError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| EncryptionError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Transformers::from_yaml(&yaml)
    }

    /// Parses an `EncryptionConfiguration` document.
    pub fn from_yaml(yaml: &str) -> Result<Transformers, EncryptionError> {
        Ok(Transformers {
            rules: encryption_config::parse(yaml)?,
        })
    }

    /// Whether values of `resource` (`<plural>.<group>`, e.g. `swarmsecrets.flotilla.dev`) are
    /// encrypted when written.
    pub fn encrypts(&self, resource: &str) -> bool {
        matches!(
            self.rule(resource).map(|r| &r.providers[0]),
            Some(Provider::AesGcm(_))
        )
    }

    /// What the config leaves in plain text, one sentence each, for a warning at start: rules
    /// whose first (writing) provider is `identity`, and SwarmSecrets when no rule names them.
    pub fn plaintext_warnings(&self) -> Vec<String> {
        let mut warnings: Vec<String> = self
            .rules
            .iter()
            .filter(|rule| matches!(rule.providers[0], Provider::Identity))
            .map(|rule| {
                format!(
                    "identity is the first provider for {}: new values are written unencrypted",
                    rule.resources.join(", ")
                )
            })
            .collect();
        if self.rule(SWARM_SECRETS).is_none() {
            warnings.push(format!(
                "no rule names {SWARM_SECRETS}: SwarmSecrets are stored in plain text"
            ));
        }
        warnings
    }

    fn rule(&self, resource: &str) -> Option<&Rule> {
        // The first rule naming the resource wins, as in kube-apiserver.
        self.rules.iter().find(|rule| {
            rule.resources
                .iter()
                .any(|p| encryption_config::pattern_matches(p, resource))
        })
    }

    /// Transforms a value before it is written to `key` (the full etcd key).
    pub fn transform_to_storage(
        &self,
        resource: &str,
        key: &str,
        plain: &[u8],
    ) -> Result<Vec<u8>, EncryptionError> {
        let Some(rule) = self.rule(resource) else {
            return Ok(plain.to_vec());
        };
        match &rule.providers[0] {
            Provider::Identity => Ok(plain.to_vec()),
            Provider::AesGcm(keys) => encrypt(&keys[0], resource, key, plain),
        }
    }

    /// Transforms a value read from `key`. Returns the plaintext and whether it is stale (not written
    /// by the primary provider/key, so it should be rewritten).
    pub fn transform_from_storage(
        &self,
        resource: &str,
        key: &str,
        stored: &[u8],
    ) -> Result<(Vec<u8>, bool), EncryptionError> {
        let Some(rule) = self.rule(resource) else {
            return Ok((stored.to_vec(), false));
        };
        if stored.starts_with(ENCRYPTED_PREFIX) {
            for (p, provider) in rule.providers.iter().enumerate() {
                let Provider::AesGcm(keys) = provider else {
                    continue;
                };
                for (k, named) in keys.iter().enumerate() {
                    if let Some(sealed) = stored.strip_prefix(prefix(&named.name).as_slice()) {
                        let plain = decrypt(named, key, sealed)?;
                        return Ok((plain, p != 0 || k != 0));
                    }
                }
            }
            return Err(EncryptionError::UnknownPrefix {
                etcd_key: key.to_string(),
                resource: resource.to_string(),
                prefix: describe_prefix(stored),
            });
        }
        match rule
            .providers
            .iter()
            .position(|p| matches!(p, Provider::Identity))
        {
            Some(p) => Ok((stored.to_vec(), p != 0)),
            None => Err(EncryptionError::NotEncrypted {
                etcd_key: key.to_string(),
                resource: resource.to_string(),
            }),
        }
    }
}

fn prefix(key_name: &str) -> Vec<u8> {
    format!("k8s:enc:aesgcm:v1:{key_name}:").into_bytes()
}

/// The `k8s:enc:<provider>:<version>:<name>:` part of an unreadable value, for the error message.
fn describe_prefix(stored: &[u8]) -> String {
    let colons: Vec<usize> = stored
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b':')
        .map(|(i, _)| i)
        .collect();
    let end = colons
        .get(4)
        .map(|i| i + 1)
        .unwrap_or(ENCRYPTED_PREFIX.len());
    String::from_utf8_lossy(&stored[..end.min(stored.len())]).into_owned()
}

fn encrypt(
    named: &NamedKey,
    resource: &str,
    key: &str,
    plain: &[u8],
) -> Result<Vec<u8>, EncryptionError> {
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let nonce = Nonce::from_slice(&nonce_bytes);
    let payload = Payload {
        msg: plain,
        aad: key.as_bytes(),
    };
    let sealed = match &named.cipher {
        Cipher::Aes128(c) => c.encrypt(nonce, payload),
        Cipher::Aes192(c) => c.encrypt(nonce, payload),
        Cipher::Aes256(c) => c.encrypt(nonce, payload),
    }
    .map_err(|_| EncryptionError::Encrypt {
        resource: resource.to_string(),
        key_name: named.name.clone(),
    })?;
    let mut out = prefix(&named.name);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn decrypt(named: &NamedKey, key: &str, sealed: &[u8]) -> Result<Vec<u8>, EncryptionError> {
    let failed = || EncryptionError::Decrypt {
        etcd_key: key.to_string(),
        key_name: named.name.clone(),
    };
    if sealed.len() < NONCE_LEN {
        return Err(failed());
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::from_slice(nonce);
    let payload = Payload {
        msg: ciphertext,
        aad: key.as_bytes(),
    };
    match &named.cipher {
        Cipher::Aes128(c) => c.decrypt(nonce, payload),
        Cipher::Aes192(c) => c.decrypt(nonce, payload),
        Cipher::Aes256(c) => c.decrypt(nonce, payload),
    }
    .map_err(|_| failed())
}

#[cfg(test)]
#[path = "encryption_tests.rs"]
mod tests;
