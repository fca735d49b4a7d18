//! SwarmNetworks on the CRI runtime: after RunPodSandbox the agent attaches the sandbox's network
//! namespace to each of the task's networks with the CNI `bridge` plugin ([`super::cni`]),
//! `eth1`, `eth2`… beside containerd's own `eth0` (docs/networking.md).

use std::collections::HashMap;
use std::path::Path;

use flotilla_api::task::NetworkAttachment;
use k8s_cri::v1::PodSandboxStatusRequest;
use serde_json::Value;

use super::cni::{bridge_config, bridge_name, invoke, Attachment, PLUGIN_DIR};
use super::cri_client::Clients;
use super::{NetworkRun, RuntimeError};
use crate::net::vxlan::vxlan_name;

/// What one task's sandbox was attached to: the CNI configs (for DEL) and the addresses got.
/// Kept in a file per sandbox too ([`save`], [`load`]), so a restarted agent still runs DEL and
/// reports the addresses of the sandboxes it adopts.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attached {
    pub configs: Vec<(String, Value)>,
    pub networks: Vec<NetworkAttachment>,
}

/// The network namespace of a sandbox, from its verbose status (containerd's `info`: the pause
/// process's pid).
pub fn netns_of(info: &HashMap<String, String>) -> Option<String> {
    let info: Value = serde_json::from_str(info.get("info")?).ok()?;
    let spec_ns = info["runtimeSpec"]["linux"]["namespaces"].as_array();
    let by_spec = spec_ns
        .into_iter()
        .flatten()
        .find(|ns| ns["type"] == "network")
        .and_then(|ns| ns["path"].as_str())
        .filter(|p| !p.is_empty());
    match (by_spec, info["pid"].as_u64()) {
        (Some(path), _) => Some(path.to_string()),
        (None, Some(pid)) if pid > 0 => Some(format!("/proc/{pid}/ns/net")),
        _ => None,
    }
}

/// Attaches sandbox `sandbox` to `networks`; an error is the task's.
pub async fn attach(
    clients: &Clients,
    namespace: &str,
    sandbox: &str,
    networks: &[NetworkRun],
) -> Result<Attached, RuntimeError> {
    let mut out = Attached::default();
    if networks.is_empty() {
        return Ok(out);
    }
    let request = PodSandboxStatusRequest {
        pod_sandbox_id: sandbox.to_string(),
        verbose: true,
    };
    let reply = clients.runtime.clone().pod_sandbox_status(request).await?;
    let netns = netns_of(&reply.into_inner().info)
        .ok_or_else(|| RuntimeError::Task("the sandbox has no network namespace".into()))?;
    let mtu = crate::net::vxlan::overlay_mtu();
    for (i, net) in networks.iter().enumerate() {
        let config = bridge_config(namespace, net, mtu).map_err(task)?;
        let ifname = format!("eth{}", i + 1);
        let at = Attachment {
            container_id: sandbox,
            netns: &netns,
            ifname: &ifname,
        };
        let reply = invoke(Path::new(PLUGIN_DIR), "ADD", &at, &config).await;
        let reply = reply.map_err(task)?;
        let addresses = reply["ips"].as_array().into_iter().flatten();
        let addresses = addresses.filter_map(|ip| ip["address"].as_str().map(str::to_string));
        out.networks.push(NetworkAttachment {
            network: net.name.clone(),
            addresses: addresses.collect(),
            aliases: vec![],
        });
        out.configs.push((ifname, config));
    }
    if networks.iter().all(|n| n.internal) {
        cut_off(&netns).await.map_err(|e| {
            RuntimeError::Task(format!(
                "removing the default route of an internal task: {e}"
            ))
        })?;
    }
    Ok(out)
}

/// A task whose networks are all `internal` gets no route out (Swarm's `--internal`): the
/// default route containerd's own network gave the sandbox goes. Its own subnet on `eth0`
/// stays, so the node (and through it the routing mesh) still reaches it; the SwarmNetworks'
/// subnets are routes of their own interfaces.
async fn cut_off(netns: &str) -> Result<usize, crate::net::vxlan::VxlanError> {
    let netns = netns.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // setns(2) moves the calling thread for good: a thread of its own that then ends (not one
    // of Tokio's, which would go on running the agent's work in the sandbox's namespace).
    std::thread::spawn(move || {
        let cut = || -> Result<usize, crate::net::vxlan::VxlanError> {
            let file = std::fs::File::open(&netns)?;
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&file),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(std::io::Error::from)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let netlink = crate::net::vxlan::Netlink::connect()?;
                netlink.delete_default_routes().await
            })
        };
        let _ = tx.send(cut());
    });
    rx.await
        .unwrap_or_else(|e| Err(std::io::Error::other(e).into()))
}

