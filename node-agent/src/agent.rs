//! One node: register, heartbeat, run the bound tasks, publish endpoints and serve the mesh,
//! until the shutdown future resolves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::node::NodeState;
use kube::Client;
use tokio::sync::watch;

use crate::endpoints::Endpoints;
use crate::node::{self, NodeError};
use crate::options::NodeArgs;
use crate::runtime::{Runtime, RuntimeError};
use crate::task_feed::{self, TaskEvents};
use crate::worker::Ctx;
use crate::{mesh, tasks};

/// How one node agent behaves.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub node_name: String,
    /// The address other nodes reach this one at, and where the mesh listens.
    pub node_address: String,
    /// Lease renewal period (Swarm's default heartbeat: 5 s).
    pub heartbeat: Duration,
    /// `leaseDurationSeconds` written on the Lease.
    pub lease_duration_secs: i32,
    /// Serve the routing mesh on `node_address`, and the service DNS and VIPs of the networks
    /// the runtime has on this host (docs/networking.md).
    pub mesh: bool,
}

impl AgentConfig {
    /// The flags' defaults ([`NodeArgs`]), without the routing mesh (callers opt in; the
    /// binary serves it unless `--no-mesh`).
    pub fn new(node_name: &str) -> AgentConfig {
        let node = NodeArgs::default();
        AgentConfig {
            node_name: node_name.to_string(),
            node_address: node.node_address,
            heartbeat: node.heartbeat,
            lease_duration_secs: 40,
            mesh: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("describing node: {0}")]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Mesh(#[from] mesh::MeshError),
}

/// Runs one node agent until `shutdown` resolves; then marks the SwarmNode down.
pub async fn run(
    client: Client,
    config: AgentConfig,
    runtime: Arc<dyn Runtime>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    run_with_tasks(client, config, runtime, None, shutdown).await
}

/// [`run`], with the node's Task events given (`None`: the node watches its own Tasks).
pub(crate) async fn run_with_tasks(
    client: Client,
    config: AgentConfig,
    runtime: Arc<dyn Runtime>,
    tasks: Option<TaskEvents>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    let node = config.node_name.clone();
    let desc = runtime.describe(&node).await?;
    let mut shutdown = std::pin::pin!(shutdown);
    let ready = node::node_status(&desc, &config.node_address, NodeState::Ready);
    tokio::select! {
        () = join(&client, &config, &ready) => {}
        () = &mut shutdown => return Ok(()),
    }
    let (stop_tx, stop) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        node: node.clone(),
        runtime,
        endpoints: Arc::new(Endpoints::default()),
    });
    let mut jobs = tokio::task::JoinSet::new();
    jobs.spawn(heartbeat(client.clone(), config.clone(), stop.clone()));
    let tasks = tasks.unwrap_or_else(|| task_feed::own_watch(client.clone(), &node));
    jobs.spawn(tasks::watch_tasks(ctx.clone(), tasks, stop.clone()));
    if config.mesh {
        let listeners = mesh::Mesh::new(client.clone(), &config, ctx.endpoints.clone());
        jobs.spawn(mesh::publish(
            client.clone(),
            node.clone(),
            ctx.endpoints.clone(),
            stop.clone(),
        ));
        jobs.spawn(listeners.run(stop.clone()));
    }
    if config.mesh && ctx.runtime.has_networks() {
        let net = crate::net::Net::new(client.clone(), ctx.runtime.clone(), &node);
        jobs.spawn(net.run(stop.clone()));
    }
    tracing::info!(node = %node, "node agent running");
    shutdown.await;
    let _ = stop_tx.send(true);
    while jobs.join_next().await.is_some() {}
    let mut down = node::node_status(&desc, &config.node_address, NodeState::Down);
    down.message = Some("node agent stopped".into());
    node::set_status(&client, &node, &down).await?;
    Ok(())
}

/// Registers the node and takes its Lease, retrying until both succeed, as the kubelet does: an
/// api-server that is down, restarting or shedding load must not leave a node unregistered for
/// good (with many simulated nodes, each one's registration is one request among thousands).
async fn join(client: &Client, config: &AgentConfig, ready: &flotilla_api::SwarmNodeStatus) {
    let node = &config.node_name;
    let mut delay = JOIN_RETRY_FIRST;
    loop {
        let joined = async {
            node::register(client, node, ready).await?;
            node::renew_lease(client, node, config.lease_duration_secs).await
        }
        .await;
        match joined {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(node = %node, error = %e, retry_in = ?delay, "registering failed")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(JOIN_RETRY_MAX);
    }
}

/// Registration retries back off from the first delay to the last, as the kubelet's do.
const JOIN_RETRY_FIRST: Duration = Duration::from_millis(100);
const JOIN_RETRY_MAX: Duration = Duration::from_secs(7);

async fn heartbeat(client: Client, config: AgentConfig, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(config.heartbeat);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let renewed =
            node::renew_lease(&client, &config.node_name, config.lease_duration_secs).await;
        if let Err(e) = renewed {
            tracing::warn!(node = %config.node_name, error = %e, "heartbeat failed");
        }
    }
}
