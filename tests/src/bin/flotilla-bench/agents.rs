//! The simulated nodes: `flotilla-node-agent --simulate-nodes` processes, the first hosting the
//! nodes the node-loss phase stops and the others an equal share of the rest, started and killed
//! by the bench (a kill is a lost machine: no goodbye).

use std::path::Path;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::procstat::Watched;

/// How many nodes each of `processes` agent processes hosts: `lost` in the first (at most all),
/// the rest shared as evenly as can be.
pub fn shares(nodes: usize, processes: usize, lost: usize) -> Vec<usize> {
    let processes = processes.max(1);
    let first = if processes == 1 {
        nodes
    } else {
        lost.min(nodes)
    };
    let (rest, others) = (nodes - first, processes - 1);
    let mut shares = vec![first];
    shares.extend((0..others).map(|i| rest / others + usize::from(i < rest % others)));
    shares
}

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

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn the_first_process_holds_the_nodes_to_lose_and_the_others_share_the_rest() {
        assert_eq!(shares(1_000, 10, 100), vec![100; 10]);
        assert_eq!(shares(1_000, 2, 100), vec![100, 900]);
        assert_eq!(shares(1_000, 4, 100), vec![100, 300, 300, 300]);
        assert_eq!(shares(10, 4, 1), vec![1, 3, 3, 3]);
        assert_eq!(shares(7, 3, 2), vec![2, 3, 2]);
        assert_eq!(shares(50, 2, 100), vec![50, 0]);
        assert_eq!(shares(30, 1, 10), vec![30]);
    }
}