/// Detaches a sandbox (best effort: its veths go with its namespace anyway).
pub async fn detach(sandbox: &str, attached: &Attached) {
    for (ifname, config) in &attached.configs {
        let at = Attachment {
            container_id: sandbox,
            netns: "",
            ifname,
        };
        if let Err(e) = invoke(Path::new(PLUGIN_DIR), "DEL", &at, config).await {
            tracing::debug!(sandbox, error = %e, "CNI DEL");
        }
    }
}

fn record(dir: &Path, sandbox: &str) -> std::path::PathBuf {
    dir.join(format!("{sandbox}.json"))
}

/// Writes sandbox `sandbox`'s attachments under `dir` (best effort: without the file, only a
/// restarted agent loses them).
pub fn save(dir: &Path, sandbox: &str, attached: &Attached) {
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let json = serde_json::to_vec(attached).map_err(std::io::Error::other)?;
        std::fs::write(record(dir, sandbox), json)
    });
    if let Err(e) = written {
        tracing::warn!(sandbox, error = %e, "cannot record the sandbox's CNI attachments");
    }
}

/// The attachments [`save`] recorded for sandbox `sandbox`, if any.
pub fn load(dir: &Path, sandbox: &str) -> Option<Attached> {
    let json = std::fs::read(record(dir, sandbox)).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Forgets sandbox `sandbox`'s attachments (it is removed).
pub fn forget(dir: &Path, sandbox: &str) {
    let _ = std::fs::remove_file(record(dir, sandbox));
}

/// The host bridge of SwarmNetwork `<namespace>/<network>` once a task attached to it here.
pub fn interface(namespace: &str, network: &str) -> Option<String> {
    let bridge = bridge_name(namespace, network);
    Path::new("/sys/class/net")
        .join(&bridge)
        .exists()
        .then_some(bridge)
}

/// Deletes the bridge of a deleted SwarmNetwork and its VXLAN device (best effort), through
/// netlink: the node image has no `ip` command.
pub async fn remove_bridge(namespace: &str, network: &str) {
    let Some(bridge) = interface(namespace, network) else {
        return;
    };
    let removed = async {
        let netlink = crate::net::vxlan::Netlink::connect()?;
        netlink.remove(&vxlan_name(&bridge)).await?;
        netlink.remove(&bridge).await
    };
    match removed.await {
        Ok(()) => tracing::info!(bridge, "removed bridge"),
        Err(e) => tracing::warn!(bridge, error = %e, "cannot remove bridge"),
    }
}

fn task(e: super::cni::CniError) -> RuntimeError {
    RuntimeError::Task(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_are_recorded_per_sandbox_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let attached = Attached {
            configs: vec![("eth1".into(), serde_json::json!({"type": "bridge"}))],
            networks: vec![NetworkAttachment {
                network: "backend".into(),
                addresses: vec!["10.210.0.7/24".into()],
                aliases: vec![],
            }],
        };
        assert_eq!(load(dir.path(), "sb1"), None);
        save(dir.path(), "sb1", &attached);
        assert_eq!(load(dir.path(), "sb1"), Some(attached));
        assert_eq!(load(dir.path(), "sb2"), None);
        forget(dir.path(), "sb1");
        assert_eq!(load(dir.path(), "sb1"), None);
    }

    #[test]
    fn the_namespace_comes_from_the_spec_else_the_pause_pid() {
        let spec = r#"{"pid": 42, "runtimeSpec": {"linux": {"namespaces": [
            {"type": "pid"}, {"type": "network", "path": "/var/run/netns/cni-1"}]}}}"#;
        let info = HashMap::from([("info".to_string(), spec.to_string())]);
        assert_eq!(netns_of(&info).as_deref(), Some("/var/run/netns/cni-1"));
        let pid = HashMap::from([("info".to_string(), r#"{"pid": 42}"#.to_string())]);
        assert_eq!(netns_of(&pid).as_deref(), Some("/proc/42/ns/net"));
        assert_eq!(netns_of(&HashMap::new()), None);
    }
}
