//! SwarmSecret, SwarmConfig, SwarmNetwork, SwarmNode and Task rules.

mod common;

use common::{err, errors, object, pairs, task, update_errors, validate};
use flotilla_api::FieldErrorKind::*;
use pretty_assertions::assert_eq;
use serde_json::json;

const B64: &str = "aGVsbG8="; // "hello"

fn b64(bytes: usize) -> String {
    // 3 zero bytes encode as "AAAA".
    assert_eq!(bytes % 3, 0);
    "AAAA".repeat(bytes / 3)
}

#[test]
fn secret_and_config_data_rules() {
    for kind in ["SwarmSecret", "SwarmConfig"] {
        assert_eq!(
            errors(&object(kind, json!({"data": B64}))),
            vec![],
            "{kind}"
        );
        assert_eq!(
            errors(&object(kind, json!({"data": ""}))),
            err("spec.data", Required)
        );
        assert_eq!(errors(&object(kind, json!({}))), err("spec.data", Required));
        let bad = validate(&object(kind, json!({"data": "not base64!"})), None);
        assert_eq!(pairs(&bad), err("spec.data", Invalid));
        assert!(
            bad[0].message.starts_with("must be base64-encoded"),
            "{}",
            bad[0]
        );
        // 500 KiB is 512000 bytes; Swarm accepts strictly less.
        let max_ok = object(kind, json!({"data": b64(511_998)}));
        assert_eq!(errors(&max_ok), vec![]);
        let too_big = validate(&object(kind, json!({"data": b64(512_001)})), None);
        assert_eq!(pairs(&too_big), err("spec.data", TooLong));
        assert!(
            too_big[0].message.contains("got 512001 bytes"),
            "{}",
            too_big[0]
        );
        let templating = object(kind, json!({"data": B64, "templating": {"name": "jinja"}}));
        assert_eq!(
            errors(&templating),
            err("spec.templating.name", NotSupported)
        );
        let golang = object(kind, json!({"data": B64, "templating": {"name": "golang"}}));
        assert_eq!(errors(&golang), vec![]);
    }
}

#[test]
fn secret_and_config_data_are_immutable() {
    for kind in ["SwarmSecret", "SwarmConfig"] {
        let old = object(kind, json!({"data": B64}));
        let mut relabelled = old.clone();
        relabelled["metadata"]["labels"] = json!({"rotated": "no"});
        assert_eq!(update_errors(&relabelled, &old), vec![]);
        let changed = object(kind, json!({"data": "d29ybGQ="}));
        assert_eq!(update_errors(&changed, &old), err("spec.data", Forbidden));
        let templated = object(kind, json!({"data": B64, "templating": {"name": "golang"}}));
        assert_eq!(
            update_errors(&templated, &old),
            err("spec.templating", Forbidden)
        );
    }
}

#[test]
fn network_rules() {
    let net = |spec| object("SwarmNetwork", spec);
    assert_eq!(errors(&net(json!({}))), vec![]);
    assert_eq!(
        errors(&net(
            json!({"subnet": "10.0.1.0/24", "gateway": "10.0.1.1"})
        )),
        vec![]
    );
    assert_eq!(
        errors(&net(
            json!({"subnet": "fd00:1::/64", "gateway": "fd00:1::1"})
        )),
        vec![]
    );
    assert_eq!(
        errors(&net(json!({"driver": "bridge"}))),
        err("spec.driver", NotSupported)
    );
    for subnet in ["10.0.1.0", "10.0.1.0/33", "10.0.300.0/24", "banana"] {
        assert_eq!(
            errors(&net(json!({"subnet": subnet}))),
            err("spec.subnet", Invalid),
            "{subnet}"
        );
    }
    let outside = net(json!({"subnet": "10.0.1.0/24", "gateway": "10.0.2.1"}));
    assert_eq!(errors(&outside), err("spec.gateway", Invalid));
    let not_ip = net(json!({"subnet": "10.0.1.0/24", "gateway": "gw"}));
    assert_eq!(errors(&not_ip), err("spec.gateway", Invalid));
    assert_eq!(
        errors(&net(json!({"gateway": "10.0.0.1"}))),
        err("spec.gateway", Forbidden)
    );
}

