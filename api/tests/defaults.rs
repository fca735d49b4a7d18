//! Every Swarm default, and the nil-vs-zero rule: defaults fill only unset fields.

mod common;

use common::{defaulted, object, service, task};
use pretty_assertions::assert_eq;
use serde_json::json;

#[test]
fn service_defaults_in_full() {
    let spec = defaulted(service(json!({})));
    assert_eq!(
        spec,
        json!({
            "mode": {"replicated": {"replicas": 1}},
            "taskTemplate": {
                "containerSpec": {"image": "nginx:1.27", "stopGracePeriod": "10s"},
                "restartPolicy": {"condition": "any", "delay": "5s", "maxAttempts": 0, "window": "0s"},
            },
            "endpoint": {"mode": "vip"},
            "updateConfig": {
                "parallelism": 1, "delay": "0s", "failureAction": "pause", "monitor": "5s",
                "maxFailureRatio": 0.0, "order": "stop-first",
            },
            "rollbackConfig": {
                "parallelism": 1, "delay": "0s", "failureAction": "pause", "monitor": "5s",
                "maxFailureRatio": 0.0, "order": "stop-first",
            },
        })
    );
}

#[test]
fn replicated_without_replicas_gets_one_and_explicit_zero_stays() {
    let spec = defaulted(service(json!({"mode": {"replicated": {}}})));
    assert_eq!(spec["mode"], json!({"replicated": {"replicas": 1}}));
    let spec = defaulted(service(json!({"mode": {"replicated": {"replicas": 0}}})));
    assert_eq!(spec["mode"], json!({"replicated": {"replicas": 0}}));
}

#[test]
fn global_mode_is_kept() {
    let spec = defaulted(service(json!({"mode": {"global": {}}})));
    assert_eq!(spec["mode"], json!({"global": {}}));
    assert_eq!(spec["updateConfig"]["parallelism"], 1);
}

#[test]
fn replicated_job_defaults() {
    let spec = defaulted(service(json!({"mode": {"replicatedJob": {}}})));
    assert_eq!(
        spec["mode"],
        json!({"replicatedJob": {"maxConcurrent": 1, "totalCompletions": 1}})
    );
    let spec = defaulted(service(
        json!({"mode": {"replicatedJob": {"maxConcurrent": 3}}}),
    ));
    assert_eq!(
        spec["mode"],
        json!({"replicatedJob": {"maxConcurrent": 3, "totalCompletions": 3}})
    );
    let spec = defaulted(service(
        json!({"mode": {"replicatedJob": {"totalCompletions": 10}}}),
    ));
    assert_eq!(
        spec["mode"],
        json!({"replicatedJob": {"maxConcurrent": 1, "totalCompletions": 10}})
    );
}

#[test]
fn jobs_get_no_update_config_and_restart_on_failure() {
    for mode in [json!({"replicatedJob": {}}), json!({"globalJob": {}})] {
        let spec = defaulted(service(json!({"mode": mode})));
        assert_eq!(spec.get("updateConfig"), None);
        assert_eq!(spec.get("rollbackConfig"), None);
        assert_eq!(
            spec["taskTemplate"]["restartPolicy"]["condition"],
            "on-failure"
        );
    }
}

#[test]
fn explicit_zero_values_are_not_defaulted() {
    let spec = defaulted(service(json!({
        "updateConfig": {"parallelism": 0, "monitor": "0s", "failureAction": "continue"},
        "taskTemplate": {"restartPolicy": {"delay": "0s", "condition": "none"}},
    })));
    let update = &spec["updateConfig"];
    assert_eq!(update["parallelism"], 0);
    assert_eq!(update["monitor"], "0s");
    assert_eq!(update["failureAction"], "continue");
    assert_eq!(update["order"], "stop-first");
    let restart = &spec["taskTemplate"]["restartPolicy"];
    assert_eq!(restart["delay"], "0s");
    assert_eq!(restart["condition"], "none");
    assert_eq!(restart["maxAttempts"], 0);
}

#[test]
fn ports_default_to_tcp_ingress() {
    let spec = defaulted(service(json!({"endpoint": {"ports": [
        {"targetPort": 80},
        {"targetPort": 53, "protocol": "udp", "publishMode": "host", "publishedPort": 53},
    ]}})));
    assert_eq!(
        spec["endpoint"],
        json!({"mode": "vip", "ports": [
            {"targetPort": 80, "protocol": "tcp", "publishMode": "ingress"},
            {"targetPort": 53, "protocol": "udp", "publishMode": "host", "publishedPort": 53},
        ]})
    );
    let spec = defaulted(service(json!({"endpoint": {"mode": "dnsrr"}})));
    assert_eq!(spec["endpoint"], json!({"mode": "dnsrr"}));
}

#[test]
fn secret_and_config_file_targets() {
    let spec = defaulted(service(json!({"taskTemplate": {"containerSpec": {
        "secrets": [{"secretName": "db"}, {"secretName": "tls", "file": {"name": "cert.pem", "mode": 256}}],
        "configs": [{"configName": "app"}, {"configName": "cred", "runtime": {}}],
    }}})));
    let c = &spec["taskTemplate"]["containerSpec"];
    assert_eq!(
        c["secrets"][0]["file"],
        json!({"name": "db", "uid": "0", "gid": "0", "mode": 292})
    );
    assert_eq!(
        c["secrets"][1]["file"],
        json!({"name": "cert.pem", "uid": "0", "gid": "0", "mode": 256})
    );
    assert_eq!(
        c["configs"][0]["file"],
        json!({"name": "app", "uid": "0", "gid": "0", "mode": 292})
    );
    assert_eq!(
        c["configs"][1],
        json!({"configName": "cred", "runtime": {}})
    );
}

