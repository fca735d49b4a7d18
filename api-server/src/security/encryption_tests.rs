use base64::Engine;

use super::*;

const SECRETS: &str = "swarmsecrets.flotilla.dev";
const KEY: &str = "/registry/flotilla.dev/swarmsecrets/default/db-pass";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A config for `resources` whose aesgcm provider has `keys` (name, raw key), optionally followed (or
/// preceded, when `identity_first`) by identity.
fn config(resources: &str, keys: &[(&str, &[u8])], identity: bool, identity_first: bool) -> String {
    let keys: String = keys
        .iter()
        .map(|(name, secret)| {
            format!(
                "          - name: {name}\n            secret: {}\n",
                b64(secret)
            )
        })
        .collect();
    let aes = format!("      - aesgcm:\n          keys:\n{keys}");
    let id = "      - identity: {}\n";
    let providers = match (identity, identity_first) {
        (true, true) => format!("{id}{aes}"),
        (true, false) => format!("{aes}{id}"),
        _ => aes,
    };
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [{resources}]\n    providers:\n{providers}"
    )
}

#[test]
fn aesgcm_round_trip_with_kubernetes_envelope() {
    for size in [16usize, 24, 32] {
        let t =
            Transformers::from_yaml(&config(SECRETS, &[("key1", &vec![7u8; size])], true, false))
                .unwrap();
        let stored = t.transform_to_storage(SECRETS, KEY, b"hunter2").unwrap();
        assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:key1:"), "{size}");
        assert_eq!(stored.len(), "k8s:enc:aesgcm:v1:key1:".len() + 12 + 7 + 16);
        assert!(!stored.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            t.transform_from_storage(SECRETS, KEY, &stored).unwrap(),
            (b"hunter2".to_vec(), false)
        );
        // A fresh nonce every time.
        assert_ne!(
            stored,
            t.transform_to_storage(SECRETS, KEY, b"hunter2").unwrap()
        );
    }
}

#[test]
fn a_value_copied_to_another_key_does_not_decrypt() {
    let t = Transformers::from_yaml(&config(SECRETS, &[("key1", &[1; 32])], false, false)).unwrap();
    let stored = t.transform_to_storage(SECRETS, KEY, b"hunter2").unwrap();
    let other = "/registry/flotilla.dev/swarmsecrets/default/other";
    let err = t
        .transform_from_storage(SECRETS, other, &stored)
        .unwrap_err();
    assert!(
        matches!(err, EncryptionError::Decrypt { ref key_name, .. } if key_name == "key1"),
        "{err}"
    );
    let mut tampered = stored.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(t.transform_from_storage(SECRETS, KEY, &tampered).is_err());
}

#[test]
fn rotation_reads_old_keys_and_marks_them_stale() {
    let old = Transformers::from_yaml(&config(SECRETS, &[("old", &[1; 32])], true, false)).unwrap();
    let written_old = old.transform_to_storage(SECRETS, KEY, b"v1").unwrap();
    let rotated = Transformers::from_yaml(&config(
        SECRETS,
        &[("new", &[2; 32]), ("old", &[1; 32])],
        true,
        false,
    ))
    .unwrap();
    assert_eq!(
        rotated
            .transform_from_storage(SECRETS, KEY, &written_old)
            .unwrap(),
        (b"v1".to_vec(), true)
    );
    let rewritten = rotated.transform_to_storage(SECRETS, KEY, b"v1").unwrap();
    assert!(rewritten.starts_with(b"k8s:enc:aesgcm:v1:new:"));
    assert_eq!(
        rotated
            .transform_from_storage(SECRETS, KEY, &rewritten)
            .unwrap(),
        (b"v1".to_vec(), false)
    );
    // Plaintext written before encryption was enabled is readable through identity, and stale.
    assert_eq!(
        rotated.transform_from_storage(SECRETS, KEY, b"{}").unwrap(),
        (b"{}".to_vec(), true)
    );
    // Once the old key is dropped, old values are reported, not silently misread.
    let dropped =
        Transformers::from_yaml(&config(SECRETS, &[("new", &[2; 32])], true, false)).unwrap();
    let err = dropped
        .transform_from_storage(SECRETS, KEY, &written_old)
        .unwrap_err()
        .to_string();
    assert!(err.contains("k8s:enc:aesgcm:v1:old:"), "{err}");
}

#[test]
fn identity_first_writes_plaintext_and_still_reads_encrypted_values() {
    let enc = Transformers::from_yaml(&config(SECRETS, &[("k", &[3; 16])], false, false)).unwrap();
    let sealed = enc.transform_to_storage(SECRETS, KEY, b"s").unwrap();
    let t = Transformers::from_yaml(&config(SECRETS, &[("k", &[3; 16])], true, true)).unwrap();
    assert!(!t.encrypts(SECRETS));
    assert_eq!(
        t.transform_to_storage(SECRETS, KEY, b"plain").unwrap(),
        b"plain"
    );
    assert_eq!(
        t.transform_from_storage(SECRETS, KEY, b"plain").unwrap(),
        (b"plain".to_vec(), false)
    );
    assert_eq!(
        t.transform_from_storage(SECRETS, KEY, &sealed).unwrap(),
        (b"s".to_vec(), true)
    );
    // Without identity, plaintext is an error rather than passed through.
    let err = enc
        .transform_from_storage(SECRETS, KEY, b"plain")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no identity provider"), "{err}");
}

