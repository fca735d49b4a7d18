//! Many simulated nodes in one process (`--simulate-nodes N`): nodes `<base>-0` … `<base>-(N-1)`.

use std::future::Future;
use std::sync::Arc;

use kube::Client;
use tokio::sync::watch;

use crate::agent::{self, AgentConfig, AgentError};
use crate::runtime::simulated::{Simulated, SimulatedConfig};

/// Runs `count` simulated node agents sharing one client until `shutdown` resolves.
pub async fn run_simulated_nodes(
    client: Client,
    template: AgentConfig,
    count: usize,
    sim: SimulatedConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    let (stop_tx, stop) = watch::channel(false);
    let mut agents = tokio::task::JoinSet::new();
    for i in 0..count {
        let mut config = template.clone();
        config.node_name = format!("{}-{i}", template.node_name);
        let runtime = Arc::new(Simulated::new(sim.clone()));
        let mut stop = stop.clone();
        let client = client.clone();
        agents.spawn(async move {
            agent::run(client, config, runtime, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
        });
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    let mut result = Ok(());
    while let Some(done) = agents.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::error!(error = %e, "simulated node failed");
            result = Err(e);
        }
    }
    result
}
