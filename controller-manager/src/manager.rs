//! The control loop: reflectors feed a snapshot; each round the controllers decide and the
//! applier writes; the next round waits until the caches show those writes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::duration::parse_duration;
use flotilla_api::lean::{Lean, Slim};
use flotilla_api::{SwarmNetwork, SwarmNode, SwarmService, Task};
use flotilla_component::leader::ElectionError;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::apply::{Applier, Expect};
use crate::cache::{Cache, Feeder};
use crate::controllers::{Controllers, Selection};
use crate::past::{CachedTask, Strings};
use crate::reaper::DEFAULT_HISTORY_LIMIT;
use crate::snapshot::Snapshot;

/// Namespace of the nodes' heartbeat Leases (`flotilla-node-lease/<node>`).
pub const NODE_LEASE_NAMESPACE: &str = "flotilla-node-lease";

/// The controller-manager's own options (its binary adds `--kubeconfig` and `--leader-elect*`).
#[derive(Clone, Debug, clap::Args)]
#[group(id = "controller-manager")]
pub struct Options {
    /// Controllers to run: `*`, names, `-name` to exclude (e.g. `*,-reaper`).
    #[arg(long, default_value = "*", value_parser = Selection::parse)]
    pub controllers: Selection,
    /// Longest pause between rounds (time-based decisions: delays, monitors, heartbeats).
    #[arg(skip = Duration::from_millis(250))]
    pub resync: Duration,
    /// Terminal tasks kept per slot (negative: never delete).
    #[arg(
        long = "task-history-limit",
        default_value_t = DEFAULT_HISTORY_LIMIT,
        allow_negative_numbers = true
    )]
    pub history_limit: i64,
    /// A node whose heartbeat Lease `flotilla-node-lease/<node>` is not renewed for this long is
    /// marked down ("heartbeat failure"). Swarm: 3 missed 5 s heartbeats.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub node_monitor_grace_period: Duration,
}

