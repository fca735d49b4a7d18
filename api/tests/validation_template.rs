//! Task-template rules (resources, restart policy, placement, networks), each with its exact
//! field path.

mod common;

use common::{err, errors, pairs, service, validate};
use flotilla_api::FieldErrorKind::*;
use pretty_assertions::assert_eq;
use serde_json::{json, Value};

fn template(patch: Value) -> Value {
    service(json!({"taskTemplate": patch}))
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
    let s = template(json!({"networks": [{"target": "Back_End"}]}));
    assert_eq!(
        errors(&s),
        err("spec.taskTemplate.networks[0].target", Invalid)
    );
}
