//! Many simulated nodes in one process (`--simulate-nodes N`): nodes `<base>-0` … `<base>-(N-1)`,
//! fed by one shared watch of the bound Tasks ([`crate::task_feed`]), however many they are.

use std::future::Future;
use std::sync::Arc;

use kube::Client;
use tokio::sync::watch;

use crate::agent::{self, AgentConfig, AgentError};
use crate::runtime::simulated::{Simulated, SimulatedConfig};
use crate::task_feed::TaskFeed;

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
    let mut agents = tokio::task::JoinSet::new();
    for i in 0..count {
        let mut config = template.clone();
        config.node_name = format!("{}-{i}", template.node_name);
        let tasks = feed.subscribe(&config.node_name);
        let runtime = Arc::new(Simulated::new(sim.clone()));
        let mut stop = stop.clone();
        let client = client.clone();
        agents.spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            agent::run_with_tasks(client, config, runtime, Some(tasks), stopped).await
        });
    }
    let feed = tokio::spawn(feed.run(client, stop));
    shutdown.await;
    let _ = stop_tx.send(true);
    let mut result = Ok(());
    let _ = feed.await;
    while let Some(done) = agents.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::error!(error = %e, "simulated node failed");
            result = Err(e);
        }
    }
    result
}
