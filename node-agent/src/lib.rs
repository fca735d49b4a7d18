//! flotilla-node-agent: Swarm's worker (agent + executor), Kubernetes' kubelet and kube-proxy.
//!
//! It registers a SwarmNode, renews the heartbeat Lease `flotilla-node-lease/<node>`, watches the
//! Tasks bound to it and drives each through Preparing → … → Running → Complete/Failed/Shutdown on
//! a [`runtime::Runtime`] (Docker, CRI, or simulated for scale tests), and serves the routing mesh.
//! [`run`] runs one node; [`run_simulated_nodes`] runs many simulated nodes in one process;
//! [`launch::run_agent`] runs either as the binary's flags ([`options::AgentArgs`]) say.

pub mod agent;
pub mod bootstrap;
pub mod decide;
pub mod endpoints;
pub mod identity;
pub mod launch;
pub mod mesh;
pub mod net;
pub mod node;
pub mod options;
pub mod runtime;
pub mod secrets;
mod simulate;
mod task_feed;
mod tasks;
mod worker;

pub use agent::{run, AgentConfig, AgentError};
pub use simulate::{run_simulated_nodes, run_simulated_nodes_as};
