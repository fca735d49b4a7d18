//! Task-template rules (container, mounts, secret/config refs, healthcheck, resources, restart,
//! placement, networks), each with its exact field path.

mod common;

use common::{err, errors, pairs, service, validate};
use flotilla_api::FieldErrorKind::*;
use pretty_assertions::assert_eq;
use serde_json::{json, Value};

const C: &str = "spec.taskTemplate.containerSpec";

fn container(patch: Value) -> Value {
    service(json!({"taskTemplate": {"containerSpec": patch}}))
}

fn template(patch: Value) -> Value {
    service(json!({"taskTemplate": patch}))
}

#[test]
fn image_is_required() {
    assert_eq!(
        errors(&container(json!({"image": " "}))),
        err(&format!("{C}.image"), Required)
    );
}

#[test]
fn stop_grace_period_and_pids_limit() {
    let s = container(json!({"stopGracePeriod": "-1s", "pidsLimit": -1}));
    assert_eq!(
        errors(&s),
        vec![
            (format!("{C}.stopGracePeriod"), Invalid),
            (format!("{C}.pidsLimit"), Invalid)
        ]
    );
    let s = container(json!({"stopGracePeriod": "10"}));
    let errs = validate(&s, None);
    assert_eq!(
        errs[0].to_string(),
        format!(
            "{C}.stopGracePeriod: Invalid value: \"10\": missing unit in duration \"10\": valid \
             units are ns, us, ms, s, m, h"
        )
    );
}

#[test]
fn mount_targets_required_and_unique() {
    let s = container(json!({"mounts": [
        {"target": "", "source": "a"},
        {"target": "/data", "source": "a"},
        {"target": "/data", "source": "b"},
    ]}));
    let errs = validate(&s, None);
    assert_eq!(
        pairs(&errs),
        vec![
            (format!("{C}.mounts[0].target"), Required),
            (format!("{C}.mounts[2].target"), Duplicate)
        ]
    );
    assert_eq!(errs[1].message, "duplicate mount point");
}

#[test]
fn mount_sources_by_type() {
    let s = container(json!({"mounts": [
        {"type": "bind", "target": "/a"},
        {"type": "bind", "target": "/b", "source": "relative/path"},
        {"type": "volume", "target": "/c", "source": "/host/path"},
        {"type": "tmpfs", "target": "/d", "source": "x"},
        {"type": "bind", "target": "/e", "source": "/srv/e"},
        {"target": "/f"},
    ]}));
    assert_eq!(
        errors(&s),
        vec![
            (format!("{C}.mounts[0].source"), Required),
            (format!("{C}.mounts[1].source"), Invalid),
            (format!("{C}.mounts[2].source"), Invalid),
            (format!("{C}.mounts[3].source"), Forbidden),
        ]
    );
}

#[test]
fn mount_options_must_match_type() {
    let s = container(json!({"mounts": [
        {"type": "volume", "target": "/a", "bindOptions": {"propagation": "rshared"}},
        {"type": "bind", "source": "/x", "target": "/b", "volumeOptions": {"noCopy": true}},
        {"type": "volume", "target": "/c", "tmpfsOptions": {"sizeBytes": 1}},
        {"type": "tmpfs", "target": "/d", "tmpfsOptions": {"sizeBytes": -1, "mode": 9999}},
    ]}));
    assert_eq!(
        errors(&s),
        vec![
            (format!("{C}.mounts[0].bindOptions"), Forbidden),
            (format!("{C}.mounts[1].volumeOptions"), Forbidden),
            (format!("{C}.mounts[2].tmpfsOptions"), Forbidden),
            (format!("{C}.mounts[3].tmpfsOptions.sizeBytes"), Invalid),
            (format!("{C}.mounts[3].tmpfsOptions.mode"), Invalid),
        ]
    );
}

#[test]
fn secret_refs_need_names_and_distinct_targets() {
    let s = container(json!({"secrets": [
        {"secretName": ""},
        {"secretName": "a"},
        {"secretName": "b", "file": {"name": "a"}},
        {"secretName": "c", "file": {"name": "", "mode": 512}},
    ]}));
    let errs = validate(&s, None);
    assert_eq!(
        pairs(&errs),
        vec![
            (format!("{C}.secrets[0].secretName"), Required),
            (format!("{C}.secrets[2].file.name"), Duplicate),
            (format!("{C}.secrets[3].file.mode"), Invalid),
            (format!("{C}.secrets[3].file.name"), Required),
        ]
    );
    assert_eq!(
        errs[1].message,
        "secret references 'a' and 'b' have a conflicting target: 'a'"
    );
}

#[test]
fn config_refs_need_names_and_distinct_targets() {
    let s = container(json!({"configs": [
        {"configName": "app", "file": {"name": "/etc/app.conf"}},
        {"configName": "other", "file": {"name": "/etc/app.conf"}},
        {"configName": "cred", "runtime": {}},
        {"configName": "cred2", "runtime": {}},
        {"configName": "both", "runtime": {}, "file": {"name": "x"}},
        {"configName": ""},
    ]}));
    let errs = validate(&s, None);
    assert_eq!(
        pairs(&errs),
        vec![
            (format!("{C}.configs[4]"), Invalid),
            (format!("{C}.configs[1].file.name"), Duplicate),
            (format!("{C}.configs[5].configName"), Required),
        ]
    );
    // A secret and a config may share a file name: they land in different directories.
    let s = container(json!({"secrets": [{"secretName": "x"}], "configs": [{"configName": "x"}]}));
    assert_eq!(errors(&s), vec![]);
}

