//! One task's supervisor: observe the runtime, [`decide`], act, report the status, repeat.
//! It ends when the agent stops (containers keep running, as Swarm's do across agent restarts;
//! no step starts once `stop` is set) or when the Task is deleted (the container is stopped and
//! removed).

use std::sync::Arc;
use std::time::Duration;

use flotilla_api::duration::parse_duration;
use flotilla_api::task::ContainerStatus;
use flotilla_api::{Task, TaskState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use tokio::sync::watch;

use crate::decide::{decide, prepared, Observation, Step, Transition};
use crate::endpoints::Endpoints;
use crate::runtime::{Runtime, RuntimeError, TaskKey, TaskRun};
use crate::secrets;

/// What every worker of one node shares.
pub(crate) struct Ctx {
    pub client: Client,
    pub node: String,
    pub runtime: Arc<dyn Runtime>,
    pub endpoints: Arc<Endpoints>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("writing task status: {0}")]
    Status(#[from] kube::Error),
}

fn resource_version(task: &Task) -> u64 {
    task.metadata
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

fn grace_period(task: &Task) -> Duration {
    task.spec
        .template
        .container_spec
        .stop_grace_period
        .as_deref()
        .and_then(|g| parse_duration(g).ok())
        .unwrap_or(Duration::from_secs(10))
}

/// Supervises one task until the agent stops (`stop`) or the Task is deleted (`rx` closes).
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    mut rx: watch::Receiver<Arc<Task>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut task: Task = (**rx.borrow_and_update()).clone();
    let key = TaskKey::of(&task);
    // Subscribed before the first observation, so no change after it is missed.
    let wake = ctx.runtime.subscribe(&key);
    loop {
        // A stopping agent does not act any more, whatever the Task now asks for.
        if *stop.borrow() {
            return;
        }
        let again = match step(&ctx, &key, &mut task).await {
            Ok(again) => again,
            Err(e) => {
                tracing::warn!(task = %key.name, error = %e, "task step failed; retrying");
                false
            }
        };
        if again {
            continue;
        }
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            changed = rx.changed() => {
                if changed.is_err() {
                    if *stop.borrow() {
                        return;
                    }
                    return deleted(&ctx, &key, &task).await;
                }
                let newer = rx.borrow_and_update().clone();
                if resource_version(&newer) >= resource_version(&task) {
                    task = (*newer).clone();
                }
            }
            _ = wake.changed() => {}
        }
    }
}

/// The Task object is gone: nothing will read a status any more; stop and remove the container.
async fn deleted(ctx: &Ctx, key: &TaskKey, task: &Task) {
    ctx.endpoints.remove(key);
    if let Err(e) = ctx.runtime.stop(key, grace_period(task)).await {
        tracing::warn!(task = %key.name, error = %e, "stopping container of deleted task");
    }
    if let Err(e) = ctx.runtime.remove(key).await {
        tracing::warn!(task = %key.name, error = %e, "removing container of deleted task");
    }
}

/// One decision and its action. Returns whether to decide again right away.
async fn step(ctx: &Ctx, key: &TaskKey, task: &mut Task) -> Result<bool, WorkerError> {
    let desired = task.spec.desired_state;
    let observed = task
        .status
        .as_ref()
        .and_then(|s| s.state)
        .unwrap_or(TaskState::New);
    let obs = ctx.runtime.observe(key).await?;
    track_endpoint(ctx, key, task, observed, &obs).await;
    match decide(desired, observed, &obs) {
        Step::Wait => Ok(false),
        Step::Report(t) => report(ctx, task, t, &obs).await.map(|_| true),
        Step::Prepare => match prepare(ctx, key, task).await {
            Ok(()) => {
                // Observed again: a task written Starting carries its new container's id.
                let obs = ctx.runtime.observe(key).await?;
                report(ctx, task, prepared(desired), &obs)
                    .await
                    .map(|_| true)
            }
            Err(err) => {
                let t = fatal(TaskState::Rejected, "preparing", err);
                report(ctx, task, t, &obs).await.map(|_| true)
            }
        },
        Step::Start => match ctx.runtime.start(key).await {
            Ok(()) => Ok(true),
            Err(err) => {
                let t = fatal(TaskState::Failed, "starting", err.to_string());
                let obs = ctx.runtime.observe(key).await?;
                report(ctx, task, t, &obs).await.map(|_| true)
            }
        },
        Step::Stop {
            report: then_report,
        } => {
            ctx.endpoints.remove(key);
            ctx.runtime.stop(key, grace_period(task)).await?;
            if then_report {
                let obs = ctx.runtime.observe(key).await?;
                let t = Transition::to(TaskState::Shutdown, "shutdown");
                report(ctx, task, t, &obs).await?;
            }
            Ok(true)
        }
        Step::Remove => {
            ctx.runtime.remove(key).await?;
            Ok(false)
        }
    }
}

