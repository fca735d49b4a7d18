//! The store's side: raw etcd puts at the pipeline's concurrency (the floor), and every write
//! the pipeline makes, counted by resource from a watch of the whole keyspace.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{Client, EventType, WatchOptions};
use tokio::sync::oneshot;

/// How long `n` raw puts of task-sized values take at `concurrency`.
pub async fn raw_puts(
    endpoint: &str,
    tag: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    flotilla_tests::bench::raw_etcd_puts(endpoint, tag, n, concurrency).await
}

/// Counts the puts and deletes under `/registry/` until stopped.
pub struct WriteCounter {
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<Writes>,
}

/// What a phase wrote.
#[derive(Default)]
pub struct Writes {
    /// Puts (and deletes, as `<resource> (deletes)`) per resource.
    pub by_resource: BTreeMap<String, u64>,
    /// Event creates per `reason`: which component's Events cost the store (and the watch
    /// cache) what.
    pub event_reasons: BTreeMap<String, u64>,
}

impl WriteCounter {
    pub async fn start(endpoint: &str) -> anyhow::Result<WriteCounter> {
        let mut client = Client::connect([endpoint], None).await?;
        let mut stream = client
            .watch("/registry/", Some(WatchOptions::new().with_prefix()))
            .await?;
        let (stop, mut stopped) = oneshot::channel();
        let done = tokio::spawn(async move {
            let _client = client;
            let mut counts = Writes::default();
            loop {
                let msg = tokio::select! {
                    _ = &mut stopped => break,
                    msg = stream.message() => msg,
                };
                let Ok(Some(resp)) = msg else { break };
                for event in resp.events() {
                    let Some(kv) = event.kv() else { continue };
                    let key = String::from_utf8_lossy(kv.key());
                    let kind = resource_of(&key);
                    let verb = match event.event_type() {
                        EventType::Put => "",
                        EventType::Delete => " (deletes)",
                    };
                    if kind == "events" && event.event_type() == EventType::Put {
                        *counts
                            .event_reasons
                            .entry(reason_of(kv.value()))
                            .or_default() += 1;
                    }
                    *counts
                        .by_resource
                        .entry(format!("{kind}{verb}"))
                        .or_default() += 1;
                }
            }
            counts
        });
        Ok(WriteCounter { stop, done })
    }

    /// Stops counting (after a moment for the last events to arrive); writes per resource.
    pub async fn finish(self) -> Writes {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = self.stop.send(());
        self.done.await.unwrap_or_default()
    }
}

/// An Event's `reason` as stored (`?` when it has none or is not JSON).
fn reason_of(value: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Reason {
        reason: Option<String>,
    }
    // A group-committed write keeps its position in the Txn as a two-byte frame.
    let (json, _) = flotilla_api_server::storage::etcd_revision::unframe(value);
    serde_json::from_slice::<Reason>(json)
        .ok()
        .and_then(|r| r.reason)
        .unwrap_or_else(|| "?".into())
}

/// `/registry/<group>/<resource>/…` or `/registry/<resource>/…` → the resource.
fn resource_of(key: &str) -> &str {
    let parts: Vec<&str> = key.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [_, group, resource, ..] if group.contains('.') => resource,
        [_, resource, ..] => resource,
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::{reason_of, resource_of};

    #[test]
    fn an_event_is_counted_by_its_reason() {
        assert_eq!(
            reason_of(br#"{"kind":"Event","reason":"ScaledUp"}"#),
            "ScaledUp"
        );
        assert_eq!(reason_of(b"\x00binary"), "?");
        assert_eq!(reason_of(b"\x00\x07{\"reason\":\"NodeDown\"}"), "NodeDown");
    }

    #[test]
    fn keys_name_their_resource() {
        assert_eq!(
            resource_of("/registry/flotilla.dev/tasks/default/web.1"),
            "tasks"
        );
        assert_eq!(resource_of("/registry/leases/ns/n"), "leases");
        assert_eq!(
            resource_of("/registry/coordination.k8s.io/leases/ns/n"),
            "leases"
        );
    }
}
