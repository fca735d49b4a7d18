//! Wakes a task's worker when the engine reports a change of its container, instead of every
//! worker inspecting its container every second: one `GET /events` stream per agent, filtered
//! to this node's containers and to the actions that change what [`super::Runtime::observe`]
//! returns (start, die, oom, destroy, health_status). Swarm's own Docker executor waits on the
//! same event stream.
//!
//! Workers still re-observe every [`RESYNC`] while the stream is up, and every [`POLL`] while
//! it is down: an event stream can lose events (the engine restarted, the connection broke
//! between two reads, an engine that names an action differently), and a missed `die` must
//! delay a replacement by at most one resync, never leave a task Running forever. The kubelet
//! makes the same trade with its evented PLEG, which keeps a slow relist behind the events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use futures::StreamExt;
use tokio::sync::Notify;

use super::docker_spec::{NODE_LABEL, TASK_UID_LABEL};

/// Re-observation period while the event stream is up (the safety net).
pub const RESYNC: Duration = Duration::from_secs(30);
/// Re-observation period while it is down: the old polling, until the stream is back.
pub const POLL: Duration = Duration::from_secs(1);
/// The container actions after which a task's observation may differ.
pub const ACTIONS: [&str; 5] = ["start", "die", "oom", "destroy", "health_status"];

/// How long a worker waits for an event before re-observing anyway.
pub fn resync_interval(stream_up: bool) -> Duration {
    if stream_up {
        RESYNC
    } else {
        POLL
    }
}

/// The task uid an event is about (the label the agent puts on its containers), if any.
pub fn task_uid(event: &EventMessage) -> Option<&str> {
    let attributes = event.actor.as_ref()?.attributes.as_ref()?;
    attributes.get(TASK_UID_LABEL).map(String::as_str)
}

/// The `filters` of the events request: this node's containers, only [`ACTIONS`].
pub fn filters(node: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("label".to_string(), vec![format!("{NODE_LABEL}={node}")]),
        (
            "event".to_string(),
            ACTIONS.iter().map(|a| a.to_string()).collect(),
        ),
    ])
}

/// The wake-ups of the tasks whose workers wait, and whether the stream is up.
#[derive(Default)]
pub struct Wakers {
    tasks: Mutex<HashMap<String, Arc<Notify>>>,
    stream_up: AtomicBool,
}

impl Wakers {
    /// The wake-up of task `uid` for as long as the returned [`Wake`] lives (its worker's life).
    pub fn subscribe(self: &Arc<Self>, uid: &str) -> Wake {
        let notify = Arc::new(Notify::new());
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.insert(uid.to_string(), notify.clone());
        Wake(Inner::Events {
            wakers: self.clone(),
            uid: uid.to_string(),
            notify,
        })
    }

    /// Events about containers no worker holds (being removed, or not yet adopted) are dropped.
    fn wake(&self, uid: &str) {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = tasks.get(uid) {
            n.notify_one();
        }
    }

    fn wake_all(&self) {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.values().for_each(|n| n.notify_one());
    }

    fn forget(&self, uid: &str) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.remove(uid);
    }
}

/// What one task's worker waits on between two observations (see [`super::Runtime::subscribe`]).
pub struct Wake(Inner);

enum Inner {
    Poll(Duration),
    /// A `Notify` keeps one permit, so an event arriving while the worker is busy ends its
    /// next wait at once.
    Events {
        wakers: Arc<Wakers>,
        uid: String,
        notify: Arc<Notify>,
    },
}

impl Wake {
    /// Waits `interval` each time: for runtimes that poll.
    pub fn polling(interval: Duration) -> Wake {
        Wake(Inner::Poll(interval))
    }

    /// Returns after an event about the task, or after the resync (poll) interval.
    pub async fn changed(&self) {
        match &self.0 {
            Inner::Poll(interval) => tokio::time::sleep(*interval).await,
            Inner::Events { wakers, notify, .. } => {
                let up = wakers.stream_up.load(Ordering::Relaxed);
                tokio::select! {
                    _ = notify.notified() => {}
                    _ = tokio::time::sleep(resync_interval(up)) => {}
                }
            }
        }
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        if let Inner::Events { wakers, uid, .. } = &self.0 {
            wakers.forget(uid);
        }
    }
}

pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Follows the engine's events for `node` until aborted, reconnecting after a second when the
/// stream ends. Each (re)connection asks for the events since the last one seen (the engine
/// replays them), and wakes every worker once, for what the gap may have hidden.
pub async fn follow(client: bollard::Docker, node: String, wakers: Arc<Wakers>) {
    let mut since = unix_now();
    loop {
        let options = EventsOptions {
            since: Some(since.to_string()),
            filters: Some(filters(&node)),
            ..Default::default()
        };
        let mut stream = client.events(Some(options));
        wakers.stream_up.store(true, Ordering::Relaxed);
        wakers.wake_all();
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    since = event.time.unwrap_or(since).max(since);
                    if let Some(uid) = task_uid(&event) {
                        tracing::debug!(task_uid = %uid, action = ?event.action, "container event");
                        wakers.wake(uid);
                    }
                }
                Err(e) => {
                    tracing::warn!(node = %node, error = %e, "docker event stream failed");
                    break;
                }
            }
        }
        wakers.stream_up.store(false, Ordering::Relaxed);
        wakers.wake_all();
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn event(labels: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            action: Some("die".into()),
            actor: Some(EventActor {
                id: Some("c1".into()),
                attributes: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn events_name_the_task_by_its_uid_label() {
        let e = event(&[(TASK_UID_LABEL, "u-1"), (NODE_LABEL, "n1")]);
        assert_eq!(task_uid(&e), Some("u-1"));
        assert_eq!(task_uid(&event(&[("name", "other")])), None);
        assert_eq!(task_uid(&EventMessage::default()), None);
    }

    #[test]
    fn the_slow_resync_applies_only_while_events_flow() {
        assert_eq!(resync_interval(true), RESYNC);
        assert_eq!(resync_interval(false), POLL);
        assert!(RESYNC >= 10 * POLL);
    }

    #[test]
    fn the_filter_selects_this_nodes_container_exits_and_health() {
        let f = filters("n1");
        assert_eq!(f["label"], vec![format!("{NODE_LABEL}=n1")]);
        assert_eq!(f["type"], vec!["container"]);
        for action in ["die", "oom", "health_status"] {
            assert!(f["event"].iter().any(|a| a == action), "{action}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_before_the_wait_is_not_lost() {
        let wakers = Arc::new(Wakers::default());
        wakers.stream_up.store(true, Ordering::Relaxed);
        let wake = wakers.subscribe("u-1");
        wakers.wake("u-1");
        wakers.wake("u-2");
        let start = tokio::time::Instant::now();
        wake.changed().await;
        assert!(start.elapsed() < Duration::from_millis(1));
        wake.changed().await;
        assert_eq!(
            start.elapsed(),
            RESYNC,
            "no event: the resync ends the wait"
        );
    }

    #[test]
    fn a_finished_worker_leaves_no_wake_up_behind() {
        let wakers = Arc::new(Wakers::default());
        drop(wakers.subscribe("u-1"));
        wakers.wake("u-1");
        assert!(wakers.tasks.lock().unwrap().is_empty());
    }
}