#[test]
fn unmatched_resources_and_no_config_pass_through() {
    let t = Transformers::from_yaml(&config(SECRETS, &[("k", &[3; 32])], false, false)).unwrap();
    assert!(t.encrypts(SECRETS));
    assert!(!t.encrypts("swarmconfigs.flotilla.dev"));
    let key = "/registry/flotilla.dev/swarmconfigs/default/c";
    assert_eq!(
        t.transform_to_storage("swarmconfigs.flotilla.dev", key, b"cfg")
            .unwrap(),
        b"cfg"
    );
    let none = Transformers::none();
    assert_eq!(none.transform_to_storage(SECRETS, KEY, b"x").unwrap(), b"x");
    assert_eq!(
        none.transform_from_storage(SECRETS, KEY, b"x").unwrap(),
        (b"x".to_vec(), false)
    );
}

#[test]
fn wildcards_match_by_group() {
    let group = Transformers::from_yaml(&config(
        "\"*.flotilla.dev\"",
        &[("k", &[3; 32])],
        false,
        false,
    ))
    .unwrap();
    assert!(group.encrypts(SECRETS) && group.encrypts("tasks.flotilla.dev"));
    assert!(!group.encrypts("leases.coordination.k8s.io") && !group.encrypts("events"));
    let all =
        Transformers::from_yaml(&config("\"*.*\"", &[("k", &[3; 32])], false, false)).unwrap();
    assert!(all.encrypts("leases.coordination.k8s.io") && all.encrypts("events"));
}

#[test]
fn bad_configs_name_the_field() {
    let err = |yaml: &str| Transformers::from_yaml(yaml).unwrap_err().to_string();
    let good = config(SECRETS, &[("key1", &[1; 32])], true, false);
    assert!(err(&good.replace("/v1", "/v2")).contains("apiVersion: must be"));
    assert!(err(&good.replace("kind: Encryption", "kind: X")).contains("kind: must be"));
    let short = config(
        SECRETS,
        &[("key1", &[1; 32]), ("key2", &[1; 10])],
        true,
        false,
    );
    assert_eq!(
        err(&short),
        "encryption config: resources[0].providers[0].aesgcm.keys[1].secret: must decode to 16, 24 or 32 bytes, got 10"
    );
    let dup = config(
        SECRETS,
        &[("key1", &[1; 32]), ("key1", &[2; 32])],
        true,
        false,
    );
    assert!(err(&dup).contains("resources[0].providers[0].aesgcm.keys[1].name: duplicate key name"));
    assert!(err(&good.replace("secret: ", "secret: ab*"))
        .contains("keys[0].secret: is not valid base64"));
    assert!(err(&good.replace("aesgcm", "aescbc"))
        .contains("resources[0].providers[0].aescbc: provider is not supported"));
    assert!(err(&good.replace("identity", "rot13"))
        .contains("resources[0].providers[1]: unknown provider type \"rot13\""));
    assert!(
        err(&good.replace(SECRETS, "")).contains("resources[0].resources: must list at least one")
    );
    assert!(
        err(&good.replace(SECRETS, "swarm*.flotilla.dev")).contains("resources[0].resources[0]")
    );
    assert!(err("apiVersion: [").starts_with("encryption config:"));
}

#[test]
fn loads_from_a_file_and_names_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enc.yaml");
    std::fs::write(&path, config(SECRETS, &[("k", &[9; 32])], true, false)).unwrap();
    assert!(Transformers::from_file(&path).unwrap().encrypts(SECRETS));
    let err = Transformers::from_file(&dir.path().join("missing.yaml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.yaml"), "{err}");
}

#[test]
fn identity_first_and_uncovered_secrets_are_warned_about() {
    let encrypted = config(SECRETS, &[("k", &[3; 32])], true, false);
    assert!(Transformers::from_yaml(&encrypted)
        .unwrap()
        .plaintext_warnings()
        .is_empty());
    let identity_first = config(SECRETS, &[("k", &[3; 32])], true, true);
    let warnings = Transformers::from_yaml(&identity_first)
        .unwrap()
        .plaintext_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("identity is the first provider for swarmsecrets.flotilla.dev"),
        "{warnings:?}"
    );
    let others = config("swarmconfigs.flotilla.dev", &[("k", &[3; 32])], true, false);
    let warnings = Transformers::from_yaml(&others)
        .unwrap()
        .plaintext_warnings();
    assert_eq!(
        warnings,
        ["no rule names swarmsecrets.flotilla.dev: SwarmSecrets are stored in plain text"]
    );
}
