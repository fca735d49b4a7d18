//! One Event recorder for every component: a core v1 Event about an object, which
//! `kubectl describe` lists under it and `kubectl get events` shows.
//!
//! Not kube-runtime's `Recorder`: it folds repeats into a series keyed without the message, so a
//! later `FailedScheduling` with a new explanation would keep showing the first one's, and it
//! patches events.k8s.io/v1 Events for repeats, a right the components otherwise do not need.
//! Here each event is its own object (the api-server's `--event-ttl`, 1 hour by default, removes old ones).

use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

/// The longest message an Event keeps, in bytes (client-go's recorders cut at the same length):
/// a decision about thousands of objects must not become a large object in the store.
pub const MAX_MESSAGE: usize = 1024;

/// `message` cut to [`MAX_MESSAGE`] bytes at a character boundary, ending in `…` when cut.
pub fn bounded_message(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_string();
    }
    const MARK: &str = "…";
    let mut end = MAX_MESSAGE - MARK.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &message[..end])
}

/// `Normal` or `Warning`, the two types `kubectl` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// What happened to which object.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub regarding: ObjectReference,
    pub type_: EventType,
    /// CamelCase, e.g. `FailedScheduling`.
    pub reason: String,
    pub message: String,
}

/// Records Events as one component (`reportingComponent`, `source.component`).
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    component: String,
}

impl Recorder {
    pub fn new(client: kube::Client, component: &str) -> Recorder {
        Recorder {
            client,
            component: component.to_string(),
        }
    }

    /// Creates the Event in its object's namespace (`default` for cluster-scoped objects, as
    /// Kubernetes does for Nodes).
    pub async fn record(&self, event: &Event) -> Result<(), kube::Error> {
        let ns = event
            .regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let api: Api<CoreEvent> = Api::namespaced(self.client.clone(), &ns);
        let object = core_event(&self.component, &ns, event, Timestamp::now());
        api.create(&PostParams::default(), &object).await?;
        Ok(())
    }
}

/// The core v1 Event `component` writes for `event` at `now` (named `<object>.<nanoseconds>`,
/// as client-go names them).
pub fn core_event(component: &str, ns: &str, event: &Event, now: Timestamp) -> CoreEvent {
    let object = event.regarding.name.clone().unwrap_or_default();
    let type_ = match event.type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    };
    CoreEvent {
        metadata: ObjectMeta {
            name: Some(format!("{object}.{:x}", now.as_nanosecond())),
            namespace: Some(ns.to_string()),
            ..ObjectMeta::default()
        },
        involved_object: event.regarding.clone(),
        reason: Some(event.reason.clone()),
        message: Some(bounded_message(&event.message)),
        type_: Some(type_.to_string()),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        action: Some(event.reason.clone()),
        reporting_component: Some(component.to_string()),
        reporting_instance: Some(component.to_string()),
        source: Some(EventSource {
            component: Some(component.to_string()),
            host: None,
        }),
        ..CoreEvent::default()
    }
}

/// A reference to a Flotilla object (`flotilla.dev/v1alpha1`) of `kind`.
pub fn flotilla_object(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    uid: Option<&str>,
) -> ObjectReference {
    ObjectReference {
        api_version: Some(flotilla_api::API_VERSION.to_string()),
        kind: Some(kind.to_string()),
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        uid: uid.map(str::to_string),
        ..ObjectReference::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_names_its_object_type_and_component() {
        let event = Event {
            regarding: flotilla_object("Task", Some("default"), "web.1", Some("u1")),
            type_: EventType::Warning,
            reason: "FailedScheduling".into(),
            message: "no suitable node".into(),
        };
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let core = core_event("flotilla-scheduler", "default", &event, now);
        assert!(core.metadata.name.as_deref().unwrap().starts_with("web.1."));
        assert_eq!(core.type_.as_deref(), Some("Warning"));
        assert_eq!(core.involved_object.kind.as_deref(), Some("Task"));
        assert_eq!(core.involved_object.uid.as_deref(), Some("u1"));
        assert_eq!(
            core.source.unwrap().component.as_deref(),
            Some("flotilla-scheduler")
        );
    }

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary() {
        let names: Vec<String> = (1..=2_000).map(|i| format!("web.{i}.é")).collect();
        let event = Event {
            regarding: flotilla_object("SwarmService", Some("default"), "web", None),
            type_: EventType::Normal,
            reason: "ScaledUp".into(),
            message: format!("created 2000 task(s): {}", names.join(", ")),
        };
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let message = core_event("c", "default", &event, now).message.unwrap();
        assert!(message.len() <= MAX_MESSAGE, "{} bytes", message.len());
        assert!(message.starts_with("created 2000 task(s): web.1.é, web.2.é"));
        assert!(message.ends_with('…'));
        assert_eq!(bounded_message("short"), "short");
    }
}
