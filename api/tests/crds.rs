//! The committed CRDs and the golden schemas match what the types generate.
//!
//! Regenerate after changing a type:
//!   cargo run -p flotilla-cli -- crdgen --out-dir deploy/crds
//!   UPDATE_GOLDEN=1 cargo nextest run -p flotilla-api --test crds

use std::path::PathBuf;

use pretty_assertions::assert_eq;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_crds_match_the_types() {
    let dir = repo().join("deploy/crds");
    for crd in flotilla_api::crds() {
        let name = crd.metadata.name.clone().unwrap();
        let path = dir.join(format!("{name}.yaml"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == flotilla_api::crd_yaml(&crd),
            "{} is out of date: run `cargo run -p flotilla-cli -- crdgen --out-dir deploy/crds`",
            path.display()
        );
    }
}

#[test]
fn crds_come_in_a_fixed_order() {
    let kinds: Vec<String> = flotilla_api::crds()
        .into_iter()
        .map(|c| c.spec.names.kind)
        .collect();
    assert_eq!(kinds, flotilla_api::KINDS);
    let yaml = flotilla_api::crds_yaml();
    assert_eq!(yaml.matches("---\n").count(), 6);
}

#[test]
fn schemas_match_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for crd in flotilla_api::crds() {
        let kind = crd.spec.names.kind.clone();
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref();
        let actual = serde_json::to_string_pretty(&schema.unwrap()).unwrap() + "\n";
        let path = repo().join(format!("api/tests/golden/{kind}.schema.json"));
        if update {
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "{} missing: run with UPDATE_GOLDEN=1 to create it",
                path.display()
            )
        });
        assert_eq!(
            golden, actual,
            "{kind} schema changed: review, then rerun with UPDATE_GOLDEN=1"
        );
    }
}

#[test]
fn service_scale_subresource_targets_replicated_replicas() {
    let crd = &flotilla_api::crds()[0];
    let scale = crd.spec.versions[0]
        .subresources
        .as_ref()
        .unwrap()
        .scale
        .as_ref()
        .unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.mode.replicated.replicas");
    assert_eq!(scale.status_replicas_path, ".status.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    assert_eq!(
        crd.spec.names.short_names.as_deref(),
        Some(&["ssvc".to_string()][..])
    );
}

#[test]
fn optional_enums_have_no_null_value() {
    // `nullable: true` already admits null; a literal null in `enum` confuses enum-aware tooling.
    let yaml = flotilla_api::crds_yaml();
    assert!(!yaml.contains("- null"), "an enum lists null");
    assert!(yaml.contains("nullable: true"));
}

#[test]
fn task_fields_are_selectable_in_a_real_cluster_too() {
    let crd = &flotilla_api::crds()[1];
    let paths: Vec<String> = crd.spec.versions[0]
        .selectable_fields
        .iter()
        .flatten()
        .map(|f| f.json_path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            ".spec.nodeName",
            ".spec.serviceName",
            ".spec.desiredState",
            ".status.state"
        ]
    );
}
