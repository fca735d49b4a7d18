//! Watches only the Tasks bound to this node (`fieldSelector=spec.nodeName=<node>`, the only
//! list/watch the api-server allows a node) and keeps one worker per Task.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use flotilla_api::Task;
use futures::{StreamExt, TryStreamExt};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use tokio::sync::watch;

use crate::worker::{self, Ctx};

/// Routes watch events to per-task workers until `stop` flips.
pub(crate) async fn watch_tasks(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let api: Api<Task> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut workers: HashMap<String, watch::Sender<Arc<Task>>> = HashMap::new();
    let mut listed: HashSet<String> = HashSet::new();
    loop {
        let event = tokio::select! {
            _ = stop.changed() => return,
            event = events.try_next() => event,
        };
        match event {
            Ok(Some(Event::Apply(task))) | Ok(Some(Event::InitApply(task))) => {
                let uid = task.metadata.uid.clone().unwrap_or_default();
                listed.insert(uid.clone());
                upsert(&ctx, &mut workers, &stop, uid, task);
            }
            Ok(Some(Event::Delete(task))) => {
                // Dropping the sender tells the worker its Task is gone.
                workers.remove(task.metadata.uid.as_deref().unwrap_or_default());
            }
            Ok(Some(Event::Init)) => listed.clear(),
            Ok(Some(Event::InitDone)) => workers.retain(|uid, _| listed.contains(uid)),
            Ok(None) => return,
            Err(e) => tracing::warn!(node = %ctx.node, error = %e, "task watch failed; retrying"),
        }
    }
}

fn upsert(
    ctx: &Arc<Ctx>,
    workers: &mut HashMap<String, watch::Sender<Arc<Task>>>,
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
    tokio::spawn(worker::run(ctx.clone(), rx, stop.clone()));
}
