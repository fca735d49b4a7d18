//! A kube-runtime Controller with the finalizer helper, unmodified, against the real
//! api-server: it relies on JSON-patch `test` semantics and on deletionTimestamp handling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::service::SwarmService;
use flotilla_tests::apiserver::TestApiServer;
use futures::StreamExt;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{finalizer, Event};

const FINALIZER: &str = "flotilla.dev/test-cleanup";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Error(String);

async fn reconcile(
    obj: Arc<SwarmService>,
    ctx: Arc<(Api<SwarmService>, AtomicUsize)>,
) -> Result<Action, Error> {
    let (api, cleaned) = (&ctx.0, &ctx.1);
    finalizer(api, FINALIZER, obj, |ev| async move {
        match ev {
            Event::Apply(_) => Ok::<_, Error>(Action::await_change()),
            Event::Cleanup(_) => {
                cleaned.fetch_add(1, Ordering::SeqCst);
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error(e.to_string()))
}

#[tokio::test(flavor = "multi_thread")]
async fn controller_adds_finalizer_and_cleans_up_on_delete() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let api: Api<SwarmService> = Api::namespaced(server.client().await.unwrap(), "default");
    let ctx = Arc::new((api.clone(), AtomicUsize::new(0)));
    let controller = Controller::new(api.clone(), Default::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            ctx.clone(),
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    let svc: SwarmService =
        serde_yaml_ng::from_str(&flotilla_tests::fixtures::web("ctl", 1)).unwrap();
    api.create(&PostParams::default(), &svc).await.unwrap();
    let has_finalizer = async {
        loop {
            let o = api.get("ctl").await.unwrap();
            if o.metadata
                .finalizers
                .unwrap_or_default()
                .iter()
                .any(|f| f == FINALIZER)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), has_finalizer)
        .await
        .expect("finalizer added by the controller");

    api.delete("ctl", &DeleteParams::background())
        .await
        .unwrap();
    let gone = async {
        while api.get_opt("ctl").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), gone)
        .await
        .expect("object deleted after cleanup");
    assert_eq!(ctx.1.load(Ordering::SeqCst), 1, "cleanup ran once");
    handle.abort();
}
