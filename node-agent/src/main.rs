//! `flotilla-node-agent (--kubeconfig … | --server https://… --join-token[-file] … --cert-dir …)
//! --node-name … --runtime docker|cri|simulated
//! [--cri-endpoint unix:///run/containerd/containerd.sock] [--simulate-nodes N]
//! [--node-address 127.0.0.2]`

// jemalloc instead of glibc malloc: allocation is a large, spread-out share of the CPU under
// load; jemalloc cut the api-server's CPU per request by ~20% (docs/benchmark.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use flotilla_node_agent::bootstrap::{self, BootstrapConfig};
use flotilla_node_agent::runtime::cri::{Cri, CriConfig};
use flotilla_node_agent::runtime::docker::Docker;
use flotilla_node_agent::runtime::simulated::{Simulated, SimulatedConfig};
use flotilla_node_agent::{run, run_simulated_nodes, AgentConfig};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RuntimeKind {
    Docker,
    /// A CRI runtime (containerd) at --cri-endpoint, as the kubelet uses it.
    Cri,
    Simulated,
}

/// Flotilla's node agent: registers a SwarmNode, runs the Tasks bound to it, serves the routing mesh.
#[derive(Parser, Debug)]
#[command(name = "flotilla-node-agent", version)]
struct Args {
    /// Kubeconfig of this node's identity (`system:node:<name>` in `system:nodes`; admin for
    /// `--simulate-nodes`, since one identity then acts for many nodes). Not needed with --server.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// The api-server (`https://host:port`) to join: the node's identity then comes from
    /// --cert-dir, or from --join-token when that holds no usable certificate.
    #[arg(long)]
    server: Option<String>,
    /// The worker join token (`flotilla join-token worker`), used once to get the node's certificate.
    #[arg(long, env = "FLOTILLA_JOIN_TOKEN", hide_env_values = true)]
    join_token: Option<String>,
    /// A file holding the join token (for images without a shell, e.g. a compose secret).
    #[arg(long, conflicts_with = "join_token")]
    join_token_file: Option<PathBuf>,
    /// Where the node's key and certificate are kept (0600) across restarts.
    #[arg(long, default_value = "/var/lib/flotilla-agent")]
    cert_dir: PathBuf,
    /// SwarmNode name (with --simulate-nodes N: the prefix of `<name>-0` … `<name>-(N-1)`).
    #[arg(long)]
    node_name: String,
    #[arg(long, value_enum, default_value = "docker")]
    runtime: RuntimeKind,
    /// The CRI runtime's socket (`--runtime cri`), like the kubelet's --container-runtime-endpoint.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    cri_endpoint: String,
    /// `--runtime cri`: where named volumes live (`<dir>/<name>`).
    #[arg(long, default_value = "/var/lib/flotilla/volumes")]
    volumes_dir: PathBuf,
    /// `--runtime cri`: where container logs go (`<dir>/<container>/task.log`); none when unset.
    #[arg(long)]
    cri_log_dir: Option<PathBuf>,
    /// Run N simulated nodes in this process (requires --runtime simulated).
    #[arg(long)]
    simulate_nodes: Option<usize>,
    /// This node's address: reported on the SwarmNode and where the routing mesh listens.
    #[arg(long, default_value = "127.0.0.1")]
    node_address: String,
    /// Do not serve the routing mesh (on by default for a single node).
    #[arg(long)]
    no_mesh: bool,
    /// Simulated runtime: time each container operation takes.
    #[arg(long, default_value = "50ms", value_parser = flotilla_api::duration::parse_duration)]
    simulated_latency: Duration,
    /// Heartbeat (Lease renewal) period.
    #[arg(long, default_value = "5s", value_parser = flotilla_api::duration::parse_duration)]
    heartbeat: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    flotilla_runtime::init_tracing("info");
    let args = Args::parse();
    // HTTP/2, as the kubelet speaks it: the watches and heartbeats share one connection.
    let (client, _renewal) = match (&args.server, &args.kubeconfig) {
        (Some(server), _) => {
            let cfg = BootstrapConfig {
                server: server.clone(),
                token: match &args.join_token_file {
                    Some(path) => Some(
                        std::fs::read_to_string(path)
                            .with_context(|| format!("--join-token-file {}", path.display()))?,
                    ),
                    None => args.join_token.clone(),
                },
                node_name: args.node_name.clone(),
                cert_dir: args.cert_dir.clone(),
            };
            let (client, renewal) = bootstrap::connect(cfg).await?;
            (client, Some(renewal))
        }
        (None, Some(path)) => {
            let client = flotilla_runtime::http2_client_from_kubeconfig(Some(path)).await?;
            (client, None)
        }
        (None, None) => {
            anyhow::bail!(
                "give --kubeconfig, or --server with --join-token (or a certificate in --cert-dir)"
            )
        }
    };
    let mut config = AgentConfig::new(&args.node_name);
    config.node_address = args.node_address.clone();
    config.heartbeat = args.heartbeat;
    config.mesh = !args.no_mesh;
    let sim = SimulatedConfig {
        latency: args.simulated_latency,
        ..Default::default()
    };
    match (args.runtime, args.simulate_nodes) {
        (RuntimeKind::Simulated, Some(n)) => {
            config.mesh = false;
            run_simulated_nodes(client, config, n, sim, flotilla_runtime::shutdown_signal()).await?
        }
        (RuntimeKind::Docker | RuntimeKind::Cri, Some(_)) => {
            anyhow::bail!("--simulate-nodes requires --runtime simulated")
        }
        (RuntimeKind::Simulated, None) => {
            run(
                client,
                config,
                Arc::new(Simulated::new(sim)),
                flotilla_runtime::shutdown_signal(),
            )
            .await?
        }
        (RuntimeKind::Cri, None) => {
            let cri = CriConfig {
                endpoint: args.cri_endpoint.clone(),
                volumes_root: args.volumes_dir.clone(),
                log_root: args.cri_log_dir.clone(),
            };
            let runtime = Cri::connect(&args.node_name, cri)
                .await
                .with_context(|| format!("--runtime cri: cannot reach {}", args.cri_endpoint))?;
            run(
                client,
                config,
                Arc::new(runtime),
                flotilla_runtime::shutdown_signal(),
            )
            .await?
        }
        (RuntimeKind::Docker, None) => {
            let docker = Docker::connect(&args.node_name)
                .await
                .context("--runtime docker: cannot reach the Docker engine")?;
            run(
                client,
                config,
                Arc::new(docker),
                flotilla_runtime::shutdown_signal(),
            )
            .await?
        }
    }
    Ok(())
}