#[test]
fn networks_are_immutable_except_labels() {
    let old = object("SwarmNetwork", json!({"subnet": "10.0.1.0/24"}));
    let labelled = object(
        "SwarmNetwork",
        json!({"subnet": "10.0.1.0/24", "labels": {"a": "b"}}),
    );
    assert_eq!(update_errors(&labelled, &old), vec![]);
    let moved = object(
        "SwarmNetwork",
        json!({"subnet": "10.0.2.0/24", "attachable": true}),
    );
    assert_eq!(
        update_errors(&moved, &old),
        vec![
            ("spec.subnet".to_string(), Forbidden),
            ("spec.attachable".to_string(), Forbidden)
        ]
    );
}

#[test]
fn node_spec_values() {
    let node = |spec| object("SwarmNode", spec);
    assert_eq!(
        errors(&node(json!({"availability": "drain", "role": "manager"}))),
        vec![]
    );
    assert_eq!(
        errors(&node(json!({"availability": "off"}))),
        err("spec.availability", NotSupported)
    );
    assert_eq!(
        errors(&node(json!({"role": "boss"}))),
        err("spec.role", NotSupported)
    );
}

#[test]
fn task_rules() {
    assert_eq!(errors(&task(json!({}))), vec![]);
    assert_eq!(
        errors(&task(json!({"serviceName": ""}))),
        err("spec.serviceName", Required)
    );
    assert_eq!(
        errors(&task(json!({"slot": -1}))),
        err("spec.slot", Invalid)
    );
    assert_eq!(
        errors(&task(json!({"jobIteration": -1}))),
        err("spec.jobIteration", Invalid)
    );
    assert_eq!(
        errors(&task(json!({"nodeName": ""}))),
        err("spec.nodeName", Invalid)
    );
    assert_eq!(
        errors(&task(json!({"desiredState": "Failed"}))),
        err("spec.desiredState", NotSupported)
    );
    assert_eq!(
        errors(&task(json!({"desiredState": "RUNNING"}))),
        err("spec.desiredState", NotSupported)
    );
    let bad_template = task(json!({"template": {"containerSpec": {"image": ""}}}));
    assert_eq!(
        errors(&bad_template),
        err("spec.template.containerSpec.image", Required)
    );
    let bad_port = task(json!({"endpoint": {"ports": [{"targetPort": 0}]}}));
    assert_eq!(
        errors(&bad_port),
        err("spec.endpoint.ports[0].targetPort", Invalid)
    );
}

#[test]
fn task_binding_happens_once() {
    let pending = task(json!({}));
    let bound = task(json!({"nodeName": "node-1"}));
    assert_eq!(update_errors(&bound, &pending), vec![]);
    let moved = task(json!({"nodeName": "node-2"}));
    let errs = validate(&moved, Some(&bound));
    assert_eq!(pairs(&errs), err("spec.nodeName", Forbidden));
    assert_eq!(
        errs[0].message,
        "may not be changed once set (task is bound to node-1)"
    );
    let unbound = task(json!({}));
    assert_eq!(
        update_errors(&unbound, &bound),
        err("spec.nodeName", Forbidden)
    );
}

#[test]
fn task_is_otherwise_immutable() {
    let old = task(json!({"specVersion": 1}));
    let new = task(json!({
        "serviceName": "api", "slot": 2, "specVersion": 2, "jobIteration": 1,
        "template": {"containerSpec": {"image": "nginx:1.28"}},
    }));
    assert_eq!(
        update_errors(&new, &old),
        vec![
            ("spec.serviceName".to_string(), Forbidden),
            ("spec.slot".to_string(), Forbidden),
            ("spec.specVersion".to_string(), Forbidden),
            ("spec.template".to_string(), Forbidden),
            ("spec.jobIteration".to_string(), Forbidden),
        ]
    );
}

#[test]
fn task_states_only_increase() {
    let running = task(json!({}));
    let shutdown = task(json!({"desiredState": "Shutdown"}));
    assert_eq!(update_errors(&shutdown, &running), vec![]);
    assert_eq!(
        update_errors(&running, &shutdown),
        err("spec.desiredState", Invalid)
    );

    let mut observed = task(json!({}));
    observed["status"] = json!({"state": "Running", "message": "started"});
    let mut failed = observed.clone();
    failed["status"] = json!({"state": "Failed", "err": "task: non-zero exit (1)", "containerStatus": {"exitCode": 1}});
    assert_eq!(update_errors(&failed, &observed), vec![]);
    let errs = validate(&observed, Some(&failed));
    assert_eq!(pairs(&errs), err("status.state", Invalid));
    assert_eq!(
        errs[0].to_string(),
        "status.state: Invalid value: \"Running\": task state may only increase (currently Failed)"
    );
}
