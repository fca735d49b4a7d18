//! Routes the events of the Tasks bound to this node to one worker per Task. The events come
//! from the node's own watch (`fieldSelector=spec.nodeName=<node>`, the only list/watch the
//! api-server allows a node) or, for simulated nodes, from their share of one watch
//! ([`crate::task_feed`]).
//!
//! Stopping (`stop` flips) ends the watch first, then waits for every worker to return without
//! acting again, and only then drops the per-task channels: a worker reads a closed channel as
//! "the Task was deleted" (stop and remove the container), which must never happen because the
//! agent is exiting. The containers keep running, as Swarm's do across agent restarts.
//!
//! Starting, the agent adopts the containers it finds: a task's worker looks its container up by
//! name. Once the first list of Tasks is in, the containers whose Task is gone (deleted while no
//! agent ran) are stopped and removed, as Swarm's agent removes tasks no longer assigned to it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::Task;
use futures::TryStreamExt;
use kube::runtime::watcher::Event;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::task_feed::TaskEvents;
use crate::worker::{self, Ctx};

/// How long a stopping agent lets workers finish the runtime call they are in; then they are
/// aborted (nothing after that call would have run anyway).
const WORKER_DRAIN: Duration = Duration::from_secs(15);
/// Stop grace of an orphaned container (its Task, and so its stopGracePeriod, is gone).
const ORPHAN_GRACE: Duration = Duration::from_secs(10);

type Workers = HashMap<String, watch::Sender<Arc<Task>>>;

/// Routes watch events to per-task workers until `stop` flips; returns once no worker runs.
pub(crate) async fn watch_tasks(
    ctx: Arc<Ctx>,
    mut events: TaskEvents,
    mut stop: watch::Receiver<bool>,
) {
    let mut workers: Workers = HashMap::new();
    let mut running = JoinSet::new();
    let mut listed: HashSet<String> = HashSet::new();
    let mut orphans_checked = false;
    loop {
        let event = tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(_) = running.join_next(), if !running.is_empty() => continue,
            event = events.try_next() => event,
        };
        match event {
            Ok(Some(Event::Apply(task))) | Ok(Some(Event::InitApply(task))) => {
                let uid = task.metadata.uid.clone().unwrap_or_default();
                listed.insert(uid.clone());
                upsert(&ctx, &mut workers, &mut running, &stop, uid, task);
            }
            Ok(Some(Event::Delete(task))) => {
                // Dropping the sender tells the worker its Task is gone.
                workers.remove(task.metadata.uid.as_deref().unwrap_or_default());
            }
            Ok(Some(Event::Init)) => listed.clear(),
            Ok(Some(Event::InitDone)) => {
                workers.retain(|uid, _| listed.contains(uid));
                if !std::mem::replace(&mut orphans_checked, true) {
                    running.spawn(remove_orphans(ctx.clone(), listed.clone(), stop.clone()));
                }
            }
            Ok(None) => break,
            Err(e) => tracing::warn!(node = %ctx.node, error = %e, "task watch failed; retrying"),
        }
    }
    drop(events);
    drain(&ctx.node, &mut running).await;
    drop(workers);
}

/// Stops and removes this node's containers whose Task is not in `tasks` (uids).
async fn remove_orphans(ctx: Arc<Ctx>, tasks: HashSet<String>, stop: watch::Receiver<bool>) {
    let keys = match ctx.runtime.containers(&ctx.node).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(node = %ctx.node, error = %e, "cannot list containers; orphans stay");
            return;
        }
    };
    for key in keys.into_iter().filter(|k| !tasks.contains(&k.uid)) {
        if *stop.borrow() {
            return;
        }
        tracing::info!(node = %ctx.node, task = %key.name, "removing the container of a deleted task");
        if let Err(e) = ctx.runtime.stop(&key, ORPHAN_GRACE).await {
            tracing::warn!(task = %key.name, error = %e, "stopping orphaned container");
        }
        if let Err(e) = ctx.runtime.remove(&key).await {
            tracing::warn!(task = %key.name, error = %e, "removing orphaned container");
        }
    }
}

/// Waits (bounded) for the workers to notice `stop`, then aborts the stragglers.
async fn drain(node: &str, running: &mut JoinSet<()>) {
    let all = async { while running.join_next().await.is_some() {} };
    if tokio::time::timeout(WORKER_DRAIN, all).await.is_err() {
        tracing::warn!(node = %node, left = running.len(), "aborting task workers");
        running.shutdown().await;
    }
}

fn upsert(
    ctx: &Arc<Ctx>,
    workers: &mut Workers,
    running: &mut JoinSet<()>,
    stop: &watch::Receiver<bool>,
    uid: String,
    task: Task,
) {
    let task = Arc::new(task);
    if let Some(tx) = workers.get(&uid) {
        tx.send_replace(task);
        return;
    }
    let (tx, rx) = watch::channel(task);
    workers.insert(uid, tx);
    running.spawn(worker::run(ctx.clone(), rx, stop.clone()));
}
