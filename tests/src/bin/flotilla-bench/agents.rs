//! The simulated nodes: `flotilla-node-agent --simulate-nodes` processes, each hosting an equal
//! share of the nodes, started and killed by the bench (a kill is a lost machine: no goodbye).

use std::path::Path;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::procstat::Watched;

pub struct Agent {
    /// Node-name prefix: its nodes are `<prefix>-0` …
    pub prefix: String,
    pub nodes: usize,
    child: Option<Child>,
    /// Pids of every process this agent slot has had (CPU of killed ones counts too).
    pub pid: u32,
}

pub struct AgentSettings<'a> {
    pub bin_dir: &'a Path,
    pub kubeconfig: &'a Path,
    pub logs: &'a Path,
    pub latency: Duration,
}

impl Agent {
    pub fn start(prefix: &str, nodes: usize, s: &AgentSettings) -> anyhow::Result<Agent> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(s.logs.join(format!("{prefix}.log")))?;
        let child = Command::new(s.bin_dir.join("flotilla-node-agent"))
            .arg(format!("--kubeconfig={}", s.kubeconfig.display()))
            .arg(format!("--node-name={prefix}"))
            .arg("--runtime=simulated")
            .arg(format!("--simulate-nodes={nodes}"))
            .arg(format!("--simulated-latency={}ms", s.latency.as_millis()))
            .arg("--no-mesh")
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Agent {
            prefix: prefix.to_string(),
            nodes,
            pid: child.id().unwrap_or(0),
            child: Some(child),
        })
    }

    /// Its node names.
    pub fn node_names(&self) -> Vec<String> {
        (0..self.nodes)
            .map(|i| format!("{}-{i}", self.prefix))
            .collect()
    }

    /// SIGKILL: the nodes stop heartbeating without marking themselves down.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    pub fn watched(&self) -> Watched {
        Watched {
            name: "node agents",
            pid: self.pid,
        }
    }
}