#[test]
fn healthcheck_rules() {
    let s = container(json!({"healthcheck": {
        "test": ["CURL", "x"],
        "interval": "500us",
        "timeout": "-1s",
        "startPeriod": "1ms",
        "startInterval": "0s",
        "retries": -1,
    }}));
    let errs = validate(&s, None);
    let h = format!("{C}.healthcheck");
    assert_eq!(
        pairs(&errs),
        vec![
            (format!("{h}.test[0]"), NotSupported),
            (format!("{h}.interval"), Invalid),
            (format!("{h}.timeout"), Invalid),
            (format!("{h}.retries"), Invalid),
        ]
    );
    assert_eq!(errs[1].message, "must be 0 or at least 1ms");
    let ok = container(json!({"healthcheck": {"test": ["CMD-SHELL", "true"], "interval": "0"}}));
    assert_eq!(errors(&ok), vec![]);
    let none = container(json!({"healthcheck": {"test": ["NONE"]}}));
    assert_eq!(errors(&none), vec![]);
}

#[test]
fn resource_minimums() {
    let s = template(json!({"resources": {
        "limits": {"nanoCpus": 999_999, "memoryBytes": 4_194_303},
        "reservations": {"nanoCpus": -1, "memoryBytes": -1},
    }}));
    let r = "spec.taskTemplate.resources";
    let errs = validate(&s, None);
    assert_eq!(
        pairs(&errs),
        vec![
            (format!("{r}.limits.nanoCpus"), Invalid),
            (format!("{r}.limits.memoryBytes"), Invalid),
            (format!("{r}.reservations.nanoCpus"), Invalid),
            (format!("{r}.reservations.memoryBytes"), Invalid),
        ]
    );
    assert_eq!(
        errs[0].message,
        "must be 0 or at least 0.001 CPU (1000000 nanoCPUs)"
    );
    assert_eq!(
        errs[1].message,
        "must be 0 or at least 4MiB (4194304 bytes)"
    );
    let ok = template(json!({"resources": {
        "limits": {"nanoCpus": 1_000_000, "memoryBytes": 4_194_304},
        "reservations": {"nanoCpus": 0, "memoryBytes": 0},
    }}));
    assert_eq!(errors(&ok), vec![]);
}

#[test]
fn generic_resources() {
    let s = template(json!({"resources": {"reservations": {"generic": [
        {"kind": "", "discreteValue": 1},
        {"kind": "GPU"},
        {"kind": "SSD", "discreteValue": -2},
        {"kind": "GPU", "namedValue": "uuid-1"},
    ]}}}));
    let g = "spec.taskTemplate.resources.reservations.generic";
    assert_eq!(
        errors(&s),
        vec![
            (format!("{g}[0].kind"), Required),
            (format!("{g}[1]"), Invalid),
            (format!("{g}[2].discreteValue"), Invalid),
        ]
    );
}

#[test]
fn restart_policy_rules() {
    let s = template(json!({"restartPolicy": {"delay": "-5s", "window": "x", "maxAttempts": -1}}));
    let r = "spec.taskTemplate.restartPolicy";
    assert_eq!(
        errors(&s),
        vec![
            (format!("{r}.delay"), Invalid),
            (format!("{r}.window"), Invalid),
            (format!("{r}.maxAttempts"), Invalid),
        ]
    );
}

#[test]
fn constraint_grammar() {
    let s = template(json!({"placement": {"constraints": [
        "node.role==manager",
        "node.role=manager",
        "node.labels.zone != eu-1",
        "node.color==red",
        "node.hostname==<bad>",
        "node.ip==10.0.0.0/24",
        "node.ip==not-an-ip",
        "engine.labels.os==linux",
    ]}}));
    let p = "spec.taskTemplate.placement.constraints";
    let errs = validate(&s, None);
    assert_eq!(
        pairs(&errs),
        vec![
            (format!("{p}[1]"), Invalid),
            (format!("{p}[3]"), Invalid),
            (format!("{p}[4]"), Invalid),
            (format!("{p}[6]"), Invalid),
        ]
    );
    assert_eq!(
        errs[0].to_string(),
        format!("{p}[1]: Invalid value: \"node.role=manager\": constraint expected one operator from ==, !=")
    );
}

#[test]
fn placement_preferences_and_max_replicas() {
    let s = template(json!({"placement": {
        "preferences": [{"spread": {"spreadDescriptor": "node.labels.zone"}},
                        {"spread": {"spreadDescriptor": "zone"}}],
        "maxReplicas": -1,
    }}));
    let p = "spec.taskTemplate.placement";
    assert_eq!(
        errors(&s),
        vec![
            (
                format!("{p}.preferences[1].spread.spreadDescriptor"),
                Invalid
            ),
            (format!("{p}.maxReplicas"), Invalid),
        ]
    );
}

#[test]
fn networks_and_force_update() {
    let s = template(json!({
        "networks": [{"target": "backend"}, {"target": ""}, {"target": "backend"}],
        "forceUpdate": -1,
    }));
    assert_eq!(
        errors(&s),
        vec![
            ("spec.taskTemplate.networks[1].target".to_string(), Required),
            (
                "spec.taskTemplate.networks[2].target".to_string(),
                Duplicate
            ),
            ("spec.taskTemplate.forceUpdate".to_string(), Invalid),
        ]
    );
}
