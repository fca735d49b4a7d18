//! Plumbing: performs [`Action`]s against the api-server and reports what the caches must show
//! before the next decision round (so a task created a moment ago is not created twice).

use std::collections::HashMap;
use std::time::Duration;

use flotilla_api::{SwarmNetwork, SwarmNode, SwarmService, Task};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

use crate::action::{Action, Event};

pub const COMPONENT: &str = "flotilla-controller-manager";
/// The same event is not repeated within this long.
const EVENT_DEDUPE: Duration = Duration::from_secs(600);
/// Read-modify-write attempts after the first that met a conflict.
const CONFLICT_RETRIES: u32 = 4;

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

    /// Performs every action (up to 16 at once); failures are logged and retried by the next round.
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
            .buffer_unordered(16)
            .filter_map(|r| async move { r })
            .collect()
            .await
    }
}

async fn perform(client: Client, action: Action) -> Option<Expect> {
    let label = format!("{action:?}").chars().take(160).collect::<String>();
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

fn tasks(client: &Client, ns: &str) -> Api<Task> {
    Api::namespaced(client.clone(), ns)
}

fn services(client: &Client, ns: &str) -> Api<SwarmService> {
    Api::namespaced(client.clone(), ns)
}

/// Deletes a task; the round waits until the cache no longer shows it.
async fn delete_task(client: &Client, ns: &str, name: &str) -> Result<Expect, kube::Error> {
    tasks(client, ns)
        .delete(name, &DeleteParams::default())
        .await?;
    Ok(Expect::Task {
        key: format!("{ns}/{name}"),
        rv: None,
    })
}

async fn write(client: Client, action: Action) -> Result<Option<Expect>, kube::Error> {
    let pp = PatchParams::default();
    let task_expect = |ns: &str, t: &Task| Expect::Task {
        key: format!("{ns}/{}", t.name_any()),
        rv: rv_of(t),
    };
    Ok(match action {
        Action::CreateTask(task) => {
            let ns = crate::snapshot::ns_of(task.as_ref());
            let made = tasks(&client, &ns)
                .create(&PostParams::default(), &task)
                .await?;
            Some(task_expect(&ns, &made))
        }
        Action::SetDesired { ns, name, state } => {
            let patch = json!({"spec": {"desiredState": state}});
            let t = tasks(&client, &ns)
                .patch(&name, &pp, &Patch::Merge(patch))
                .await?;
            Some(task_expect(&ns, &t))
        }
        Action::DeleteTask { ns, name } => Some(delete_task(&client, &ns, &name).await?),
        Action::DeleteOrphan {
            ns,
            name,
            owner,
            owner_uid,
        } => {
            let current = services(&client, &ns).get_opt(&owner).await?;
            if current.is_some_and(|s| {
                s.uid().as_deref() == Some(&owner_uid) && s.metadata.deletion_timestamp.is_none()
            }) {
                return Ok(None);
            }
            Some(delete_task(&client, &ns, &name).await?)
        }
        Action::TaskState {
            ns,
            name,
            state,
            message,
            err,
        } => {
            let now = Time(Timestamp::now());
            let patch = json!({"status": {"state": state, "message": message, "err": err, "timestamp": now}});
            let t = tasks(&client, &ns)
                .patch_status(&name, &pp, &Patch::Merge(patch))
                .await?;
            Some(task_expect(&ns, &t))
        }
        Action::TaskNetworks { ns, name, networks } => {
            let patch = json!({"spec": {"networks": networks}});
            let t = tasks(&client, &ns)
                .patch(&name, &pp, &Patch::Merge(patch))
                .await?;
            Some(task_expect(&ns, &t))
        }
        Action::ServiceStatus { ns, name, patch } => {
            let s = services(&client, &ns)
                .patch_status(&name, &pp, &Patch::Merge(json!({"status": patch})))
                .await?;
            Some(Expect::Service {
                key: format!("{ns}/{name}"),
                rv: rv_of(&s),
            })
        }
        Action::ServiceSpec {
            ns,
            name,
            spec,
            annotations,
        } => {
            let s = replace_service(&client, &ns, &name, |svc| {
                svc.spec = (*spec).clone();
                let merged = svc
                    .metadata
                    .annotations
                    .get_or_insert_with(Default::default);
                for (k, v) in annotations.as_object().into_iter().flatten() {
                    match v.as_str() {
                        Some(v) => merged.insert(k.clone(), v.to_string()),
                        None => merged.remove(k),
                    };
                }
            })
            .await?;
            Some(Expect::Service {
                key: format!("{ns}/{name}"),
                rv: rv_of(&s),
            })
        }
        Action::RemoveFinalizer {
            ns,
            name,
            finalizer,
        } => {
            replace_service(&client, &ns, &name, |svc| {
                if let Some(f) = svc.metadata.finalizers.as_mut() {
                    f.retain(|f| *f != finalizer);
                }
            })
            .await?;
            None
        }
        Action::RemoveOwnerReference {
            ns,
            name,
            owner_uid,
        } => {
            let api = tasks(&client, &ns);
            let task = api.get(&name).await?;
            let kept: Vec<_> = task
                .owner_references()
                .iter()
                .filter(|o| o.uid != owner_uid)
                .cloned()
                .collect();
            // resourceVersion makes the merge patch a compare-and-swap: a concurrent change of
            // the list is a 409, retried next round.
            let patch = json!({"metadata": {"ownerReferences": kept, "resourceVersion": task.resource_version()}});
            let t = api.patch(&name, &pp, &Patch::Merge(patch)).await?;
            Some(task_expect(&ns, &t))
        }
        Action::NetworkStatus { ns, name, patch } => {
            let api: Api<SwarmNetwork> = Api::namespaced(client.clone(), &ns);
            api.patch_status(&name, &pp, &Patch::Merge(json!({"status": patch})))
                .await?;
            None
        }
        Action::NodeStatus { name, patch } => {
            let api: Api<SwarmNode> = Api::all(client.clone());
            let n = api
                .patch_status(&name, &pp, &Patch::Merge(json!({"status": patch})))
                .await?;
            Some(Expect::Node {
                name,
                rv: rv_of(&n),
            })
        }
        Action::Event(e) => {
            record(&client, e).await?;
            None
        }
    })
}

/// Read-modify-write of a service (PUT with the read resourceVersion). A conflict caused by a
/// write that left the spec alone (our own status patch of the same round) is retried on a fresh
/// read; one caused by a new spec (generation) is returned: the decision was about an older spec.
async fn replace_service(
    client: &Client,
    ns: &str,
    name: &str,
    change: impl Fn(&mut SwarmService),
) -> Result<SwarmService, kube::Error> {
    let api = services(client, ns);
    let mut generation = None;
    for attempt in 0.. {
        let mut svc = api.get(name).await?;
        if *generation.get_or_insert(svc.metadata.generation) != svc.metadata.generation {
            break;
        }
        change(&mut svc);
        match api.replace(name, &PostParams::default(), &svc).await {
            Err(kube::Error::Api(e)) if e.code == 409 && attempt < CONFLICT_RETRIES => {
                tracing::debug!(service = %name, attempt, "conflict; reading again");
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            done => return done,
        }
    }
    let message = format!("service {ns}/{name} got a new spec while being written");
    let status = kube::core::Status::failure(&message, "Conflict");
    Err(kube::Error::Api(
        kube::core::Status {
            code: 409,
            ..status
        }
        .boxed(),
    ))
}

/// A core v1 Event, which `kubectl describe` lists under the object.
async fn record(client: &Client, e: Event) -> Result<(), kube::Error> {
    let ns = e.ns.clone().unwrap_or_else(|| "default".to_string());
    let now = Timestamp::now();
    let event = CoreEvent {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", e.name, now.as_nanosecond())),
            namespace: Some(ns.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(flotilla_api::API_VERSION.to_string()),
            kind: Some(e.kind.to_string()),
            name: Some(e.name.clone()),
            namespace: e.ns.clone(),
            uid: e.uid.clone(),
            ..ObjectReference::default()
        },
        reason: Some(e.reason.to_string()),
        message: Some(e.message.clone()),
        type_: Some(if e.warning { "Warning" } else { "Normal" }.to_string()),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        action: Some(e.reason.to_string()),
        reporting_component: Some(COMPONENT.to_string()),
        reporting_instance: Some(COMPONENT.to_string()),
        source: Some(EventSource {
            component: Some(COMPONENT.to_string()),
            host: None,
        }),
        ..CoreEvent::default()
    };
    let api: Api<CoreEvent> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), &event).await?;
    Ok(())
}
