//! What a [`super::Cluster`] consists of: the agents, their runtime, ports and flags.

use std::path::PathBuf;

/// How a node agent runs its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Docker,
    /// containerd through CRI (`--cri-endpoint` among the agent's extra args).
    Cri,
    Simulated,
}

impl Runtime {
    pub fn parse(s: &str) -> anyhow::Result<Runtime> {
        match s {
            "docker" => Ok(Runtime::Docker),
            "cri" => Ok(Runtime::Cri),
            "simulated" => Ok(Runtime::Simulated),
            other => anyhow::bail!("--runtime {other:?}: expected docker, cri or simulated"),
        }
    }

    pub fn flag(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Cri => "cri",
            Runtime::Simulated => "simulated",
        }
    }
}

/// One `flotilla-node-agent` process.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// SwarmNode name (with `simulate_nodes`, the prefix of `<name>-0 …`); also the process name.
    pub name: String,
    /// `--node-address`: where its routing mesh listens.
    pub address: String,
    pub runtime: Runtime,
    /// `--simulate-nodes N`: N simulated nodes in this process (under the admin identity).
    pub simulate_nodes: Option<usize>,
    /// Further flags, e.g. `--heartbeat=1s`.
    pub extra_args: Vec<String>,
}

impl AgentSpec {
    /// `count` agents `<prefix>-1 …` on 127.0.0.2, 127.0.0.3, … (one loopback address each, so
    /// every node can listen on the same published port).
    pub fn numbered(prefix: &str, count: u8, runtime: Runtime) -> Vec<AgentSpec> {
        (0..count)
            .map(|i| AgentSpec {
                name: format!("{prefix}-{}", i + 1),
                address: format!("127.0.0.{}", i + 2),
                runtime,
                simulate_nodes: None,
                extra_args: vec![],
            })
            .collect()
    }
}

/// What [`Cluster::start`] starts.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Holds the component binaries (`flotilla-api-server`, …).
    pub bin_dir: PathBuf,
    /// etcd data, certificates, kubeconfigs and logs (`logs/<process>.log`).
    pub data_dir: PathBuf,
    /// The api-server's HTTPS port on 127.0.0.1.
    pub port: u16,
    pub agents: Vec<AgentSpec>,
    /// Further flags for flotilla-controller-manager.
    pub controller_manager_args: Vec<String>,
}
