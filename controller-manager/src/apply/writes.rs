//! The api-server writes behind each [`Action`](crate::action::Action), one function each, and
//! what the caches must show afterwards.

use std::time::Duration;

use flotilla_api::{SwarmNetwork, SwarmNode, SwarmService, SwarmServiceSpec, Task};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};

use super::{rv_of, Expect};

/// Read-modify-write attempts after the first that met a conflict.
const CONFLICT_RETRIES: u32 = 4;

fn tasks(client: &Client, ns: &str) -> Api<Task> {
    Api::namespaced(client.clone(), ns)
}

fn services(client: &Client, ns: &str) -> Api<SwarmService> {
    Api::namespaced(client.clone(), ns)
}

/// A JSON merge patch of the object.
async fn merge<K>(api: &Api<K>, name: &str, patch: Value) -> Result<K, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
}

/// A JSON merge patch of the object's status, through its status subresource.
async fn merge_status<K>(api: &Api<K>, name: &str, status: Value) -> Result<K, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = Patch::Merge(json!({ "status": status }));
    api.patch_status(name, &PatchParams::default(), &patch)
        .await
}

fn task_expect(ns: &str, t: &Task) -> Expect {
    Expect::Task {
        key: format!("{ns}/{}", t.name_any()),
        rv: rv_of(t),
    }
}

fn service_expect(ns: &str, name: &str, s: &SwarmService) -> Expect {
    Expect::Service {
        key: format!("{ns}/{name}"),
        rv: rv_of(s),
    }
}

pub async fn create_task(client: &Client, task: &Task) -> Result<Expect, kube::Error> {
    let ns = crate::snapshot::ns_of(task);
    let made = tasks(client, &ns)
        .create(&PostParams::default(), task)
        .await?;
    Ok(task_expect(&ns, &made))
}

/// A JSON merge patch of a task (its spec: desired state, network attachments).
pub async fn patch_task(
    client: &Client,
    ns: &str,
    name: &str,
    patch: Value,
) -> Result<Expect, kube::Error> {
    let t = merge(&tasks(client, ns), name, patch).await?;
    Ok(task_expect(ns, &t))
}

/// A JSON merge patch of a task's status, through the status subresource.
pub async fn task_status(
    client: &Client,
    ns: &str,
    name: &str,
    status: Value,
) -> Result<Expect, kube::Error> {
    let t = merge_status(&tasks(client, ns), name, status).await?;
    Ok(task_expect(ns, &t))
}

/// Deletes a task; the round waits until the cache no longer shows it.
pub async fn delete_task(client: &Client, ns: &str, name: &str) -> Result<Expect, kube::Error> {
    tasks(client, ns)
        .delete(name, &DeleteParams::default())
        .await?;
    Ok(Expect::Task {
        key: format!("{ns}/{name}"),
        rv: None,
    })
}

/// Deletes a task whose owner looked gone in the cache, unless a fresh read shows the owner
/// (same uid, not being deleted) after all.
pub async fn delete_orphan(
    client: &Client,
    ns: &str,
    name: &str,
    owner: &str,
    owner_uid: &str,
) -> Result<Option<Expect>, kube::Error> {
    let current = services(client, ns).get_opt(owner).await?;
    if current.is_some_and(|s| {
        s.uid().as_deref() == Some(owner_uid) && s.metadata.deletion_timestamp.is_none()
    }) {
        return Ok(None);
    }
    Ok(Some(delete_task(client, ns, name).await?))
}

/// Orphans a task: drops its ownerReferences to the service with `owner_uid`.
pub async fn remove_owner_reference(
    client: &Client,
    ns: &str,
    name: &str,
    owner_uid: &str,
) -> Result<Expect, kube::Error> {
    let api = tasks(client, ns);
    let task = api.get(name).await?;
    let kept: Vec<_> = task
        .owner_references()
        .iter()
        .filter(|o| o.uid != owner_uid)
        .cloned()
        .collect();
    // resourceVersion makes the merge patch a compare-and-swap: a concurrent change of the list
    // is a 409, retried next round.
    let patch =
        json!({"metadata": {"ownerReferences": kept, "resourceVersion": task.resource_version()}});
    let t = merge(&api, name, patch).await?;
    Ok(task_expect(ns, &t))
}

pub async fn service_status(
    client: &Client,
    ns: &str,
    name: &str,
    patch: Value,
) -> Result<Expect, kube::Error> {
    let s = merge_status(&services(client, ns), name, patch).await?;
    Ok(service_expect(ns, name, &s))
}

/// Replaces a service's spec (a rollback) and merges `annotations` into its metadata (a null
/// value removes the annotation).
pub async fn service_spec(
    client: &Client,
    ns: &str,
    name: &str,
    spec: &SwarmServiceSpec,
    annotations: &Value,
) -> Result<Expect, kube::Error> {
    let s = replace_service(client, ns, name, |svc| {
        svc.spec = spec.clone();
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
    Ok(service_expect(ns, name, &s))
}

/// Drops a finalizer from a service being deleted (its foreground deletion is done).
pub async fn remove_finalizer(
    client: &Client,
    ns: &str,
    name: &str,
    finalizer: &str,
) -> Result<Option<Expect>, kube::Error> {
    replace_service(client, ns, name, |svc| {
        if let Some(f) = svc.metadata.finalizers.as_mut() {
            f.retain(|f| f != finalizer);
        }
    })
    .await?;
    Ok(None)
}

/// A JSON merge patch of a SwarmNetwork's status (its allocated subnet).
pub async fn network_status(
    client: &Client,
    ns: &str,
    name: &str,
    patch: Value,
) -> Result<Option<Expect>, kube::Error> {
    let api: Api<SwarmNetwork> = Api::namespaced(client.clone(), ns);
    merge_status(&api, name, patch).await?;
    Ok(None)
}

pub async fn node_status(client: &Client, name: &str, patch: Value) -> Result<Expect, kube::Error> {
    let n = merge_status(&Api::<SwarmNode>::all(client.clone()), name, patch).await?;
    Ok(Expect::Node {
        name: name.to_string(),
        rv: rv_of(&n),
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