fn fatal(state: TaskState, message: &str, err: String) -> Transition {
    Transition {
        state,
        message: message.to_string(),
        err: Some(err),
        exit_code: None,
    }
}

/// Fetches secrets and configs, then creates the container. Errors are the task's (→ Rejected).
async fn prepare(ctx: &Ctx, key: &TaskKey, task: &Task) -> Result<(), String> {
    let (secrets, configs) = secrets::resolve(&ctx.client, task)
        .await
        .map_err(|e| e.to_string())?;
    let networks = crate::net::attach::resolve(&ctx.client, task).await?;
    let run = TaskRun {
        key: key.clone(),
        node: ctx.node.clone(),
        task: task.clone(),
        secrets,
        configs,
        networks,
    };
    ctx.runtime.prepare(&run).await.map_err(|e| e.to_string())
}

/// Keeps the mesh's local backends in line with Running tasks.
async fn track_endpoint(
    ctx: &Ctx,
    key: &TaskKey,
    task: &Task,
    observed: TaskState,
    obs: &Observation,
) {
    let serving = observed == TaskState::Running
        && task.spec.desired_state <= TaskState::Running
        && matches!(obs, Observation::Running { .. });
    if !serving {
        ctx.endpoints.remove(key);
    } else if !ctx.endpoints.contains(key) {
        if let Some(addr) = ctx.runtime.address(key).await {
            let service = format!("{}/{}", key.namespace, task.spec.service_name);
            ctx.endpoints.insert(key.clone(), service, addr);
        }
    }
}

/// Writes the next status through the `status` subresource as a merge patch of the status alone,
/// as the kubelet patches a pod's (the Task's spec and metadata are neither sent nor parsed
/// again); its resourceVersion makes it a compare-and-swap. On a conflict, re-reads the Task so
/// the next decision sees the latest.
async fn report(
    ctx: &Ctx,
    task: &mut Task,
    t: Transition,
    obs: &Observation,
) -> Result<(), WorkerError> {
    let now = Time(Timestamp::now());
    let mut status = task.status.clone().unwrap_or_default();
    status.state = Some(t.state);
    status.message = Some(t.message);
    if t.err.is_some() {
        status.err = t.err;
    }
    status.timestamp = Some(now.clone());
    status.applied_by = Some(ctx.node.clone());
    status.applied_at = Some(now);
    let mut container = status.container_status.take().unwrap_or_default();
    if let Some(id) = obs.container_id() {
        container.container_id = Some(id.to_string());
    }
    if let Observation::Running { pid: Some(pid), .. } = obs {
        container.pid = Some(*pid);
    }
    if let Some(code) = t.exit_code {
        container.exit_code = Some(code);
    }
    if *container != ContainerStatus::default() {
        status.container_status = Some(container);
    }
    if matches!(t.state, TaskState::Starting | TaskState::Running) {
        record_networks(ctx, task, &mut status).await;
    }
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": task.metadata.resource_version},
        "status": status,
    });
    let name = task.metadata.name.clone().unwrap_or_default();
    let ns = task.metadata.namespace.clone().unwrap_or_default();
    match patch_status(ctx, &ns, &name, &patch).await {
        // The compare-and-swap held: the stored status is the one sent, at the answer's
        // version (the watch brings the whole object later, as for any other change).
        Ok(written) => {
            task.status = Some(status);
            task.metadata.resource_version = written.metadata.resource_version;
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let api: Api<Task> = Api::namespaced(ctx.client.clone(), &ns);
            *task = api.get(&name).await?;
        }
        Err(e) => return Err(e.into()),
    }
    tracing::debug!(task = %name, state = %t.state, "reported task status");
    Ok(())
}

/// What [`patch_status`] reads of the Task it gets back; serde skips the rest unbuilt.
#[derive(Clone, Debug, serde::Deserialize)]
struct Written {
    metadata: WrittenMeta,
}

#[derive(Clone, Debug, serde::Deserialize)]
struct WrittenMeta {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// The merge patch of a Task's status; of the answer only the resourceVersion is read (decoding
/// the whole Task it returns, managedFields and all, was a large share of an agent's work).
async fn patch_status(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    patch: &serde_json::Value,
) -> kube::Result<Written> {
    let url = Task::url_path(&(), Some(ns));
    let request = kube::core::Request::new(url)
        .patch_subresource(
            "status",
            name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .map_err(kube::Error::BuildRequest)?;
    ctx.client.request(request).await
}

/// The addresses a started task got on its SwarmNetworks (`status.networks`); a runtime that
/// cannot tell (any more, as after an agent restart) keeps what was recorded.
async fn record_networks(ctx: &Ctx, task: &Task, status: &mut flotilla_api::task::TaskStatus) {
    let networks: Vec<String> = (task.spec.template.networks.iter())
        .map(|n| n.target.clone())
        .collect();
    if networks.is_empty() {
        return;
    }
    let got = ctx.runtime.attachments(&TaskKey::of(task), &networks).await;
    if !got.is_empty() {
        status.networks = got;
    }
}
