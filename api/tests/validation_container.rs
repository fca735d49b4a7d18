//! Container rules (image, mounts, secret/config references, ulimits, healthcheck), each with
//! its exact field path.

mod common;

use common::{err, errors, pairs, service, validate};
use flotilla_api::FieldErrorKind::*;
use pretty_assertions::assert_eq;
use serde_json::{json, Value};

const C: &str = "spec.taskTemplate.containerSpec";

fn container(patch: Value) -> Value {
    service(json!({"taskTemplate": {"containerSpec": patch}}))
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
fn references_must_be_object_names() {
    let s = container(json!({
        "secrets": [{"secretName": "DB_Password"}],
        "configs": [{"configName": "app conf"}],
    }));
    assert_eq!(
        errors(&s),
        vec![
            (format!("{C}.secrets[0].secretName"), Invalid),
            (format!("{C}.configs[0].configName"), Invalid)
        ]
    );
}

#[test]
fn env_and_hosts_entries() {
    let s = container(json!({
        "env": ["A=1", "B", "C=", "=oops", " =x"],
        "hosts": ["10.0.0.5 db", "fd00::1 db6 db6.local", "db 10.0.0.5", "10.0.0.6"],
    }));
    assert_eq!(
        errors(&s),
        vec![
            (format!("{C}.env[3]"), Invalid),
            (format!("{C}.env[4]"), Invalid),
            (format!("{C}.hosts[2]"), Invalid),
            (format!("{C}.hosts[3]"), Invalid),
        ]
    );
}

#[test]
fn ulimits() {
    let s = container(json!({"ulimits": [
        {"name": "nofile", "soft": 1024, "hard": 2048},
        {"name": "", "soft": 1, "hard": 1},
        {"name": "nproc", "soft": 10, "hard": 5},
    ]}));
    assert_eq!(
        errors(&s),
        vec![
            (format!("{C}.ulimits[1].name"), Required),
            (format!("{C}.ulimits[2].soft"), Invalid)
        ]
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
