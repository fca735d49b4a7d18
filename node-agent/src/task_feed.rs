//! One watch of every bound Task for all the simulated nodes of a process, dispatched to each
//! node by `spec.nodeName` (kwok's design: it watches pods once, not once per fake node).
//!
//! A watch per node holds one HTTP/2 stream per node on the agent's single connection. Past the
//! server's concurrent-stream limit the extra watches wait for a free stream that only a watch
//! timeout frees, and every later request of the connection (heartbeats, status writes) queues
//! behind them: every node stalls, not only the extra ones. One watch keeps the process at one
//! long-lived stream, whatever the number of nodes.
//!
//! Every process of a simulation reads every Task event, so the shared watch decodes only what
//! it dispatches by ([`FeedTask`]): a node's own Tasks are decoded whole, the rest are scanned.

use std::collections::HashMap;

use flotilla_api::lean::Lean;
use flotilla_api::Task;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};

use self::feed_task::FeedTask;

mod feed_task;

/// One node's Task events, from its own watch or from its share of a [`TaskFeed`].
pub(crate) type TaskEvents = BoxStream<'static, Result<Event<Task>, watcher::Error>>;

/// Who an event of the shared watch is for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// The watch (re)started or finished listing: every node's view restarts or completes.
    Every,
    Node(&'a str),
}

/// A watched object that names the one node it is bound to.
pub(crate) trait Bound {
    fn node(&self) -> &str;
}

impl Bound for Task {
    fn node(&self) -> &str {
        self.spec.node_name.as_deref().unwrap_or_default()
    }
}

/// The nodes `event` concerns.
pub(crate) fn target<K: Bound>(event: &Event<K>) -> Target<'_> {
    match event {
        Event::Init | Event::InitDone => Target::Every,
        Event::Apply(t) | Event::InitApply(t) | Event::Delete(t) => Target::Node(t.node()),
    }
}

/// The watch a node agent of its own runs: only the Tasks bound to it (all the api-server's
/// node authorizer lets a node list or watch).
pub(crate) fn own_watch(client: Client, node: &str) -> TaskEvents {
    let api: Api<Lean<Task>> = Api::all(client);
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let events = watcher::watcher(api, config).default_backoff();
    events.map_ok(flotilla_component::lean::unlean).boxed()
}

/// The shared watch and each subscribed node's channel.
#[derive(Default)]
pub(crate) struct TaskFeed {
    nodes: HashMap<String, mpsc::UnboundedSender<Event<Task>>>,
}

impl TaskFeed {
    /// The events of the Tasks bound to `node` (and every restart of the watch).
    pub(crate) fn subscribe(&mut self, node: &str) -> TaskEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        self.nodes.insert(node.to_string(), tx);
        futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|event| (Ok(event), rx))
        })
        .boxed()
    }

    /// Watches every bound Task and hands each event to its node until `stop` flips; Tasks of
    /// nodes this process does not run are skipped. Dropping the channels then ends each
    /// node's stream.
    pub(crate) async fn run(self, client: Client, mut stop: watch::Receiver<bool>) {
        let api: Api<FeedTask> = Api::all(client);
        let config = watcher::Config::default().fields("spec.nodeName!=");
        let mut events = watcher::watcher(api, config).default_backoff().boxed();
        loop {
            let event = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return,
                event = events.try_next() => event,
            };
            match event {
                Ok(Some(event)) => self.dispatch(event),
                Ok(None) => return,
                Err(e) => tracing::warn!(error = %e, "shared task watch failed; retrying"),
            }
        }
    }

    fn dispatch(&self, event: Event<FeedTask>) {
        // A node whose router has ended (its agent stopped) just misses the event.
        let to: Vec<_> = match target(&event) {
            Target::Every => self.nodes.values().collect(),
            Target::Node(node) => self.nodes.get(node).into_iter().collect(),
        };
        if to.is_empty() {
            return;
        }
        match feed_task::decode(event) {
            Ok(event) => {
                // Each node but the last gets a copy; nearly every event has one node.
                let (last, rest) = to.split_last().expect("not empty");
                for tx in rest {
                    let _ = tx.send(event.clone());
                }
                let _ = last.send(event);
            }
            Err(e) => tracing::warn!(error = %e, "a watched task did not decode; skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(node: Option<&str>) -> Task {
        let mut t = Task::new("web.1", Default::default());
        t.spec.node_name = node.map(String::from);
        t
    }

    #[test]
    fn task_events_go_to_the_node_they_are_bound_to() {
        let t = task(Some("sim-7"));
        assert_eq!(target(&Event::Apply(t.clone())), Target::Node("sim-7"));
        assert_eq!(target(&Event::InitApply(t.clone())), Target::Node("sim-7"));
        assert_eq!(target(&Event::Delete(t)), Target::Node("sim-7"));
        assert_eq!(target(&Event::Apply(task(None))), Target::Node(""));
    }

    #[test]
    fn restarts_of_the_watch_go_to_every_node() {
        assert_eq!(target(&Event::<Task>::Init), Target::Every);
        assert_eq!(target(&Event::<Task>::InitDone), Target::Every);
    }

    /// `task` as the shared watch reads it off the wire.
    fn fed(node: Option<&str>) -> FeedTask {
        serde_json::from_str(&serde_json::to_string(&task(node)).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn dispatch_reaches_only_subscribed_nodes() {
        let mut feed = TaskFeed::default();
        let mut a = feed.subscribe("sim-0");
        let mut b = feed.subscribe("sim-1");
        feed.dispatch(Event::Init);
        feed.dispatch(Event::Apply(fed(Some("sim-1"))));
        feed.dispatch(Event::Apply(fed(Some("other-3"))));
        feed.dispatch(Event::InitDone);
        drop(feed);
        let a: Vec<_> = a.by_ref().map(Result::unwrap).collect().await;
        let b: Vec<_> = b.by_ref().map(Result::unwrap).collect().await;
        assert!(matches!(a[..], [Event::Init, Event::InitDone]), "{a:?}");
        assert!(
            matches!(&b[..], [Event::Init, Event::Apply(t), Event::InitDone]
                if t.spec.node_name.as_deref() == Some("sim-1")),
            "{b:?}"
        );
    }
}
