//! The update supervisor against the real api-server over real etcd, with the fake agent driving
//! task status: rolling update with parallelism, failure → rollback, failure → pause, manual
//! rollback, forceUpdate, start-first order, and the events `kubectl describe` shows.

mod controller_support;

use controller_support::timeline::{by_slot, first, max_updating, Timeline};
use controller_support::{observed, service_yaml, Cluster, FAILING_IMAGE};
use flotilla_api::update::{UpdateState, UpdateStatus};
use flotilla_api::{Task, TaskState};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::{json, Value};

async fn patch_spec(c: &Cluster, name: &str, spec: Value) {
    c.services()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .unwrap();
}

async fn set_image(c: &Cluster, name: &str, image: &str) {
    let spec = json!({"taskTemplate": {"containerSpec": {"image": image}}});
    patch_spec(c, name, spec).await;
}

/// Waits until `name` has `replicas` tasks running `image` (desired and observed RUNNING).
async fn running(c: &Cluster, name: &str, replicas: usize, image: &str) -> Vec<Task> {
    let what = format!("{replicas} tasks of {name} running {image}");
    c.eventually(60, &what, || async {
        let tasks: Vec<Task> = c
            .tasks_of(name)
            .await
            .into_iter()
            .filter(|t| t.spec.desired_state == TaskState::Running)
            .collect();
        let ok = tasks.len() == replicas
            && tasks.iter().all(|t| {
                observed(t) == TaskState::Running && t.spec.template.container_spec.image == image
            });
        ok.then_some(tasks)
    })
    .await
}

/// Waits until `status.updateStatus.state` is `state`.
async fn update_state(c: &Cluster, name: &str, state: UpdateState) -> UpdateStatus {
    c.eventually(60, &format!("updateStatus {state:?}"), || async {
        let status = c.services().get(name).await.ok()?.status?.update_status?;
        (status.state == Some(state)).then_some(status)
    })
    .await
}

