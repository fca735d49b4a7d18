//! Parsing and validation of Kubernetes' `EncryptionConfiguration` (`--encryption-provider-config`).
//! Supported providers: `aesgcm` and `identity`. Errors name the field at fault, e.g.
//! `resources[0].providers[0].aesgcm.keys[1].secret: …`.

use aes_gcm::aead::consts::U12;
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, KeyInit};
use base64::Engine;
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use super::encryption::EncryptionError;

pub const API_VERSION: &str = "apiserver.config.k8s.io/v1";
pub const KIND: &str = "EncryptionConfiguration";

pub(crate) type Aes192Gcm = AesGcm<Aes192, U12>;

/// An AES-GCM cipher of one of the three key sizes.
pub(crate) enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes192(Box<Aes192Gcm>),
    Aes256(Box<Aes256Gcm>),
}

pub(crate) struct NamedKey {
    pub name: String,
    pub cipher: Cipher,
}

pub(crate) enum Provider {
    AesGcm(Vec<NamedKey>),
    Identity,
}

/// One `resources[]` entry: which resources, and their providers (the first one writes).
pub(crate) struct Rule {
    pub resources: Vec<String>,
    pub providers: Vec<Provider>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    api_version: Option<String>,
    kind: Option<String>,
    resources: Option<Vec<RawRule>>,
}

#[derive(Deserialize)]
struct RawRule {
    resources: Option<Vec<String>>,
    providers: Option<Vec<Mapping>>,
}

fn field(field: impl Into<String>, reason: impl Into<String>) -> EncryptionError {
    EncryptionError::Config {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn parse(yaml: &str) -> Result<Vec<Rule>, EncryptionError> {
    let raw: RawConfig =
        serde_yaml_ng::from_str(yaml).map_err(|e| EncryptionError::Yaml(e.to_string()))?;
    if raw.api_version.as_deref() != Some(API_VERSION) {
        return Err(field(
            "apiVersion",
            format!(
                "must be {API_VERSION:?}, got {:?}",
                raw.api_version.unwrap_or_default()
            ),
        ));
    }
    if raw.kind.as_deref() != Some(KIND) {
        return Err(field(
            "kind",
            format!("must be {KIND:?}, got {:?}", raw.kind.unwrap_or_default()),
        ));
    }
    let entries = raw
        .resources
        .filter(|r| !r.is_empty())
        .ok_or_else(|| field("resources", "must list at least one entry"))?;
    let mut seen: Vec<String> = Vec::new();
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| parse_rule(&format!("resources[{i}]"), entry, &mut seen))
        .collect()
}

fn parse_rule(path: &str, raw: RawRule, seen: &mut Vec<String>) -> Result<Rule, EncryptionError> {
    let resources = raw.resources.filter(|r| !r.is_empty()).ok_or_else(|| {
        field(
            format!("{path}.resources"),
            "must list at least one resource",
        )
    })?;
    for (j, resource) in resources.iter().enumerate() {
        let at = format!("{path}.resources[{j}]");
        validate_resource(resource).map_err(|reason| field(&at, reason))?;
        if seen.contains(resource) {
            return Err(field(at, format!("{resource:?} is listed more than once")));
        }
        seen.push(resource.clone());
    }
    let providers = raw.providers.filter(|p| !p.is_empty()).ok_or_else(|| {
        field(
            format!("{path}.providers"),
            "must list at least one provider",
        )
    })?;
    let providers = providers
        .iter()
        .enumerate()
        .map(|(j, p)| parse_provider(&format!("{path}.providers[{j}]"), p))
        .collect::<Result<_, _>>()?;
    Ok(Rule {
        resources,
        providers,
    })
}

/// `<plural>` (core group), `<plural>.<group>`, `*.<group>`, `*.*`.
fn validate_resource(resource: &str) -> Result<(), String> {
    let (plural, _group) = resource.split_once('.').unwrap_or((resource, ""));
    if plural.is_empty() || resource.chars().any(char::is_whitespace) {
        return Err(format!(
            "{resource:?} is not a resource (want <plural>.<group>, *.<group> or *.*)"
        ));
    }
    if plural.contains('*') && plural != "*" {
        return Err(format!(
            "{resource:?}: only a whole plural can be the wildcard *"
        ));
    }
    Ok(())
}

fn parse_provider(path: &str, provider: &Mapping) -> Result<Provider, EncryptionError> {
    if provider.len() != 1 {
        return Err(field(
            path,
            "must have exactly one provider type (aesgcm or identity)",
        ));
    }
    let (name, config) = provider.iter().next().expect("one entry");
    match name.as_str().unwrap_or_default() {
        "identity" => Ok(Provider::Identity),
        "aesgcm" => parse_aesgcm(&format!("{path}.aesgcm"), config),
        other @ ("aescbc" | "secretbox" | "kms") => Err(field(
            format!("{path}.{other}"),
            "provider is not supported (use aesgcm or identity)",
        )),
        other => Err(field(
            path,
            format!("unknown provider type {other:?} (want aesgcm or identity)"),
        )),
    }
}

fn parse_aesgcm(path: &str, config: &Value) -> Result<Provider, EncryptionError> {
    let keys = config
        .get("keys")
        .and_then(Value::as_sequence)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| field(format!("{path}.keys"), "must list at least one key"))?;
    let mut parsed: Vec<NamedKey> = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let at = format!("{path}.keys[{k}]");
        let name = key.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() || name.contains(':') {
            return Err(field(
                format!("{at}.name"),
                "must be non-empty and contain no ':'",
            ));
        }
        if parsed.iter().any(|p| p.name == name) {
            return Err(field(
                format!("{at}.name"),
                format!("duplicate key name {name:?}"),
            ));
        }
        let secret = key
            .get("secret")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let cipher =
            cipher_from_secret(secret).map_err(|reason| field(format!("{at}.secret"), reason))?;
        parsed.push(NamedKey {
            name: name.to_string(),
            cipher,
        });
    }
    Ok(Provider::AesGcm(parsed))
}

fn cipher_from_secret(secret: &str) -> Result<Cipher, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .map_err(|e| format!("is not valid base64: {e}"))?;
    let bad = |_| "invalid key".to_string();
    match bytes.len() {
        16 => Ok(Cipher::Aes128(Box::new(
            Aes128Gcm::new_from_slice(&bytes).map_err(bad)?,
        ))),
        24 => Ok(Cipher::Aes192(Box::new(
            Aes192Gcm::new_from_slice(&bytes).map_err(bad)?,
        ))),
        32 => Ok(Cipher::Aes256(Box::new(
            Aes256Gcm::new_from_slice(&bytes).map_err(bad)?,
        ))),
        n => Err(format!("must decode to 16, 24 or 32 bytes, got {n}")),
    }
}

/// Whether a config pattern (`swarmsecrets.flotilla.dev`, `*.flotilla.dev`, `*.*`) matches the
/// resource `<plural>.<group>` (or `<plural>` for the core group).
pub(crate) fn pattern_matches(pattern: &str, resource: &str) -> bool {
    if pattern == resource || pattern == "*.*" {
        return true;
    }
    let group = resource.split_once('.').map(|(_, g)| g).unwrap_or("");
    match pattern.strip_prefix("*.") {
        Some(wanted_group) => wanted_group == group,
        None => false,
    }
}
