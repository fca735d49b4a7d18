//! Out of file descriptors, accept fails at once and keeps failing: the server must back off
//! and log a line now and then, not spin and write gigabytes of log, and it must serve again
//! once descriptors are free. Its own test binary: it lowers the process's open-file limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flotilla_tests::apiserver::TestApiServer;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use rustix::process::{getrlimit, setrlimit, Resource};
use tracing_subscriber::layer::SubscriberExt;

/// Counts the server's "accept failed" log events.
struct AcceptFailures(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AcceptFailures {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" && format!("{v:?}").contains("accept failed") {
                    self.0 = true;
                }
            }
        }
        let mut m = Message(false);
        event.record(&mut m);
        if m.0 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_backs_off_when_out_of_file_descriptors() {
    let failures = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(AcceptFailures(failures.clone()));
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
    let server = TestApiServer::embedded().await.unwrap();
    let client = server.client().await.unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("flotilla.dev", "v1alpha1", "SwarmService"),
        "swarmservices",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    api.list(&ListParams::default()).await.unwrap();

    // Leave room for a few dozen sockets, then connect until the process has none left: the
    // connections the kernel completed but the server cannot accept make its accept fail.
    let saved = getrlimit(Resource::Nofile);
    let mut low = saved;
    low.current = Some(open_fds() + 40);
    setrlimit(Resource::Nofile, low).unwrap();
    let addr = server.url.trim_start_matches("https://").to_string();
    let mut held = Vec::new();
    for _ in 0..200 {
        match std::net::TcpStream::connect(&addr) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    assert!(!held.is_empty(), "some connections were made");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let logged = failures.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&logged),
        "{logged} 'accept failed' lines in 3s (want at least one and no flood)"
    );

    // Descriptors back: the backlog is accepted and the admin is served again.
    drop(held);
    setrlimit(Resource::Nofile, saved).unwrap();
    let served = tokio::time::timeout(Duration::from_secs(10), api.list(&ListParams::default()))
        .await
        .expect("answered within 10s once descriptors are free");
    served.unwrap();
}
