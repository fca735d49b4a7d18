use super::duration::{docker_duration, human_duration};
use super::*;
use crate::test_support::sample_registry;
use chrono::{Duration, TimeZone};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn ago(d: Duration) -> String {
    (now() - d).to_rfc3339()
}

fn res(plural: &str) -> ResourceInfo {
    sample_registry()
        .get("flotilla.dev", "v1alpha1", plural)
        .unwrap()
        .clone()
}

fn headers(t: &Value) -> Vec<String> {
    t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_uppercase())
        .collect()
}

fn cells(t: &Value, row: usize) -> Vec<Value> {
    t["rows"][row]["cells"].as_array().unwrap().clone()
}

#[test]
fn human_duration_follows_kubernetes_rules() {
    let cases = [
        (Duration::seconds(-5), "<invalid>"),
        (Duration::milliseconds(-500), "0s"),
        (Duration::seconds(0), "0s"),
        (Duration::seconds(119), "119s"),
        (Duration::seconds(120), "2m"),
        (Duration::seconds(5 * 60 + 2), "5m2s"),
        (Duration::minutes(10), "10m"),
        (Duration::minutes(179), "179m"),
        (Duration::minutes(3 * 60), "3h"),
        (Duration::minutes(7 * 60 + 59), "7h59m"),
        (Duration::hours(8), "8h"),
        (Duration::hours(47), "47h"),
        (Duration::hours(48), "2d"),
        (Duration::hours(7 * 24 + 23), "7d23h"),
        (Duration::days(8), "8d"),
        (Duration::days(729), "729d"),
        (Duration::days(730), "2y"),
        (Duration::days(365 * 3 + 10), "3y10d"),
        (Duration::days(365 * 8), "8y"),
    ];
    for (d, want) in cases {
        assert_eq!(human_duration(d), want, "{d:?}");
    }
}

#[test]
fn docker_duration_reads_like_docker_service_ps() {
    assert_eq!(
        docker_duration(Duration::milliseconds(300)),
        "less than a second"
    );
    assert_eq!(docker_duration(Duration::seconds(6)), "6 seconds");
    assert_eq!(docker_duration(Duration::seconds(70)), "about a minute");
    assert_eq!(docker_duration(Duration::minutes(5)), "5 minutes");
    assert_eq!(docker_duration(Duration::minutes(61)), "about an hour");
    assert_eq!(docker_duration(Duration::hours(5)), "5 hours");
    assert_eq!(docker_duration(Duration::days(3)), "3 days");
    assert_eq!(docker_duration(Duration::days(20)), "2 weeks");
}

#[test]
fn services_read_like_docker_service_ls() {
    let web = json!({
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(Duration::seconds(302)), "labels": {"app": "web"}},
        "spec": {
            "mode": {"replicated": {"replicas": 3}},
            "taskTemplate": {"containerSpec": {"image": "nginx:1.27@sha256:abc"}, "placement": {"maxReplicas": 2}},
            "endpoint": {"ports": [{"targetPort": 80, "publishedPort": 8080}]}
        },
        "status": {"replicas": 3, "runningReplicas": 3, "endpoint": {"ports": [
            {"protocol": "tcp", "targetPort": 80, "publishedPort": 8080, "publishMode": "ingress"},
            {"protocol": "tcp", "targetPort": 81, "publishedPort": 8081, "publishMode": "ingress"},
            {"protocol": "udp", "targetPort": 53, "publishedPort": 30053},
            {"protocol": "tcp", "targetPort": 9000, "publishedPort": 9000, "publishMode": "host"}
        ]}}
    });
    let job = json!({
        "metadata": {"name": "batch", "creationTimestamp": ago(Duration::hours(50))},
        "spec": {"mode": {"replicatedJob": {"maxConcurrent": 3, "totalCompletions": 10}}, "taskTemplate": {"containerSpec": {"image": "busybox"}}},
        "status": {"replicas": 3, "runningReplicas": 2, "completedTasks": 5}
    });
    let global_job = json!({
        "metadata": {"name": "once"},
        "spec": {"mode": {"globalJob": {}}, "taskTemplate": {"containerSpec": {"image": "busybox"}}},
        "status": {"replicas": 1, "runningReplicas": 1, "completedTasks": 3}
    });
    let global = json!({"metadata": {"name": "agent"}, "spec": {"mode": {"global": {}}, "taskTemplate": {"containerSpec": {"image": "a"}}}});
    let t = render_table(
        &res("swarmservices"),
        &[web, job, global_job, global],
        IncludeObject::Metadata,
        true,
        now(),
    );
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        headers(&t),
        vec!["NAME", "MODE", "REPLICAS", "IMAGE", "PORTS", "AGE"]
    );
    assert_eq!(t["columnDefinitions"][0]["format"], "name");
    assert_eq!(
        cells(&t, 0),
        vec![
            json!("web"),
            json!("replicated"),
            json!("3/3 (max 2 per node)"),
            json!("nginx:1.27"),
            json!("*:8080-8081->80-81/tcp, *:30053->53/udp"),
            json!("5m2s")
        ]
    );
    assert_eq!(cells(&t, 1)[1], "replicated job");
    assert_eq!(cells(&t, 1)[2], "2/3 (5/10 completed)");
    assert_eq!(cells(&t, 1)[5], "2d2h");
    assert_eq!(cells(&t, 2)[1], "global job");
    assert_eq!(cells(&t, 2)[2], "1/1 (3/4 completed)");
    assert_eq!(cells(&t, 2)[5], "<unknown>");
    assert_eq!(cells(&t, 3)[2], "0/0");
    // includeObject=Metadata: kubectl reads namespace and labels from a PartialObjectMetadata.
    let obj = &t["rows"][0]["object"];
    assert_eq!(obj["kind"], "PartialObjectMetadata");
    assert_eq!(obj["metadata"]["labels"]["app"], "web");
    assert!(obj.get("spec").is_none());
}

