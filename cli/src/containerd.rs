//! A private containerd with its CRI plugin, for `flotilla up --runtime cri` and the tests: its
//! own root, state and socket under one directory (the root must sit on a real filesystem, not
//! overlay, for the overlayfs snapshotter), CNI from Debian's `containernetworking-plugins`
//! (bridge + host-local + portmap + loopback, on a bridge and subnet of its own), and the images
//! it needs imported from OCI archives (`ctr -n k8s.io images import`): nothing is pulled.
//! The Docker daemon's own containerd has CRI disabled, which is why a second one runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flotilla_node_agent::runtime::cri::remove_sandboxes;

/// Where Debian's `containernetworking-plugins` installs the CNI plugins.
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";
/// The sandbox ("pause") image every pod starts with (see [`crate::up::image`]).
pub const PAUSE_IMAGE: &str = "docker.io/flotilla/pause:1";

/// How one private containerd is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerdSpec {
    /// root/, state/, cni/, the socket and the log.
    pub dir: PathBuf,
    /// The CNI bridge (at most 15 characters).
    pub bridge: String,
    /// The pods' subnet, e.g. `10.88.7.0/24`.
    pub subnet: String,
}

impl ContainerdSpec {
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// The `--cri-endpoint` of agents using it.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
}

/// containerd's config: its own paths and sockets, CRI with the local pause image and our CNI.
pub fn config_toml(spec: &ContainerdSpec) -> String {
    let d = spec.dir.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE (as here, and in a node container) runc cannot lower a process's
  # oom_score_adj below its parent's, which the sandbox's default -998 asks for.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{d}/cni"
"#
    )
}

/// The CNI network: a bridge with host-local addresses (leases kept under `dir`), port mappings
/// and loopback.
pub fn cni_conflist(spec: &ContainerdSpec) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": spec.bridge,
        "plugins": [
            {
                "type": "bridge",
                "bridge": spec.bridge,
                "isGateway": true,
                "ipMasq": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": spec.subnet }]],
                    "routes": [{ "dst": "0.0.0.0/0" }],
                    "dataDir": spec.dir.join("ipam").display().to_string(),
                },
            },
            { "type": "portmap", "capabilities": { "portMappings": true } },
            { "type": "loopback" },
        ],
    })
    .to_string()
}

/// Why containerd cannot run here (so tests can say so and skip), or None when it can.
pub fn unavailable() -> Option<String> {
    if !is_root() {
        return Some("containerd needs root".into());
    }
    for (bin, package) in [
        ("containerd", "containerd"),
        ("ctr", "containerd"),
        ("runc", "runc"),
    ] {
        if which(bin).is_none() {
            return Some(format!("{bin} is missing (apt-get install {package})"));
        }
    }
    if !Path::new(CNI_BIN_DIR).join("bridge").exists() {
        return Some(format!(
            "{CNI_BIN_DIR}/bridge is missing (apt-get install containernetworking-plugins)"
        ));
    }
    None
}

