//! The CRI side of the node-agent tests: an agent on the shared private containerd
//! ([`flotilla_tests::containerd`]), and looking at its containers with `ctr`.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use flotilla_node_agent::runtime::cri::{Cri, CriConfig};
use flotilla_node_agent::AgentConfig;
use flotilla_tests::agent::RunningAgent;
use flotilla_tests::containerd::SharedContainerd;
use kube::Client;

/// A CRI agent for `node` serving the routing mesh on `address`.
pub async fn start_agent(
    client: Client,
    cri: &SharedContainerd,
    node: &str,
    address: &str,
    dirs: &tempfile::TempDir,
) -> anyhow::Result<RunningAgent> {
    let mut config = AgentConfig::new(node);
    config.node_address = address.into();
    config.mesh = true;
    config.heartbeat = Duration::from_secs(1);
    let cri_config = CriConfig {
        endpoint: cri.endpoint(),
        volumes_root: dirs.path().join("volumes"),
        log_root: Some(dirs.path().join("logs")),
    };
    let runtime = Arc::new(Cri::connect(node, cri_config).await?);
    Ok(RunningAgent::spawn(client, config, runtime))
}

/// `running` while its process runs, `exited` when it has none (CRI deletes a container's task
/// once it exits; a container never started has none either), None once the container is gone.
pub fn status_of(cri: &SharedContainerd, id: &str) -> Option<String> {
    cri.ctr(&["containers", "info", id])?;
    let tasks = cri.ctr(&["tasks", "ls"]).unwrap_or_default();
    let status = tasks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_ascii_lowercase())
    });
    Some(status.unwrap_or_else(|| "exited".into()))
}

/// Runs a command in the container (`ctr tasks exec`); its stdout.
pub fn exec(cri: &SharedContainerd, id: &str, cmd: &[&str]) -> Option<String> {
    let exec_id = format!("t{}", std::process::id());
    let mut args = vec!["tasks", "exec", "--exec-id", &exec_id, id];
    args.extend_from_slice(cmd);
    cri.ctr(&args).map(|s| s.trim().to_string())
}

/// The host path mounted at `target` in the container, and whether it is read-only.
pub fn mount_source(cri: &SharedContainerd, id: &str, target: &str) -> Option<(String, bool)> {
    let info: serde_json::Value =
        serde_json::from_str(&cri.ctr(&["containers", "info", id])?).ok()?;
    let mounts = info["Spec"]["mounts"].as_array()?;
    let m = mounts.iter().find(|m| m["destination"] == target)?;
    let ro = m["options"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o == "ro"));
    Some((m["source"].as_str()?.to_string(), ro))
}

/// Kills the container's process, as an OOM kill or a crash would.
pub fn kill(cri: &SharedContainerd, id: &str) {
    cri.ctr(&["tasks", "kill", "-s", "SIGKILL", id])
        .expect("ctr tasks kill");
}
