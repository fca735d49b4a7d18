//! The node agent's flags, derived once here: its binary flattens [`AgentArgs`], and
//! `flotilla all-in-one` flattens [`SimulatedArgs`] for the simulated nodes it runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use flotilla_api::duration::parse_duration;

/// Which runtime runs the node's containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    Docker,
    /// A CRI runtime (containerd) at --cri-endpoint, as the kubelet uses it.
    Cri,
    Simulated,
}

/// How the agent reaches the api-server and as whom.
#[derive(Clone, Debug, clap::Args)]
pub struct IdentityArgs {
    /// Kubeconfig of this node's identity (`system:node:<name>` in `system:nodes`; admin for
    /// `--simulate-nodes`, since one identity then acts for many nodes). Not needed with --server.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The api-server (`https://host:port`) to join: the node's identity then comes from
    /// --cert-dir, or from --join-token when that holds no usable certificate.
    #[arg(long)]
    pub server: Option<String>,
    /// The worker join token (`flotilla join-token worker`), used once to get the node's certificate.
    #[arg(long, env = "FLOTILLA_JOIN_TOKEN", hide_env_values = true)]
    pub join_token: Option<String>,
    /// A file holding the join token (for images without a shell, e.g. a compose secret).
    #[arg(long, conflicts_with = "join_token")]
    pub join_token_file: Option<PathBuf>,
    /// Where the node's key and certificate are kept (0600) across restarts.
    #[arg(long, default_value = "/var/lib/flotilla-agent")]
    pub cert_dir: PathBuf,
}

/// How one node presents itself: its address and heartbeat.
#[derive(Clone, Debug, clap::Args)]
pub struct NodeArgs {
    /// This node's address: reported on the SwarmNode and where the routing mesh listens.
    #[arg(long, default_value = "127.0.0.1")]
    pub node_address: String,
    /// Heartbeat (Lease renewal) period (Swarm's default: 5 s).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub heartbeat: Duration,
}

impl Default for NodeArgs {
    fn default() -> Self {
        flotilla_component::args::defaults()
    }
}

/// Simulated nodes, for scale tests and `flotilla all-in-one`.
#[derive(Clone, Debug, clap::Args)]
pub struct SimulatedArgs {
    /// Run N simulated nodes `<node-name>-0` … `<node-name>-(N-1)` in this process (the node
    /// agent: with --runtime simulated).
    #[arg(long, default_value_t = 0)]
    pub simulate_nodes: usize,
    /// Time each simulated container operation takes.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    pub simulated_latency: Duration,
}

impl Default for SimulatedArgs {
    fn default() -> Self {
        flotilla_component::args::defaults()
    }
}

/// `flotilla-node-agent`'s flags.
#[derive(Clone, Debug, clap::Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// SwarmNode name (with --simulate-nodes N: the prefix of `<name>-0` … `<name>-(N-1)`).
    #[arg(long)]
    pub node_name: String,
    #[command(flatten)]
    pub node: NodeArgs,
    #[arg(long, value_enum, default_value = "docker")]
    pub runtime: RuntimeKind,
    /// The CRI runtime's socket (`--runtime cri`), like the kubelet's --container-runtime-endpoint.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    pub cri_endpoint: String,
    /// `--runtime cri`: where named volumes live (`<dir>/<name>`).
    #[arg(long, default_value = "/var/lib/flotilla/volumes")]
    pub volumes_dir: PathBuf,
    /// `--runtime cri`: where container logs go (`<dir>/<container>/task.log`); none when unset.
    #[arg(long)]
    pub cri_log_dir: Option<PathBuf>,
    /// Do not serve the routing mesh (on by default for a single node).
    #[arg(long)]
    pub no_mesh: bool,
    #[command(flatten)]
    pub simulated: SimulatedArgs,
}