#[test]
fn tasks_read_like_docker_service_ps() {
    let task = json!({
        "metadata": {"name": "web.1", "creationTimestamp": ago(Duration::minutes(10))},
        "spec": {"serviceName": "web", "slot": 1, "nodeName": "node-1", "desiredState": "Running",
                 "template": {"containerSpec": {"image": "redis:7.4.1"}}},
        "status": {"state": "Running", "timestamp": ago(Duration::minutes(5)),
                   "portStatus": [{"protocol": "tcp", "targetPort": 80, "publishedPort": 8080, "publishMode": "host"}]}
    });
    let failed = json!({
        "metadata": {"name": "web.2", "creationTimestamp": ago(Duration::minutes(1))},
        "spec": {"desiredState": "Shutdown", "template": {"containerSpec": {"image": "redis@sha256:6abc"}}},
        "status": {"state": "Rejected", "timestamp": ago(Duration::seconds(23)), "err": "No such image: redis@sha256:6abcdef0123456789"}
    });
    let t = render_table(
        &res("tasks"),
        &[task, failed],
        IncludeObject::None,
        true,
        now(),
    );
    assert_eq!(
        headers(&t),
        vec![
            "NAME",
            "IMAGE",
            "NODE",
            "DESIRED STATE",
            "CURRENT STATE",
            "ERROR",
            "PORTS",
            "AGE"
        ]
    );
    assert_eq!(
        t["columnDefinitions"][6]["priority"], 1,
        "PORTS only with -o wide"
    );
    assert_eq!(
        cells(&t, 0),
        vec![
            json!("web.1"),
            json!("redis:7.4.1"),
            json!("node-1"),
            json!("Running"),
            json!("Running 5 minutes ago"),
            json!(""),
            json!("*:8080->80/tcp"),
            json!("10m")
        ]
    );
    let row = cells(&t, 1);
    assert_eq!(row[1], "redis");
    assert_eq!(row[3], "Shutdown");
    assert_eq!(row[4], "Rejected 23 seconds ago");
    assert_eq!(row[5], "\"No such image: redis@sha256:6…\"");
    assert_eq!(
        row[5].as_str().unwrap().chars().count(),
        32,
        "30 characters plus quotes"
    );
    assert!(t["rows"][0].get("object").is_none(), "includeObject=None");
}

#[test]
fn nodes_read_like_docker_node_ls() {
    let node = json!({
        "metadata": {"name": "node-1", "creationTimestamp": ago(Duration::days(3))},
        "spec": {"availability": "drain", "role": "manager"},
        "status": {"state": "ready", "hostname": "host-1", "addr": "10.0.0.1", "engine": {"engineVersion": "27.3.1"}}
    });
    let bare = json!({"metadata": {"name": "node-2"}});
    let t = render_table(
        &res("swarmnodes"),
        &[node.clone(), bare],
        IncludeObject::Object,
        true,
        now(),
    );
    assert_eq!(
        headers(&t),
        vec![
            "NAME",
            "HOSTNAME",
            "STATUS",
            "AVAILABILITY",
            "ROLE",
            "ENGINE VERSION",
            "ADDRESS",
            "AGE"
        ]
    );
    assert_eq!(
        cells(&t, 0),
        vec![
            json!("node-1"),
            json!("host-1"),
            json!("Ready"),
            json!("Drain"),
            json!("manager"),
            json!("27.3.1"),
            json!("10.0.0.1"),
            json!("3d")
        ]
    );
    assert_eq!(
        cells(&t, 1)[2..5],
        [json!("Unknown"), json!("Active"), json!("worker")]
    );
    assert_eq!(t["rows"][0]["object"], node, "includeObject=Object");
}

