//! SwarmNetwork attachments through CNI, for runtimes whose sandboxes sit on their own default
//! network (CRI): like Multus beside containerd's default CNI network, the agent runs the CNI
//! `bridge` plugin itself on the sandbox's network namespace, one Linux bridge per SwarmNetwork
//! holding the network's gateway, and `static` IPAM for the address the allocator assigned
//! (docs/networking.md). No default route is added: the sandbox's default network keeps it.

use std::path::Path;
use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::NetworkRun;

/// Where Debian's containernetworking-plugins put the plugins.
pub const PLUGIN_DIR: &str = "/usr/lib/cni";

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("network {0:?} has no address for this task")]
    NoAddress(String),
    #[error("running CNI plugin {plugin}: {source}")]
    Spawn {
        plugin: String,
        source: std::io::Error,
    },
    #[error("CNI {command} of network {network:?} failed: {message}")]
    Plugin {
        command: &'static str,
        network: String,
        message: String,
    },
}

/// The Linux bridge of SwarmNetwork `<namespace>/<network>`: `fl` and a stable hash, because an
/// interface name holds at most 15 bytes.
pub fn bridge_name(namespace: &str, network: &str) -> String {
    // FNV-1a: stable across builds, so a restarted agent finds the bridge it made.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in namespace.bytes().chain([b'/']).chain(network.bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("fl{:012x}", hash & 0xffff_ffff_ffff)
}

/// The prefix length of `subnet` (`10.210.1.0/24` → 24).
fn prefix_len(subnet: &str) -> Option<u8> {
    subnet.split_once('/')?.1.parse().ok()
}

/// The CNI network configuration attaching a task to `net` at its allocated address, with the
/// overlay's `mtu` on the bridge and the task's interface (frames larger than the VXLAN
/// device's MTU would be dropped on their way to another node).
pub fn bridge_config(namespace: &str, net: &NetworkRun, mtu: u32) -> Result<Value, CniError> {
    let address = net
        .address
        .as_deref()
        .ok_or_else(|| CniError::NoAddress(net.name.clone()))?;
    let len = prefix_len(&net.subnet).ok_or_else(|| CniError::NoAddress(net.name.clone()))?;
    let mut ip = json!({"address": format!("{address}/{len}")});
    if !net.gateway.is_empty() {
        ip["gateway"] = json!(net.gateway);
    }
    Ok(json!({
        "cniVersion": "1.0.0",
        "name": format!("flotilla-{namespace}-{}", net.name),
        "type": "bridge",
        "bridge": bridge_name(namespace, &net.name),
        "isGateway": !net.gateway.is_empty(),
        "isDefaultGateway": false,
        "ipMasq": false,
        "hairpinMode": true,
        "mtu": mtu,
        "ipam": {"type": "static", "addresses": [ip]},
    }))
}

/// One attachment: the sandbox (`container_id`), its network namespace and the interface name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment<'a> {
    pub container_id: &'a str,
    pub netns: &'a str,
    pub ifname: &'a str,
}

/// Runs the plugin named by `config` with `command` (`ADD` or `DEL`), as a CNI runtime does:
/// the parameters in the environment, the configuration on stdin.
pub async fn invoke(
    plugin_dir: &Path,
    command: &'static str,
    at: &Attachment<'_>,
    config: &Value,
) -> Result<Value, CniError> {
    let kind = config["type"].as_str().unwrap_or_default();
    let plugin = plugin_dir.join(kind);
    let spawn = |source| CniError::Spawn {
        plugin: plugin.display().to_string(),
        source,
    };
    let mut child = tokio::process::Command::new(&plugin)
        .env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", at.container_id)
        .env("CNI_NETNS", at.netns)
        .env("CNI_IFNAME", at.ifname)
        .env("CNI_PATH", plugin_dir)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn)?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(config.to_string().as_bytes())
        .await
        .map_err(spawn)?;
    drop(stdin);
    let out = child.wait_with_output().await.map_err(spawn)?;
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if out.status.success() {
        return Ok(reply);
    }
    // A failing plugin answers a CNI error object on stdout ({"code", "msg", "details"}).
    let message = match reply["msg"].as_str() {
        Some(msg) => format!("{msg} {}", reply["details"].as_str().unwrap_or_default()),
        None => String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    Err(CniError::Plugin {
        command,
        network: config["name"].as_str().unwrap_or_default().to_string(),
        message: message.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(address: Option<&str>) -> NetworkRun {
        NetworkRun {
            name: "backend".into(),
            subnet: "10.210.1.0/24".into(),
            gateway: "10.210.1.1".into(),
            internal: false,
            attachable: false,
            address: address.map(str::to_string),
        }
    }

    #[test]
    fn bridge_names_fit_an_interface_and_differ_per_network() {
        let a = bridge_name("default", "backend");
        assert_eq!(a.len(), 14);
        assert_eq!(a, bridge_name("default", "backend"));
        assert_ne!(a, bridge_name("default", "front"));
        assert_ne!(a, bridge_name("other", "backend"));
    }

    #[test]
    fn the_config_gives_the_allocated_address_on_the_networks_bridge_without_a_default_route() {
        let c = bridge_config("default", &backend(Some("10.210.1.7")), 1450).unwrap();
        assert_eq!(c["mtu"], 1450);
        assert_eq!(c["type"], "bridge");
        assert_eq!(c["bridge"], bridge_name("default", "backend"));
        assert_eq!(c["isGateway"], true);
        assert_eq!(c["isDefaultGateway"], false);
        assert_eq!(c["ipam"]["type"], "static");
        assert_eq!(c["ipam"]["addresses"][0]["address"], "10.210.1.7/24");
        assert_eq!(c["ipam"]["addresses"][0]["gateway"], "10.210.1.1");
        let err = bridge_config("default", &backend(None), 1450).unwrap_err();
        assert!(err.to_string().contains("backend"), "{err}");
    }
}
