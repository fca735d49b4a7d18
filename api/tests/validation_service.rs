//! SwarmService rules: modes, endpoint, update/rollback config, update-time immutability,
//! and decode errors, each with its exact field path.

mod common;

use common::{err, errors, service, update_errors, validate};
use flotilla_api::FieldErrorKind::{self, *};
use pretty_assertions::assert_eq;
use serde_json::json;

fn none() -> Vec<(String, FieldErrorKind)> {
    Vec::new()
}

#[test]
fn a_minimal_service_is_valid() {
    assert_eq!(errors(&service(json!({}))), none());
}

#[test]
fn exactly_one_mode() {
    assert_eq!(
        errors(&service(json!({"mode": {}}))),
        err("spec.mode", Required)
    );
    let two = service(json!({"mode": {"replicated": {"replicas": 1}, "global": {}}}));
    let errs = validate(&two, None);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].to_string(),
        "spec.mode: Invalid value: \"replicated, global\": exactly one of replicated, global, \
         replicatedJob or globalJob may be set"
    );
}

#[test]
fn replicas_and_job_counts_non_negative() {
    let s = service(json!({"mode": {"replicated": {"replicas": -1}}}));
    let errs = validate(&s, None);
    assert_eq!(
        errs[0].to_string(),
        "spec.mode.replicated.replicas: Invalid value: \"-1\": must be greater than or equal to 0"
    );
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errors(&service(json!({"mode": {"replicated": {"replicas": 0}}}))),
        none()
    );
    let s =
        service(json!({"mode": {"replicatedJob": {"maxConcurrent": -1, "totalCompletions": -2}}}));
    assert_eq!(
        errors(&s),
        vec![
            ("spec.mode.replicatedJob.maxConcurrent".to_string(), Invalid),
            (
                "spec.mode.replicatedJob.totalCompletions".to_string(),
                Invalid
            ),
        ]
    );
}

#[test]
fn jobs_may_not_have_an_update_config() {
    for mode in [json!({"replicatedJob": {}}), json!({"globalJob": {}})] {
        let s = service(json!({"mode": mode, "updateConfig": {"parallelism": 1}}));
        let errs = validate(&s, None);
        assert_eq!(common::pairs(&errs), err("spec.updateConfig", Forbidden));
        assert_eq!(errs[0].message, "Jobs may not have an update config");
    }
    let s = service(json!({"mode": {"globalJob": {}}, "rollbackConfig": {"parallelism": 1}}));
    assert_eq!(errors(&s), none());
}

#[test]
fn update_config_rules() {
    for (field, value, path) in [
        ("parallelism", json!(-1), "spec.updateConfig.parallelism"),
        ("delay", json!("-1s"), "spec.updateConfig.delay"),
        ("delay", json!("soon"), "spec.updateConfig.delay"),
        ("monitor", json!("5"), "spec.updateConfig.monitor"),
        (
            "maxFailureRatio",
            json!(1.5),
            "spec.updateConfig.maxFailureRatio",
        ),
        (
            "maxFailureRatio",
            json!(-0.1),
            "spec.updateConfig.maxFailureRatio",
        ),
    ] {
        let s = service(json!({"updateConfig": {field: value}}));
        assert_eq!(errors(&s), err(path, Invalid), "{field}={value}");
    }
    let ok = service(
        json!({"updateConfig": {"maxFailureRatio": 1.0, "parallelism": 0,
        "delay": "1m30s", "failureAction": "rollback", "order": "start-first"}}),
    );
    assert_eq!(errors(&ok), none());
}

#[test]
fn rollback_config_rules() {
    let s = service(json!({"rollbackConfig": {"failureAction": "rollback"}}));
    let errs = validate(&s, None);
    assert_eq!(
        common::pairs(&errs),
        err("spec.rollbackConfig.failureAction", NotSupported)
    );
    assert_eq!(
        errs[0].to_string(),
        "spec.rollbackConfig.failureAction: Unsupported value: \"rollback\": supported values: \
         \"pause\", \"continue\""
    );
    let s = service(json!({"rollbackConfig": {"monitor": "-5s", "maxFailureRatio": 2.0}}));
    assert_eq!(
        errors(&s),
        vec![
            ("spec.rollbackConfig.monitor".to_string(), Invalid),
            ("spec.rollbackConfig.maxFailureRatio".to_string(), Invalid),
        ]
    );
}

#[test]
fn port_ranges() {
    let ports = json!({"endpoint": {"ports": [
        {"targetPort": 0},
        {"targetPort": 65536},
        {"targetPort": 80, "publishedPort": 70000},
        {"targetPort": 80, "publishedPort": -1},
        {"targetPort": 80, "publishedPort": 0},
        {"targetPort": 65535, "publishedPort": 65535},
    ]}});
    assert_eq!(
        errors(&service(ports)),
        vec![
            ("spec.endpoint.ports[0].targetPort".to_string(), Invalid),
            ("spec.endpoint.ports[1].targetPort".to_string(), Invalid),
            ("spec.endpoint.ports[2].publishedPort".to_string(), Invalid),
            ("spec.endpoint.ports[3].publishedPort".to_string(), Invalid),
        ]
    );
}