/// The service's events as (reason, message).
async fn events_of(c: &Cluster, name: &str) -> Vec<(String, String)> {
    let api: Api<Event> = Api::namespaced(c.admin.clone(), "default");
    let list = api.list(&Default::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

fn message_of(events: &[(String, String)], reason: &str) -> String {
    events
        .iter()
        .find(|(r, _)| r == reason)
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("no {reason} event in {events:?}"))
}

/// `kubectl describe ssvc <name>`'s Events section.
async fn describe_events(c: &Cluster, name: &str) -> String {
    let k = flotilla_tests::kubectl::Kubectl::new(33, &c.server.kubeconfig).expect("kubectl 1.33");
    let name = name.to_string();
    let out = tokio::task::spawn_blocking(move || k.run(&["describe", "ssvc", &name]).ok())
        .await
        .unwrap();
    out.stdout
        .split("Events:")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

fn image(t: &Task) -> &str {
    &t.spec.template.container_spec.image
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_update_respects_parallelism_and_keeps_history() {
    let c = Cluster::start(&["n1", "n2"]).await;
    let update = "  updateConfig:\n    parallelism: 2\n    delay: 300ms\n    monitor: 1s\n";
    c.create_service(&service_yaml("web", 6, "nginx", update))
        .await;
    let old = running(&c, "web", 6, "nginx").await;
    let timeline = Timeline::watch(c.tasks()).await;
    set_image(&c, "web", "nginx:2").await;
    let status = update_state(&c, "web", UpdateState::Completed).await;
    assert_eq!(status.message.as_deref(), Some("update completed"));
    assert!(status.started_at.is_some() && status.completed_at.is_some());
    let new = running(&c, "web", 6, "nginx:2").await;
    let mut slots: Vec<i64> = new.iter().filter_map(|t| t.spec.slot).collect();
    slots.sort();
    assert_eq!(slots, [1, 2, 3, 4, 5, 6]);
    // The old tasks stay as history, stopped.
    let tasks = c.tasks_of("web").await;
    for o in &old {
        let kept = tasks
            .iter()
            .find(|t| t.name_any() == o.name_any())
            .expect("old task kept as history");
        assert_eq!(kept.spec.desired_state, TaskState::Shutdown);
        assert_eq!(observed(kept), TaskState::Shutdown);
    }
    let versions = timeline.of("web");
    assert_eq!(max_updating(&versions, "nginx:2"), 2, "parallelism 2");
    // Stop-first: each old task stopped before its replacement started.
    for (slot, names) in by_slot(&versions) {
        let [old, new] = &names[..] else {
            panic!("slot {slot}: {names:?}")
        };
        let stopped = first(&versions, old, |t| observed(t) == TaskState::Shutdown);
        let started = first(&versions, new, |t| observed(t) == TaskState::Running);
        assert!(stopped < started, "slot {slot}: {stopped:?} !< {started:?}");
    }
    let described = describe_events(&c, "web").await;
    for reason in ["UpdateStarted", "UpdateCompleted"] {
        assert!(described.contains(reason), "{reason}: {described}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_update_rolls_back_to_the_previous_spec() {
    let c = Cluster::start(&["n1", "n2"]).await;
    let configs = "  updateConfig:\n    parallelism: 1\n    delay: 1s\n    failureAction: rollback\n    monitor: 2s\n    maxFailureRatio: 0\n  rollbackConfig:\n    parallelism: 0\n    monitor: 1s\n";
    c.create_service(&service_yaml("web", 4, "nginx", configs))
        .await;
    running(&c, "web", 4, "nginx").await;
    set_image(&c, "web", FAILING_IMAGE).await;
    let status = update_state(&c, "web", UpdateState::RollbackCompleted).await;
    assert_eq!(status.message.as_deref(), Some("rollback completed"));
    let svc = c.services().get("web").await.unwrap();
    assert_eq!(svc.spec.task_template.container_spec.image, "nginx");
    running(&c, "web", 4, "nginx").await;
    // The first slot failed within the delay after it: no other slot was tried.
    let tasks = c.tasks_of("web").await;
    let failed: Vec<&Task> = tasks.iter().filter(|t| image(t) == FAILING_IMAGE).collect();
    assert!(failed.iter().all(|t| t.spec.slot == Some(1)), "{failed:?}");
    let events = events_of(&c, "web").await;
    let why = message_of(&events, "UpdateRolledBack");
    assert!(
        why.starts_with("update rolled back due to failure or early termination of task web.1."),
        "{why}"
    );
    message_of(&events, "RollbackCompleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_update_pauses_until_the_next_update() {
    let c = Cluster::start(&["n1", "n2"]).await;
    let extra = "    restartPolicy:\n      condition: none\n  updateConfig:\n    parallelism: 1\n    delay: 1s\n    failureAction: pause\n    monitor: 2s\n";
    c.create_service(&service_yaml("web", 4, "nginx", extra))
        .await;
    running(&c, "web", 4, "nginx").await;
    set_image(&c, "web", FAILING_IMAGE).await;
    let status = update_state(&c, "web", UpdateState::Paused).await;
    let tasks = c.tasks_of("web").await;
    let failed: Vec<&Task> = tasks.iter().filter(|t| image(t) == FAILING_IMAGE).collect();
    let [failed] = &failed[..] else {
        panic!("one slot tried: {failed:?}")
    };
    assert_eq!(
        status.message.unwrap(),
        format!(
            "update paused due to failure or early termination of task {}",
            failed.name_any()
        )
    );
    // Paused: no further slot is updated.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let tasks = c.tasks_of("web").await;
    assert_eq!(
        tasks.iter().filter(|t| image(t) == FAILING_IMAGE).count(),
        1
    );
    running(&c, "web", 3, "nginx").await;
    let svc = c.services().get("web").await.unwrap();
    let state = svc.status.unwrap().update_status.unwrap().state;
    assert_eq!(state, Some(UpdateState::Paused));
    message_of(&events_of(&c, "web").await, "UpdatePaused");
    // The next spec update resumes updating.
    set_image(&c, "web", "nginx:3").await;
    update_state(&c, "web", UpdateState::Completed).await;
    running(&c, "web", 4, "nginx:3").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_rollback_annotation_restores_the_previous_spec() {
    let c = Cluster::start(&["n1", "n2"]).await;
    let configs = "  updateConfig:\n    parallelism: 0\n    monitor: 1s\n  rollbackConfig:\n    parallelism: 0\n    monitor: 1s\n";
    c.create_service(&service_yaml("web", 3, "nginx", configs))
        .await;
    running(&c, "web", 3, "nginx").await;
    set_image(&c, "web", "nginx:2").await;
    update_state(&c, "web", UpdateState::Completed).await;
    running(&c, "web", 3, "nginx:2").await;
    let annotate = json!({"metadata": {"annotations": {"flotilla.dev/rollback": "true"}}});
    c.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(annotate))
        .await
        .unwrap();
    let status = update_state(&c, "web", UpdateState::RollbackCompleted).await;
    assert_eq!(status.message.as_deref(), Some("rollback completed"));
    let svc = c.services().get("web").await.unwrap();
    assert_eq!(svc.spec.task_template.container_spec.image, "nginx");
    assert!(
        !svc.annotations().contains_key("flotilla.dev/rollback"),
        "{:?}",
        svc.annotations()
    );
    running(&c, "web", 3, "nginx").await;
    let events = events_of(&c, "web").await;
    assert_eq!(
        message_of(&events, "RollbackStarted"),
        "manually requested rollback from spec version 2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn force_update_redeploys_an_unchanged_template() {
    let c = Cluster::start(&["n1", "n2"]).await;
    let update = "  updateConfig:\n    parallelism: 0\n    monitor: 1s\n";
    c.create_service(&service_yaml("web", 3, "nginx", update))
        .await;
    let old = running(&c, "web", 3, "nginx").await;
    patch_spec(&c, "web", json!({"taskTemplate": {"forceUpdate": 1}})).await;
    update_state(&c, "web", UpdateState::Completed).await;
    let new = running(&c, "web", 3, "nginx").await;
    for t in &new {
        assert!(
            old.iter().all(|o| o.name_any() != t.name_any()),
            "{} not redeployed",
            t.name_any()
        );
        assert_eq!(t.spec.template.force_update, Some(1));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn start_first_starts_the_new_task_before_stopping_the_old() {
    let c = Cluster::start(&["n1", "n2"]).await;
    let update = "  updateConfig:\n    parallelism: 1\n    order: start-first\n    monitor: 1s\n";
    c.create_service(&service_yaml("web", 2, "nginx", update))
        .await;
    running(&c, "web", 2, "nginx").await;
    let timeline = Timeline::watch(c.tasks()).await;
    set_image(&c, "web", "nginx:2").await;
    update_state(&c, "web", UpdateState::Completed).await;
    running(&c, "web", 2, "nginx:2").await;
    let versions = timeline.of("web");
    for (slot, names) in by_slot(&versions) {
        let [old, new] = &names[..] else {
            panic!("slot {slot}: {names:?}")
        };
        let started = first(&versions, new, |t| observed(t) == TaskState::Running)
            .unwrap_or_else(|| panic!("{new} never ran"));
        let asked_to_stop = first(&versions, old, |t| {
            t.spec.desired_state >= TaskState::Shutdown
        })
        .unwrap_or_else(|| panic!("{old} never stopped"));
        assert!(
            started < asked_to_stop,
            "slot {slot}: old task asked to stop before the new one ran"
        );
    }
}