impl Default for Options {
    fn default() -> Self {
        flotilla_component::args::defaults()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cache for {0} never became ready")]
    NotReady(&'static str),
    #[error(transparent)]
    Election(#[from] ElectionError),
}

struct Stores {
    services: Cache<Arc<SwarmService>>,
    tasks: Cache<CachedTask>,
    nodes: Cache<Arc<SwarmNode>>,
    networks: Cache<Arc<SwarmNetwork>>,
    leases: Cache<Arc<Lease>>,
    handles: Vec<JoinHandle<()>>,
}

impl Drop for Stores {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// What a reflector here can cache: a kind decoded without managedFields.
trait Cached:
    Resource<DynamicType = ()> + Clone + Slim + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Cached for K where
    K: Resource<DynamicType = ()> + Clone + Slim + std::fmt::Debug + Send + Sync + 'static
{
}

fn start<K: Cached>(
    api: Api<Lean<K>>,
    notify: Arc<Notify>,
    handles: &mut Vec<JoinHandle<()>>,
) -> Cache<Arc<K>> {
    let (reader, feeder) = crate::cache::cache();
    feed(api, notify, handles, feeder, |_| {});
    reader
}

/// Feeds `feeder` from a watch of `api`, with `shape` applied to every object before the cache
/// keeps it.
fn feed<K: Cached, V: Send + Sync + 'static>(
    api: Api<Lean<K>>,
    notify: Arc<Notify>,
    handles: &mut Vec<JoinHandle<()>>,
    mut feeder: Feeder<K, V>,
    shape: impl FnMut(&mut K) + Send + 'static,
) {
    // managedFields (a tree of maps per writer) are never decided on: not decoded (at 10,000
    // tasks they were most of this process's memory, then a quarter of its decoding;
    // docs/benchmark.md).
    let objects = watcher(api, watcher::Config::default())
        .map_ok(flotilla_component::lean::unlean)
        .modify(shape);
    let stream = objects.default_backoff().for_each(move |event| {
        match event {
            Ok(event) => feeder.apply(event),
            Err(err) => tracing::warn!(error = %err, kind = %K::kind(&()), "watch error"),
        }
        notify.notify_one();
        futures::future::ready(())
    });
    handles.push(tokio::spawn(stream));
}

impl Stores {
    fn start(client: &Client, notify: Arc<Notify>) -> Stores {
        let mut handles = Vec::new();
        Stores {
            services: start(Api::all(client.clone()), notify.clone(), &mut handles),
            tasks: {
                let mut shaper = crate::task_shape::TaskShaper::default();
                let shape = move |task: &mut Task| shaper.shape(task);
                let mut strings = Strings::default();
                let keep =
                    move |key: &Arc<str>, task: &Task| CachedTask::of(key, task, &mut strings);
                let (reader, feeder) = crate::cache::cache_with(Box::new(keep));
                feed(
                    Api::all(client.clone()),
                    notify.clone(),
                    &mut handles,
                    feeder,
                    shape,
                );
                reader
            },
            nodes: start(Api::all(client.clone()), notify.clone(), &mut handles),
            networks: start(Api::all(client.clone()), notify.clone(), &mut handles),
            leases: start(
                Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE),
                notify,
                &mut handles,
            ),
            handles,
        }
    }

    async fn ready(&self) -> Result<(), Error> {
        self.services
            .wait_until_ready()
            .await
            .map_err(|_| Error::NotReady("swarmservices"))?;
        self.tasks
            .wait_until_ready()
            .await
            .map_err(|_| Error::NotReady("tasks"))?;
        self.nodes
            .wait_until_ready()
            .await
            .map_err(|_| Error::NotReady("swarmnodes"))?;
        self.networks
            .wait_until_ready()
            .await
            .map_err(|_| Error::NotReady("swarmnetworks"))?;
        self.leases
            .wait_until_ready()
            .await
            .map_err(|_| Error::NotReady("leases"))?;
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::keyed(
            self.services.state(),
            self.tasks.entries(),
            self.nodes.state(),
            self.networks.state(),
            self.leases.state(),
        )
    }

    fn shows(&self, expect: &Expect) -> bool {
        fn check<V: Clone>(
            store: &Cache<V>,
            key: &str,
            rv: Option<u64>,
            version: impl Fn(&V) -> Option<u64>,
        ) -> bool {
            let cached = store.get(key);
            match (cached, rv) {
                (None, None) => true,
                (Some(_), None) | (None, Some(_)) => false,
                (Some(obj), Some(rv)) => version(&obj).is_some_and(|v| v >= rv),
            }
        }
        fn version<K: Resource>(obj: &Arc<K>) -> Option<u64> {
            obj.meta().resource_version.as_deref()?.parse().ok()
        }
        match expect {
            Expect::Task { key, rv } => check(&self.tasks, key, *rv, CachedTask::resource_version),
            Expect::Service { key, rv } => check(&self.services, key, *rv, version),
            Expect::Node { name, rv } => check(&self.nodes, name, *rv, version),
        }
    }

    /// Wait (bounded) until the caches show our own writes.
    async fn catch_up(&self, expects: &[Expect]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !expects.iter().all(|e| self.shows(e)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Runs the enabled controllers until `shutdown` completes. Under leader election it runs inside
/// [`flotilla_component::leader::run_elected`], as its binary does.
pub async fn run(
    client: Client,
    opts: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let notify = Arc::new(Notify::new());
    let stores = Stores::start(&client, notify.clone());
    tokio::pin!(shutdown);
    tokio::select! {
        ready = stores.ready() => ready?,
        _ = &mut shutdown => return Ok(()),
    }
    tracing::info!(controllers = ?opts.controllers, "caches synced; controllers running");
    let mut controllers = Controllers::new(opts.controllers.clone(), opts.history_limit)
        .with_node_grace(opts.node_monitor_grace_period);
    let mut applier = Applier::new(client);
    loop {
        let actions = controllers.decide(&stores.snapshot(), Instant::now());
        if !actions.is_empty() {
            tracing::debug!(count = actions.len(), "applying decisions");
            let expects = applier.apply(actions).await;
            stores.catch_up(&expects).await;
        }
        tokio::select! {
            _ = notify.notified() => tokio::time::sleep(Duration::from_millis(20)).await,
            _ = tokio::time::sleep(opts.resync) => {}
            _ = &mut shutdown => return Ok(()),
        }
    }
}
