//! Garbage collection with orphan propagation: `kubectl delete --cascade=orphan` finishes (the
//! controller-manager drops the tasks' ownerReferences, then the `orphan` finalizer) and the
//! tasks keep running without an owner.

mod controller_support;

use std::time::Duration;

use controller_support::{running_slots, Cluster};
use flotilla_tests::kubectl::Kubectl;
use kube::ResourceExt;

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_delete_cascade_orphan_finishes_and_keeps_the_tasks() {
    let c = Cluster::start(&["n1", "n2"]).await;
    let yaml = "apiVersion: flotilla.dev/v1alpha1\nkind: SwarmService\nmetadata:\n  name: keep\nspec:\n  mode:\n    replicated:\n      replicas: 2\n  taskTemplate:\n    containerSpec:\n      image: nginx\n";
    let svc = c.create_service(yaml).await;
    let before = c
        .eventually(30, "2 running tasks", || async {
            let tasks = c.tasks_of("keep").await;
            (running_slots(&tasks).len() == 2).then_some(tasks)
        })
        .await;

    let kubectl = Kubectl::new(33, &c.server.kubeconfig).expect("kubectl 1.33 installed");
    let args = ["delete", "ssvc/keep", "--cascade=orphan", "--timeout=30s"];
    let run = tokio::task::spawn_blocking(move || kubectl.run(&args))
        .await
        .unwrap()
        .ok();
    assert!(run.stdout.contains("deleted"), "{run:?}");
    assert!(c.services().get_opt("keep").await.unwrap().is_none());

    // The tasks outlive their service, still running, owned by nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = c.tasks_of("keep").await;
    let names = |ts: &[flotilla_api::Task]| ts.iter().map(|t| t.name_any()).collect::<Vec<_>>();
    assert_eq!(names(&after), names(&before));
    assert_eq!(running_slots(&after).len(), 2, "{after:?}");
    for t in &after {
        let owned_by_svc = t
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == svc.metadata.uid.as_ref());
        assert!(
            !owned_by_svc,
            "{} still owned: {:?}",
            t.name_any(),
            t.owner_references()
        );
    }
}
