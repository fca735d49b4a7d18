//! The controller-manager against the real api-server over real etcd, with a fake agent driving
//! task status: create, scale up, scale down, restart after delay and maxAttempts, delete cascades.

mod controller_support;

use std::time::Duration;

use controller_support::{
    observed, running_slots, service_yaml as service, Cluster, FAILING_IMAGE,
};
use flotilla_api::TaskState;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::ResourceExt;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn create_scale_up_scale_down() {
    let c = Cluster::start(&["n1", "n2"]).await;
    c.create_service(&service("web", 3, "nginx", "")).await;
    let tasks = c
        .eventually(30, "3 running tasks", || async {
            let tasks = c.tasks_of("web").await;
            (running_slots(&tasks) == [1, 2, 3]).then_some(tasks)
        })
        .await;
    for t in &tasks {
        let name = t.name_any();
        assert!(
            name.starts_with(&format!("web.{}.", t.spec.slot.unwrap())),
            "{name}"
        );
        let owner = &t.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("SwarmService", Some(true))
        );
        assert_eq!(t.spec.spec_version, Some(1));
        assert_eq!(t.status.as_ref().unwrap().state, Some(TaskState::Running));
    }
    c.eventually(10, "status 3/3 with selector", || async {
        let s = c.services().get("web").await.ok()?.status?;
        (s.replicas == Some(3)
            && s.running_replicas == Some(3)
            && s.selector.as_deref() == Some("flotilla.dev/service=web"))
        .then_some(())
    })
    .await;
    // The endpoint was allocated and tasks went through PENDING (the agent binds only those).
    let scale = |n: i64| json!({"spec": {"mode": {"replicated": {"replicas": n}}}});
    c.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(scale(5)))
        .await
        .unwrap();
    c.eventually(30, "5 running slots", || async {
        (running_slots(&c.tasks_of("web").await) == [1, 2, 3, 4, 5]).then_some(())
    })
    .await;
    c.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(scale(2)))
        .await
        .unwrap();
    let left = c
        .eventually(30, "2 tasks left after scale-down", || async {
            let tasks = c.tasks_of("web").await;
            (tasks.len() == 2 && running_slots(&tasks).len() == 2).then_some(tasks)
        })
        .await;
    // Scale-down removes tasks (desired REMOVE, then deleted once stopped), keeping balance: one per node.
    let mut nodes: Vec<String> = left
        .iter()
        .filter_map(|t| t.spec.node_name.clone())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2"]);
    c.eventually(10, "status 2/2", || async {
        let s = c.services().get("web").await.ok()?.status?;
        (s.replicas == Some(2) && s.running_replicas == Some(2)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_task_restarts_after_delay_until_max_attempts() {
    let c = Cluster::start(&["n1"]).await;
    let policy =
        "    restartPolicy:\n      condition: on-failure\n      delay: 2s\n      maxAttempts: 2\n";
    c.create_service(&service("crash", 1, FAILING_IMAGE, policy))
        .await;
    let tasks = c
        .eventually(40, "3 failed attempts in slot 1", || async {
            let tasks = c.tasks_of("crash").await;
            (tasks.len() == 3 && tasks.iter().all(|t| observed(t) == TaskState::Failed))
                .then_some(tasks)
        })
        .await;
    assert!(tasks.iter().all(|t| t.spec.slot == Some(1)));
    // Each replacement started at least the restart delay after its predecessor.
    let started = c.started.lock().unwrap().clone();
    let mut times: Vec<_> = tasks.iter().map(|t| started[&t.name_any()]).collect();
    times.sort();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(1900),
            "restarted after {:?}",
            pair[1] - pair[0]
        );
    }
    // maxAttempts reached: no fourth task, and the refusal is an event.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(c.tasks_of("crash").await.len(), 3);
    let events: kube::Api<k8s_openapi::api::core::v1::Event> =
        kube::Api::namespaced(c.admin.clone(), "default");
    let list = events.list(&Default::default()).await.unwrap();
    let refused = list
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("RestartRefused"))
        .expect("RestartRefused event");
    assert!(
        refused
            .message
            .as_deref()
            .unwrap()
            .contains("maxAttempts 2 reached"),
        "{:?}",
        refused.message
    );
    assert_eq!(refused.involved_object.name.as_deref(), Some("crash"));
}

#[tokio::test(flavor = "multi_thread")]
async fn history_is_trimmed_to_five_per_slot() {
    let c = Cluster::start(&["n1"]).await;
    let policy = "    restartPolicy:\n      delay: 0s\n";
    c.create_service(&service("flap", 1, FAILING_IMAGE, policy))
        .await;
    c.eventually(60, "at least 8 restarts seen", || async {
        (c.started.lock().unwrap().len() >= 8).then_some(())
    })
    .await;
    let tasks = c.tasks_of("flap").await;
    assert!(
        tasks.len() <= 6,
        "history of {} tasks (5 + the one being replaced at most)",
        tasks.len()
    );
    c.eventually(10, "slot trimmed to 5", || async {
        (c.tasks_of("flap").await.len() <= 5).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_cascades_background_and_foreground() {
    let c = Cluster::start(&["n1", "n2"]).await;
    c.create_service(&service("bg", 2, "nginx", "")).await;
    c.create_service(&service("fg", 2, "nginx", "")).await;
    for name in ["bg", "fg"] {
        c.eventually(30, "2 running", || async {
            (running_slots(&c.tasks_of(name).await).len() == 2).then_some(())
        })
        .await;
    }
    c.services()
        .delete("bg", &DeleteParams::background())
        .await
        .unwrap();
    c.eventually(30, "bg tasks deleted", || async {
        c.tasks_of("bg").await.is_empty().then_some(())
    })
    .await;
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..Default::default()
    };
    c.services().delete("fg", &dp).await.unwrap();
    // Foreground: the service is still there (with deletionTimestamp) while its tasks go.
    let svc = c.services().get("fg").await.unwrap();
    assert!(svc.metadata.deletion_timestamp.is_some());
    c.eventually(30, "fg tasks and service gone", || async {
        let gone = c.services().get_opt("fg").await.unwrap().is_none();
        (gone && c.tasks_of("fg").await.is_empty()).then_some(())
    })
    .await;
}