fn is_root() -> bool {
    // The effective uid, as /proc reports it (no unsafe libc call needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// A running private containerd; [`Containerd::stop`] removes its pods and everything else.
pub struct Containerd {
    pub spec: ContainerdSpec,
    child: Option<Child>,
}

impl Containerd {
    /// Writes the config and CNI files, starts containerd (in its own process group, so it
    /// outlives a caller's Ctrl-C until stopped) and waits for its socket.
    pub async fn start(spec: ContainerdSpec) -> anyhow::Result<Containerd> {
        if let Some(why) = unavailable() {
            anyhow::bail!("cannot run containerd: {why}");
        }
        std::fs::create_dir_all(spec.dir.join("cni"))?;
        std::fs::write(spec.dir.join("config.toml"), config_toml(&spec))?;
        std::fs::write(
            spec.dir.join("cni/10-flotilla.conflist"),
            cni_conflist(&spec),
        )?;
        let log = std::fs::File::create(spec.dir.join("containerd.log"))?;
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new("containerd")
                .arg("--config")
                .arg(spec.dir.join("config.toml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log),
            0,
        )
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting containerd: {e}"))?;
        let mut c = Containerd {
            spec,
            child: Some(child),
        };
        c.wait_ready().await?;
        Ok(c)
    }

    /// Leaves containerd running past this handle (another owner stops it, by pid); returns
    /// its pid.
    pub fn detach(mut self) -> Option<u32> {
        self.child.take().map(|c| c.id())
    }

    /// The pid of the containerd process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    anyhow::bail!(
                        "containerd exited ({status}); see {}",
                        self.spec.dir.join("containerd.log").display()
                    );
                }
            }
            if self.ctr(&["version"]).is_ok() {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "containerd did not answer on {} within 30s",
                self.spec.socket().display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `ctr --address <socket> -n k8s.io args…`; its stdout.
    pub fn ctr(&self, args: &[&str]) -> anyhow::Result<String> {
        ctr(&self.spec.socket(), args)
    }

    /// Imports an OCI or docker archive into the CRI namespace (unpacked for the snapshotter).
    pub fn import(&self, archive: &Path) -> anyhow::Result<()> {
        self.ctr(&["images", "import", &archive.to_string_lossy()])?;
        Ok(())
    }

    /// Removes every pod sandbox (releasing addresses and shims), stops containerd, deletes the
    /// CNI bridge and the directory.
    pub async fn stop(mut self) {
        let _ = remove_sandboxes(&self.spec.endpoint(), Default::default()).await;
        if let Some(mut child) = self.child.take() {
            terminate(&mut child).await;
        }
        cleanup(&self.spec);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // An error path: no runtime to remove pods through; kill what we can.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            cleanup(&self.spec);
        }
    }
}

/// `ctr` against the socket at `socket`, in the CRI namespace.
pub fn ctr(socket: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ctr")
        .arg("--address")
        .arg(socket)
        .args(["-n", "k8s.io"])
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "ctr {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Unmounts what containerd left under its directory, deletes the bridge and the directory.
pub fn cleanup(spec: &ContainerdSpec) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let dir = spec.dir.to_string_lossy().into_owned();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| p.starts_with(&dir))
        .collect();
    // Deepest first.
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").arg("-l").arg(p).status();
    }
    let _ = Command::new("ip")
        .args(["link", "del", &spec.bridge])
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&spec.dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerdSpec {
        ContainerdSpec {
            dir: PathBuf::from("/tmp/x"),
            bridge: "flcri7".into(),
            subnet: "10.88.7.0/24".into(),
        }
    }

    #[test]
    fn config_keeps_everything_under_its_dir_and_uses_the_local_pause_image() {
        let toml = config_toml(&spec());
        for line in [
            "root = \"/tmp/x/root\"",
            "state = \"/tmp/x/state\"",
            "address = \"/tmp/x/containerd.sock\"",
            "sandbox_image = \"docker.io/flotilla/pause:1\"",
            "conf_dir = \"/tmp/x/cni\"",
            "restrict_oom_score_adj = true",
            "bin_dir = \"/usr/lib/cni\"",
        ] {
            assert!(toml.contains(line), "{line} missing in\n{toml}");
        }
        assert_eq!(spec().endpoint(), "unix:///tmp/x/containerd.sock");
    }

    #[test]
    fn cni_is_bridge_host_local_portmap_and_loopback_on_its_own_subnet() {
        let v: serde_json::Value = serde_json::from_str(&cni_conflist(&spec())).unwrap();
        let types: Vec<&str> = v["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["bridge", "portmap", "loopback"]);
        let bridge = &v["plugins"][0];
        assert_eq!(bridge["bridge"], "flcri7");
        assert_eq!(bridge["ipam"]["type"], "host-local");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.88.7.0/24");
        assert_eq!(bridge["ipam"]["dataDir"], "/tmp/x/ipam");
    }
}