#[test]
fn mount_defaults() {
    let spec = defaulted(service(
        json!({"taskTemplate": {"containerSpec": {"mounts": [
            {"target": "/data", "source": "data"},
            {"target": "/tmp", "type": "tmpfs"},
            {"target": "/cache", "type": "tmpfs", "tmpfsOptions": {"mode": 448, "sizeBytes": 1024}},
            {"target": "/v", "volumeOptions": {"driverConfig": {"options": {"o": "x"}}}},
            {"target": "/h", "type": "bind", "source": "/srv"},
        ]}}}),
    ));
    let m = &spec["taskTemplate"]["containerSpec"]["mounts"];
    assert_eq!(
        m[0],
        json!({"target": "/data", "source": "data", "type": "volume"})
    );
    assert_eq!(
        m[1],
        json!({"target": "/tmp", "type": "tmpfs", "tmpfsOptions": {"mode": 1023}})
    );
    assert_eq!(
        m[2]["tmpfsOptions"],
        json!({"mode": 448, "sizeBytes": 1024})
    );
    assert_eq!(
        m[3]["volumeOptions"],
        json!({"driverConfig": {"name": "local", "options": {"o": "x"}}})
    );
    assert_eq!(
        m[4],
        json!({"target": "/h", "type": "bind", "source": "/srv"})
    );
}

#[test]
fn missing_or_null_spec_is_defaulted_like_an_empty_one() {
    let mut node = json!({"kind": "SwarmNode", "metadata": {"name": "n1"}, "spec": null});
    flotilla_api::default_object("SwarmNode", &mut node).unwrap();
    assert_eq!(
        node["spec"],
        json!({"availability": "active", "role": "worker"})
    );
    let mut svc = json!({"kind": "SwarmService", "metadata": {"name": "web"}});
    let errs = flotilla_api::default_object("SwarmService", &mut svc).unwrap_err();
    assert_eq!(errs[0].path, "spec.taskTemplate");
}

#[test]
fn node_defaults() {
    let spec = defaulted(object("SwarmNode", json!({})));
    assert_eq!(spec, json!({"availability": "active", "role": "worker"}));
    let spec = defaulted(object("SwarmNode", json!({"availability": "drain"})));
    assert_eq!(spec, json!({"availability": "drain", "role": "worker"}));
}

#[test]
fn network_defaults() {
    let spec = defaulted(object("SwarmNetwork", json!({"subnet": "10.0.1.0/24"})));
    assert_eq!(
        spec,
        json!({"driver": "overlay", "ingress": false, "attachable": false, "internal": false, "subnet": "10.0.1.0/24"})
    );
}

#[test]
fn task_template_copy_gets_defaults() {
    let spec = defaulted(task(json!({"endpoint": {"ports": [{"targetPort": 80}]}})));
    assert_eq!(spec["template"]["containerSpec"]["stopGracePeriod"], "10s");
    assert_eq!(spec["template"]["restartPolicy"]["condition"], "any");
    assert_eq!(spec["endpoint"]["ports"][0]["protocol"], "tcp");
    let job = defaulted(task(json!({"jobIteration": 2})));
    assert_eq!(job["template"]["restartPolicy"]["condition"], "on-failure");
}

#[test]
fn secrets_and_configs_are_unchanged() {
    for kind in ["SwarmSecret", "SwarmConfig"] {
        let spec = defaulted(object(kind, json!({"data": "aGk="})));
        assert_eq!(spec, json!({"data": "aGk="}));
    }
}

#[test]
fn defaulting_is_idempotent() {
    let objects = [
        service(json!({"mode": {"replicatedJob": {"maxConcurrent": 2}}})),
        service(
            json!({"endpoint": {"ports": [{"targetPort": 80}]}, "taskTemplate": {"containerSpec": {
            "secrets": [{"secretName": "s"}], "mounts": [{"target": "/t", "type": "tmpfs"}]}}}),
        ),
        task(json!({})),
        object("SwarmNode", json!({})),
        object("SwarmNetwork", json!({})),
    ];
    for obj in objects {
        let kind = obj["kind"].as_str().unwrap().to_string();
        let once = defaulted(obj);
        let twice = defaulted(object(&kind, once.clone()));
        assert_eq!(once, twice, "{kind}");
    }
}

#[test]
fn metadata_and_status_are_untouched_and_unknown_kinds_ignored() {
    let mut obj = service(json!({}));
    obj["metadata"] = json!({"name": "web", "labels": {"a": "b"}, "annotations": {"x": "y"},
        "creationTimestamp": "2024-05-01T10:00:00Z", "resourceVersion": "17", "uid": "u-1"});
    obj["status"] = json!({"replicas": 3, "somethingUnknown": true});
    let before = obj.clone();
    flotilla_api::default_object("SwarmService", &mut obj).unwrap();
    assert_eq!(obj["metadata"], before["metadata"]);
    assert_eq!(obj["status"], before["status"]);

    let mut lease = json!({"kind": "Lease", "spec": {"holderIdentity": "n1"}});
    let copy = lease.clone();
    flotilla_api::default_object("Lease", &mut lease).unwrap();
    assert_eq!(lease, copy);
}
