//! The container runtime behind the agent: Docker (through bollard), CRI (containerd, as the
//! kubelet drives it) or simulated (kwok-style).

pub mod cni;
pub mod cri;
mod cri_client;
mod cri_health;
mod cri_mounts;
mod cri_net;
pub mod cri_spec;
pub mod docker;
mod docker_attach;
mod docker_events;
mod docker_net;
mod docker_spec;
pub mod files;
pub mod simulated;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use flotilla_api::task::NetworkAttachment;
use flotilla_api::Task;

use crate::decide::Observation;
pub use docker_events::Wake;

/// Identifies one task's container on a runtime.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl TaskKey {
    pub fn of(task: &Task) -> TaskKey {
        TaskKey {
            namespace: task.metadata.namespace.clone().unwrap_or_default(),
            name: task.metadata.name.clone().unwrap_or_default(),
            uid: task.metadata.uid.clone().unwrap_or_default(),
        }
    }

    /// Container name: `<task name>.<first 12 chars of the task uid>` (unique on a shared engine).
    pub fn container_name(&self) -> String {
        let uid: String = self.uid.chars().filter(|c| *c != '-').take(12).collect();
        format!("{}.{}", self.name, uid)
    }
}

/// A file the runtime must place in the container (a secret or a config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileData {
    /// Absolute path inside the container.
    pub target: String,
    pub data: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Everything the runtime needs to create a task's container.
#[derive(Clone, Debug)]
pub struct TaskRun {
    pub key: TaskKey,
    pub node: String,
    pub task: Task,
    pub secrets: Vec<FileData>,
    pub configs: Vec<FileData>,
    /// The SwarmNetworks the task joins (not the ingress network: the routing mesh is the
    /// agent's), in the template's order, with the address the allocator gave the task.
    pub networks: Vec<NetworkRun>,
}

/// One network a task joins, as the runtime needs it (docs/networking.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkRun {
    /// SwarmNetwork name (in the task's namespace).
    pub name: String,
    /// The allocated subnet, e.g. `10.210.1.0/24`, and its gateway (where the node's DNS answers).
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    pub attachable: bool,
    /// The task's address on it, without prefix length.
    pub address: Option<String>,
}

/// What a node reports about itself in its SwarmNode status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeDescription {
    pub hostname: String,
    pub os: String,
    pub architecture: String,
    pub nano_cpus: i64,
    pub memory_bytes: i64,
    pub engine_version: String,
    pub engine_labels: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The task cannot run here (bad mount source, missing image…): the message is shown to users.
    #[error("{0}")]
    Task(String),
    #[error("docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("cri: {}", .0.message())]
    Cri(#[from] tonic::Status),
    #[error("cannot reach the CRI endpoint {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// A container engine. Every operation is idempotent: the agent may repeat it after a restart.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Capacity, platform and engine of this node.
    async fn describe(&self, node: &str) -> Result<NodeDescription, RuntimeError>;
    /// Creates the container (Swarm's Preparing).
    async fn prepare(&self, run: &TaskRun) -> Result<(), RuntimeError>;
    /// Starts a prepared container.
    async fn start(&self, key: &TaskKey) -> Result<(), RuntimeError>;
    /// What the engine sees now.
    async fn observe(&self, key: &TaskKey) -> Result<Observation, RuntimeError>;
    /// Stops with the stop signal, killing after `grace`.
    async fn stop(&self, key: &TaskKey, grace: Duration) -> Result<(), RuntimeError>;
    /// Deletes the container and whatever was materialized for it (secrets).
    async fn remove(&self, key: &TaskKey) -> Result<(), RuntimeError>;
    /// The tasks whose containers (any state) this runtime holds for `node`: a restarted agent
    /// removes those whose Task was deleted while no agent ran.
    async fn containers(&self, node: &str) -> Result<Vec<TaskKey>, RuntimeError>;
    /// The address the routing mesh forwards to (the container's IP), if it has one.
    async fn address(&self, key: &TaskKey) -> Option<IpAddr>;
    /// The addresses the task's container has on its SwarmNetworks (`networks`, the template's
    /// order), for the Task's `status.networks`; empty when the runtime cannot tell.
    async fn attachments(&self, _key: &TaskKey, _networks: &[String]) -> Vec<NetworkAttachment> {
        Vec::new()
    }
    /// How often to re-observe a waiting task (health, exits).
    fn poll_interval(&self) -> Duration;
    /// What the task's worker waits on before observing again: [`Runtime::poll_interval`]
    /// for runtimes that poll; the engine's events (and a slower resync) for Docker.
    fn subscribe(&self, _key: &TaskKey) -> Wake {
        Wake::polling(self.poll_interval())
    }
    /// Whether tasks of this runtime join SwarmNetworks on this host, so the node serves their
    /// DNS and VIPs. False for the simulated runtime: its many nodes in one process would
    /// otherwise each open watches of every service and network, past the connection's
    /// HTTP/2 stream limit.
    fn has_networks(&self) -> bool {
        false
    }
    /// Whether each node's networks are bridges of its own that the agent joins to the other
    /// nodes' with a VXLAN overlay (CRI). The Docker runtime's bridges are the engine's, shared
    /// by the agents on it, and another engine's are out of reach.
    fn overlay(&self) -> bool {
        false
    }
    /// The host interface of SwarmNetwork `namespace/network` when this runtime has it on this
    /// host (where the node serves the network's DNS and VIPs); `None` for runtimes whose tasks
    /// are not on a host bridge.
    async fn network_interface(&self, _namespace: &str, _network: &str) -> Option<String> {
        None
    }
    /// Removes the host side of a SwarmNetwork that was deleted (best effort).
    async fn remove_network(&self, _namespace: &str, _network: &str) {}
}
