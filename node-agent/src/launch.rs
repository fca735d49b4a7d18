//! The node agent as its binary runs it: an identity from the flags (a kubeconfig, or joining
//! with the token), a runtime from `--runtime`, then one node or many simulated ones.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use kube::Client;

use crate::agent::{run, AgentConfig, AgentError};
use crate::bootstrap::{self, BootstrapConfig, BootstrapError, Renewal};
use crate::options::{AgentArgs, IdentityArgs, RuntimeKind};
use crate::runtime::cri::{Cri, CriConfig};
use crate::runtime::docker::Docker;
use crate::runtime::simulated::{Simulated, SimulatedConfig};
use crate::runtime::{Runtime, RuntimeError};
use crate::simulate::run_simulated_nodes;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("give --kubeconfig, or --server with --join-token (or a certificate in --cert-dir)")]
    NoIdentity,
    #[error("--join-token-file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error(transparent)]
    Client(#[from] flotilla_component::ClientError),
    #[error("--simulate-nodes requires --runtime simulated")]
    SimulateNeedsSimulated,
    #[error("--runtime cri: cannot reach {endpoint}: {source}")]
    Cri {
        endpoint: String,
        source: RuntimeError,
    },
    #[error("--runtime docker: cannot reach the Docker engine: {0}")]
    Docker(RuntimeError),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

/// Runs the node agent `args` describe until `shutdown` resolves.
pub async fn run_agent(
    args: AgentArgs,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), LaunchError> {
    // HTTP/2, as the kubelet speaks it: the watches and heartbeats share one connection.
    let (client, _renewal) = connect(&args.identity, &args.node_name).await?;
    let mut config = AgentConfig::new(&args.node_name);
    config.node_address = args.node.node_address.clone();
    config.heartbeat = args.node.heartbeat;
    config.mesh = !args.no_mesh;
    let sim = SimulatedConfig {
        latency: args.simulated.simulated_latency,
        ..Default::default()
    };
    match (args.runtime, args.simulated.simulate_nodes) {
        (RuntimeKind::Simulated, n) if n > 0 => {
            config.mesh = false;
            Ok(run_simulated_nodes(client, config, n, sim, shutdown).await?)
        }
        (_, n) if n > 0 => Err(LaunchError::SimulateNeedsSimulated),
        (kind, _) => {
            let runtime = runtime(&args, kind, sim).await?;
            Ok(run(client, config, runtime, shutdown).await?)
        }
    }
}

/// A client as `identity` says: a kubeconfig's, or the node's own certificate, joining with the
/// token first when `--cert-dir` holds none (its renewal runs while the [`Renewal`] lives).
pub async fn connect(
    identity: &IdentityArgs,
    node_name: &str,
) -> Result<(Client, Option<Renewal>), LaunchError> {
    match (&identity.server, &identity.kubeconfig) {
        (Some(server), _) => {
            let token = match &identity.join_token_file {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|source| {
                    LaunchError::TokenFile {
                        path: path.clone(),
                        source,
                    }
                })?),
                None => identity.join_token.clone(),
            };
            let cfg = BootstrapConfig {
                server: server.clone(),
                token,
                node_name: node_name.to_string(),
                cert_dir: identity.cert_dir.clone(),
            };
            let (client, renewal) = bootstrap::connect(cfg).await?;
            Ok((client, Some(renewal)))
        }
        (None, Some(path)) => {
            let client = flotilla_component::http2_client_from_kubeconfig(Some(path)).await?;
            Ok((client, None))
        }
        (None, None) => Err(LaunchError::NoIdentity),
    }
}

/// The runtime of one node (`--runtime`).
async fn runtime(
    args: &AgentArgs,
    kind: RuntimeKind,
    sim: SimulatedConfig,
) -> Result<Arc<dyn Runtime>, LaunchError> {
    Ok(match kind {
        RuntimeKind::Simulated => Arc::new(Simulated::new(sim)),
        RuntimeKind::Cri => {
            let cri = CriConfig {
                endpoint: args.cri_endpoint.clone(),
                volumes_root: args.volumes_dir.clone(),
                log_root: args.cri_log_dir.clone(),
            };
            let connected = Cri::connect(&args.node_name, cri).await;
            Arc::new(connected.map_err(|source| LaunchError::Cri {
                endpoint: args.cri_endpoint.clone(),
                source,
            })?)
        }
        RuntimeKind::Docker => Arc::new(
            Docker::connect(&args.node_name)
                .await
                .map_err(LaunchError::Docker)?,
        ),
    })
}