#[test]
fn watch_events_carry_headers_only_first() {
    let objs = [json!({"metadata": {"name": "a"}})];
    let first = render_table(
        &res("swarmnodes"),
        &objs,
        IncludeObject::Metadata,
        true,
        now(),
    );
    let later = render_table(
        &res("swarmnodes"),
        &objs,
        IncludeObject::Metadata,
        false,
        now(),
    );
    assert!(first["columnDefinitions"].is_array());
    assert!(later.get("columnDefinitions").is_none());
    assert_eq!(later["rows"].as_array().unwrap().len(), 1);
}

#[test]
fn builtin_kinds_have_sensible_columns() {
    let reg = sample_registry();
    let lease = reg.get("coordination.k8s.io", "v1", "leases").unwrap();
    let t = render_table(
        lease,
        &[
            json!({"metadata": {"name": "node-1", "creationTimestamp": ago(Duration::seconds(40))}, "spec": {"holderIdentity": "node-1"}}),
        ],
        IncludeObject::Metadata,
        true,
        now(),
    );
    assert_eq!(headers(&t), vec!["NAME", "HOLDER", "AGE"]);
    assert_eq!(
        cells(&t, 0),
        vec![json!("node-1"), json!("node-1"), json!("40s")]
    );

    let ns = reg.get("", "v1", "namespaces").unwrap();
    let t = render_table(
        ns,
        &[json!({"metadata": {"name": "default"}})],
        IncludeObject::Metadata,
        true,
        now(),
    );
    assert_eq!(cells(&t, 0)[..2], [json!("default"), json!("Active")]);

    let secrets = reg.get("flotilla.dev", "v1alpha1", "swarmsecrets").unwrap();
    let t = render_table(
        secrets,
        &[json!({"metadata": {"name": "db-pass", "creationTimestamp": ago(Duration::hours(5))}})],
        IncludeObject::Metadata,
        true,
        now(),
    );
    assert_eq!(headers(&t), vec!["NAME", "AGE"]);
    assert_eq!(cells(&t, 0), vec![json!("db-pass"), json!("5h")]);
}

/// Core and events.k8s.io/v1 events show what `kubectl get events` shows, each from its own
/// field names.
#[test]
fn both_event_apis_have_kubectls_event_columns() {
    let reg = sample_registry();
    let cases = [
        (
            "",
            json!({"metadata": {"name": "web.1"}, "type": "Normal", "reason": "Scheduled", "message": "assigned web.1 to node-3",
                   "involvedObject": {"kind": "Task", "name": "web.1"}, "lastTimestamp": ago(Duration::seconds(90))}),
            "MESSAGE",
            [
                "90s",
                "Normal",
                "Scheduled",
                "task/web.1",
                "assigned web.1 to node-3",
            ],
        ),
        (
            "events.k8s.io",
            json!({"metadata": {"name": "web.1"}, "type": "Warning", "reason": "Failed", "note": "exit 1",
                   "regarding": {"kind": "Task", "name": "web.1"}, "series": {"lastObservedTime": ago(Duration::seconds(30))}}),
            "NOTE",
            ["30s", "Warning", "Failed", "task/web.1", "exit 1"],
        ),
    ];
    for (group, event, text, row) in cases {
        let ev = reg.get(group, "v1", "events").unwrap();
        let t = render_table(ev, &[event], IncludeObject::Metadata, true, now());
        let want = ["LAST SEEN", "TYPE", "REASON", "OBJECT", text, "NAME"];
        assert_eq!(headers(&t), want, "{group}");
        assert_eq!(cells(&t, 0)[..5], row.map(|c| json!(c)), "{group}");
    }
}

#[test]
fn generic_columns_use_printer_columns() {
    let mut r = res("swarmsecrets");
    r.printer_columns = vec![crate::registry::PrinterColumn {
        name: "Driver".into(),
        type_: "string".into(),
        json_path: ".spec.templating.name".into(),
        description: "d".into(),
        priority: 0,
    }];
    let t = render_table(
        &r,
        &[json!({"metadata": {"name": "s"}, "spec": {"templating": {"name": "golang"}}})],
        IncludeObject::None,
        true,
        now(),
    );
    assert_eq!(headers(&t), vec!["NAME", "DRIVER", "AGE"]);
    assert_eq!(cells(&t, 0)[1], "golang");
}

#[test]
fn include_object_is_read_leniently() {
    assert_eq!(IncludeObject::from_query(None), IncludeObject::Metadata);
    assert_eq!(
        IncludeObject::from_query(Some("Object")),
        IncludeObject::Object
    );
    assert_eq!(IncludeObject::from_query(Some("None")), IncludeObject::None);
    assert_eq!(
        IncludeObject::from_query(Some("All")),
        IncludeObject::Metadata
    );
}
