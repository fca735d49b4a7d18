//! Events are one resource under two APIs: an `events.k8s.io/v1` Event published by
//! kube-runtime's Recorder about a SwarmService shows in `kubectl describe ssvc` (which reads
//! core `v1` events by `involvedObject.*`), and a core `v1` Event reads back through
//! `events.k8s.io/v1` with `regarding` and `note`.

use flotilla_api::SwarmService;
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::{web, KUBECTL_VERSIONS};
use flotilla_tests::kubectl::installed_versions;
use flotilla_tests::kubectl::Kubectl;
use k8s_openapi::api::{core::v1 as core, events::v1 as events};
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Resource;

fn service(name: &str) -> SwarmService {
    serde_yaml_ng::from_str(&web(name, 2)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn recorder_events_show_in_kubectl_describe() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let api: Api<SwarmService> = Api::namespaced(client.clone(), "default");
    let reporter = Reporter {
        controller: "flotilla-controller-manager".into(),
        instance: Some("cm-0".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let name = format!("ev{minor}");
        let svc = api
            .create(&PostParams::default(), &service(&name))
            .await
            .unwrap();
        let event = Event {
            type_: EventType::Normal,
            reason: "ScalingReplicaSet".into(),
            note: Some(format!("scaled {name} to 2 tasks")),
            action: "Scale".into(),
            secondary: None,
        };
        recorder
            .publish(&event, &svc.object_ref(&()))
            .await
            .unwrap();

        let k = Kubectl::new(minor, &server.kubeconfig).expect("kubectl installed");
        let n = name.clone();
        let out = tokio::task::spawn_blocking(move || k.run(&["describe", "ssvc", &n]).ok())
            .await
            .unwrap();
        let events = out.stdout.split("Events:").nth(1).unwrap_or_default();
        let row = events
            .lines()
            .find(|l| l.contains("ScalingReplicaSet"))
            .unwrap_or_default();
        assert!(
            row.contains("Normal")
                && row.contains("flotilla-controller-manager")
                && row.contains(&format!("scaled {name} to 2 tasks")),
            "1.{minor}: describe shows no event row:\n{}",
            out.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn core_events_read_back_through_events_k8s_io() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let core_api: Api<core::Event> = Api::namespaced(client.clone(), "default");
    let ev: core::Event = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web.1"},
        "involvedObject": {"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
                           "name": "web", "namespace": "default", "uid": "u-1"},
        "reason": "Created", "message": "created task web.1", "type": "Normal",
        "source": {"component": "flotilla-scheduler"}, "count": 1,
    }))
    .unwrap();
    core_api.create(&PostParams::default(), &ev).await.unwrap();

    let new_api: Api<events::Event> = Api::namespaced(client.clone(), "default");
    let read = new_api.get("web.1").await.unwrap();
    assert_eq!(
        read.regarding.as_ref().and_then(|r| r.uid.as_deref()),
        Some("u-1")
    );
    assert_eq!(read.note.as_deref(), Some("created task web.1"));
    assert_eq!(read.deprecated_count, Some(1));
    assert_eq!(
        read.deprecated_source.and_then(|s| s.component).as_deref(),
        Some("flotilla-scheduler")
    );
    let listed = new_api.list(&Default::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1, "one event, listed through both APIs");
}