#[test]
fn duplicate_published_ports_per_protocol() {
    let ports = json!({"endpoint": {"ports": [
        {"targetPort": 80, "publishedPort": 8080},
        {"targetPort": 81, "publishedPort": 8080, "protocol": "udp"},
        {"targetPort": 82, "publishedPort": 8080, "protocol": "tcp"},
        {"targetPort": 83},
        {"targetPort": 84},
    ]}});
    let errs = validate(&service(ports), None);
    assert_eq!(
        common::pairs(&errs),
        err("spec.endpoint.ports[2].publishedPort", Duplicate)
    );
    assert_eq!(
        errs[0].to_string(),
        "spec.endpoint.ports[2].publishedPort: Duplicate value: \"8080/tcp\": duplicate published \
         ports provided"
    );
}

#[test]
fn dnsrr_rejects_ingress_ports() {
    let s = service(json!({"endpoint": {"mode": "dnsrr", "ports": [
        {"targetPort": 80, "publishedPort": 8080, "publishMode": "host"},
        {"targetPort": 81, "publishedPort": 8081},
    ]}}));
    let errs = validate(&s, None);
    assert_eq!(
        common::pairs(&errs),
        err("spec.endpoint.ports[1].publishMode", Invalid)
    );
    assert_eq!(
        errs[0].message,
        "port published with ingress mode can't be used with dnsrr mode"
    );
}

#[test]
fn mode_type_cannot_change_on_update() {
    let old = service(json!({"mode": {"replicated": {"replicas": 2}}}));
    let scaled = service(json!({"mode": {"replicated": {"replicas": 5}}}));
    assert_eq!(update_errors(&scaled, &old), none());
    let global = service(json!({"mode": {"global": {}}}));
    let errs = validate(&global, Some(&old));
    assert_eq!(common::pairs(&errs), err("spec.mode", Forbidden));
    assert!(
        errs[0]
            .message
            .starts_with("service mode change is not allowed"),
        "{}",
        errs[0]
    );
    // An unset mode means replicated, so adding it explicitly is not a change.
    let implicit = service(json!({}));
    assert_eq!(update_errors(&old, &implicit), none());
}

#[test]
fn scaling_a_global_service_is_rejected() {
    // What `kubectl scale` does to a global service: writes .spec.mode.replicated.replicas.
    let s = service(json!({"mode": {"global": {}, "replicated": {"replicas": 3}}}));
    assert_eq!(errors(&s), err("spec.mode", Invalid));
}

#[test]
fn decode_errors_name_the_field() {
    let s = service(json!({"endpoint": {"ports": [{"targetPort": 80, "protocol": "tcpp"}]}}));
    let errs = validate(&s, None);
    assert_eq!(
        common::pairs(&errs),
        err("spec.endpoint.ports[0].protocol", NotSupported)
    );
    assert_eq!(
        errs[0].to_string(),
        "spec.endpoint.ports[0].protocol: Unsupported value: \"tcpp\": supported values: \
         \"tcp\", \"udp\", \"sctp\""
    );
    let s = service(json!({"taskTemplate": {"containerSpec": {"image": null}}}));
    assert_eq!(
        errors(&s),
        err("spec.taskTemplate.containerSpec.image", Required)
    );
    let s = service(json!({"mode": {"replicated": {"replicas": "three"}}}));
    assert_eq!(errors(&s), err("spec.mode.replicated.replicas", Invalid));
    let mut no_spec = service(json!({}));
    no_spec.as_object_mut().unwrap().remove("spec");
    assert_eq!(errors(&no_spec), err("spec.taskTemplate", Required));
    let mut obj =
        service(json!({"endpoint": {"ports": [{"targetPort": 80, "publishMode": "mesh"}]}}));
    let defaulting = flotilla_api::default_object("SwarmService", &mut obj).unwrap_err();
    assert_eq!(
        common::pairs(&defaulting),
        err("spec.endpoint.ports[0].publishMode", NotSupported)
    );
}

#[test]
fn unknown_kinds_have_no_rules() {
    let lease = json!({"kind": "Lease", "spec": {"leaseDurationSeconds": "not a number"}});
    assert!(flotilla_api::validate_object("Lease", &lease, None).is_empty());
    assert!(flotilla_api::validate_object("Event", &lease, Some(&lease)).is_empty());
}

#[test]
fn service_names_are_dns_labels() {
    let named = |name: &str| {
        let mut s = service(json!({}));
        s["metadata"]["name"] = json!(name);
        s
    };
    assert_eq!(errors(&named("web-2")), none());
    assert_eq!(errors(&named("web.v2")), err("metadata.name", Invalid));
    assert_eq!(errors(&named("2web")), err("metadata.name", Invalid));
    assert_eq!(errors(&named("Web")), err("metadata.name", Invalid));
    assert_eq!(
        errors(&named(&"a".repeat(64))),
        err("metadata.name", TooLong)
    );
    assert_eq!(errors(&named(&"a".repeat(63))), none());
}
