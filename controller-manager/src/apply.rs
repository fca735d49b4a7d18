//! Plumbing: performs [`Action`]s against the api-server and reports what the caches must show
//! before the next decision round (so a task created a moment ago is not created twice).

use std::collections::HashMap;
use std::time::Duration;

use flotilla_component::events::{self, flotilla_object, EventType, Recorder};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use serde_json::json;
use tokio::time::Instant;

use crate::action::{Action, Event};

mod writes;
use writes as w;

pub const COMPONENT: &str = "flotilla-controller-manager";
/// The same event is not repeated within this long.
const EVENT_DEDUPE: Duration = Duration::from_secs(600);
/// A round's writes in flight at once: as many as the scheduler's bindings, so a round of a
/// hundred writes (an update's slots) takes two round trips, not seven.
const WRITES_IN_FLIGHT: usize = 64;

/// What the task/service caches must reflect before deciding again: `rv` None = deleted.
#[derive(Clone, Debug)]
pub enum Expect {
    Task { key: String, rv: Option<u64> },
    Service { key: String, rv: Option<u64> },
    Node { name: String, rv: Option<u64> },
}

pub struct Applier {
    client: Client,
    recent_events: HashMap<String, Instant>,
}

fn rv_of<K: kube::Resource>(obj: &K) -> Option<u64> {
    obj.meta()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
}

fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(e) if e.code == 404)
}

impl Applier {
    pub fn new(client: Client) -> Applier {
        Applier {
            client,
            recent_events: HashMap::new(),
        }
    }

    /// Performs every action, [`WRITES_IN_FLIGHT`] at once; failures are logged and retried by
    /// the next round.
    pub async fn apply(&mut self, actions: Vec<Action>) -> Vec<Expect> {
        let now = Instant::now();
        self.recent_events
            .retain(|_, at| now.duration_since(*at) < EVENT_DEDUPE);
        let mut writes = Vec::new();
        for action in actions {
            if let Action::Event(e) = &action {
                let key = format!(
                    "{}/{:?}/{}/{}/{}",
                    e.kind, e.ns, e.name, e.reason, e.message
                );
                if self.recent_events.insert(key, now).is_some() {
                    continue;
                }
            }
            writes.push(action);
        }
        let client = self.client.clone();
        futures::stream::iter(writes)
            .map(|a| perform(client.clone(), a))
            .buffer_unordered(WRITES_IN_FLIGHT)
            .filter_map(|r| async move { r })
            .collect()
            .await
    }
}

async fn perform(client: Client, action: Action) -> Option<Expect> {
    let label = action.to_string();
    tracing::debug!(action = %label, "applying");
    match write(client, action).await {
        Ok(expect) => expect,
        Err(err) if is_not_found(&err) => None,
        Err(err) => {
            tracing::warn!(error = %err, action = %label, "write failed; retrying next round");
            None
        }
    }
}

/// One action as one write (or a read and a write); what the caches must show afterwards.
async fn write(client: Client, action: Action) -> Result<Option<Expect>, kube::Error> {
    let c = &client;
    Ok(match action {
        Action::CreateTask(task) => Some(w::create_task(c, &task).await?),
        Action::SetDesired { ns, name, state } => {
            let patch = json!({"spec": {"desiredState": state}});
            Some(w::patch_task(c, &ns, &name, patch).await?)
        }
        Action::DeleteTask { ns, name } => Some(w::delete_task(c, &ns, &name).await?),
        Action::DeleteOrphan {
            ns,
            name,
            owner,
            owner_uid,
        } => w::delete_orphan(c, &ns, &name, &owner, &owner_uid).await?,
        Action::TaskState {
            ns,
            name,
            state,
            message,
            err,
        } => {
            let now = Time(Timestamp::now());
            let status = json!({"state": state, "message": message, "err": err, "timestamp": now});
            Some(w::task_status(c, &ns, &name, status).await?)
        }
        Action::TaskNetworks { ns, name, networks } => {
            let patch = json!({"spec": {"networks": networks}});
            Some(w::patch_task(c, &ns, &name, patch).await?)
        }
        Action::ServiceStatus { ns, name, patch } => {
            Some(w::service_status(c, &ns, &name, patch).await?)
        }
        Action::ServiceSpec {
            ns,
            name,
            spec,
            annotations,
        } => Some(w::service_spec(c, &ns, &name, &spec, &annotations).await?),
        Action::RemoveFinalizer {
            ns,
            name,
            finalizer,
        } => w::remove_finalizer(c, &ns, &name, &finalizer).await?,
        Action::RemoveOwnerReference {
            ns,
            name,
            owner_uid,
        } => Some(w::remove_owner_reference(c, &ns, &name, &owner_uid).await?),
        Action::NetworkStatus { ns, name, patch } => {
            w::network_status(c, &ns, &name, patch).await?
        }
        Action::NodeStatus { name, patch } => Some(w::node_status(c, &name, patch).await?),
        Action::Event(e) => {
            record(c, e).await?;
            None
        }
    })
}

/// A core v1 Event, which `kubectl describe` lists under the object.
async fn record(client: &Client, e: Event) -> Result<(), kube::Error> {
    let event = events::Event {
        regarding: flotilla_object(e.kind, e.ns.as_deref(), &e.name, e.uid.as_deref()),
        type_: if e.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: e.reason.to_string(),
        message: e.message,
    };
    Recorder::new(client.clone(), COMPONENT)
        .record(&event)
        .await
}
