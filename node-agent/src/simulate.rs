//! Many simulated nodes in one process. [`run_simulated_nodes`] (`--simulate-nodes N`): nodes
//! `<base>-0` … `<base>-(N-1)` under one identity, fed by one shared watch of the bound Tasks
//! ([`crate::task_feed`]), however many they are. [`run_simulated_nodes_as`]: each node with
//! its own client (its own node identity) and its own watch, as separate agents run.

use std::future::Future;
use std::sync::Arc;

use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::agent::{self, AgentConfig, AgentError};
use crate::runtime::simulated::{Simulated, SimulatedConfig};
use crate::task_feed::{TaskEvents, TaskFeed};

/// Runs `count` simulated node agents sharing one client until `shutdown` resolves.
pub async fn run_simulated_nodes(
    client: Client,
    template: AgentConfig,
    count: usize,
    sim: SimulatedConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    let (stop_tx, stop) = watch::channel(false);
    let mut feed = TaskFeed::default();
    let mut agents = JoinSet::new();
    for i in 0..count {
        let mut config = template.clone();
        config.node_name = format!("{}-{i}", template.node_name);
        let tasks = feed.subscribe(&config.node_name);
        spawn_node(
            &mut agents,
            client.clone(),
            config,
            &sim,
            Some(tasks),
            &stop,
        );
    }
    let feed = tokio::spawn(feed.run(client, stop));
    shutdown.await;
    let _ = stop_tx.send(true);
    let _ = feed.await;
    join(agents).await
}

/// Runs one simulated node agent per `(config, client)` until `shutdown` resolves; each
/// watches its own Tasks with its own client.
pub async fn run_simulated_nodes_as(
    nodes: Vec<(AgentConfig, Client)>,
    sim: SimulatedConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    let (stop_tx, stop) = watch::channel(false);
    let mut agents = JoinSet::new();
    for (config, client) in nodes {
        spawn_node(&mut agents, client, config, &sim, None, &stop);
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    join(agents).await
}

fn spawn_node(
    agents: &mut JoinSet<Result<(), AgentError>>,
    client: Client,
    config: AgentConfig,
    sim: &SimulatedConfig,
    tasks: Option<TaskEvents>,
    stop: &watch::Receiver<bool>,
) {
    let runtime = Arc::new(Simulated::new(sim.clone()));
    let mut stop = stop.clone();
    agents.spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        agent::run_with_tasks(client, config, runtime, tasks, stopped).await
    });
}

/// Waits for every node to stop; the last error, if any.
async fn join(mut agents: JoinSet<Result<(), AgentError>>) -> Result<(), AgentError> {
    let mut result = Ok(());
    while let Some(done) = agents.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::error!(error = %e, "simulated node failed");
            result = Err(e);
        }
    }
    result
}
