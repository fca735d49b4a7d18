//! `flotilla up --runtime cri`: the nodes' containerd. Without `--cri-endpoint` a private one is
//! started under the data dir ([`crate::containerd`]) and stopped with the cluster; either way
//! the pause and example images are imported into it (nothing can be pulled).

use std::path::Path;

use flotilla_node_agent::runtime::cri::remove_sandboxes;
use flotilla_node_agent::runtime::files::SECRETS_ROOT;

use crate::containerd::{self, Containerd, ContainerdSpec};

use super::image::export_cri_images;
use super::spec::AgentSpec;

/// The bridge and subnet of `flotilla up`'s own containerd.
const BRIDGE: &str = "flotilla-cri0";
const SUBNET: &str = "10.89.0.0/24";

/// The containerd the agents use: started here, or the one at a given endpoint.
pub enum NodeRuntime {
    Private(Containerd),
    Given(String),
}

impl NodeRuntime {
    /// Starts (or checks) containerd and imports the images.
    pub async fn start(data: &Path, endpoint: Option<&str>) -> anyhow::Result<NodeRuntime> {
        let images = export_cri_images(&data.join("images"))?;
        let runtime = match endpoint {
            Some(e) => NodeRuntime::Given(e.to_string()),
            None => {
                let spec = ContainerdSpec {
                    dir: data.join("containerd"),
                    bridge: BRIDGE.into(),
                    subnet: SUBNET.into(),
                };
                containerd::cleanup(&spec);
                let c = Containerd::start(spec).await?;
                println!(
                    "  started containerd (CRI)   pid {:<7} socket {}",
                    c.pid().unwrap_or(0),
                    c.spec.socket().display()
                );
                NodeRuntime::Private(c)
            }
        };
        let socket = runtime.endpoint();
        let socket = flotilla_node_agent::runtime::cri::socket_path(&socket).ok_or_else(|| {
            anyhow::anyhow!("--cri-endpoint {socket}: images are imported over a unix socket")
        })?;
        for archive in images {
            containerd::ctr(
                Path::new(socket),
                &["images", "import", &archive.to_string_lossy()],
            )?;
        }
        Ok(runtime)
    }

    pub fn endpoint(&self) -> String {
        match self {
            NodeRuntime::Private(c) => c.spec.endpoint(),
            NodeRuntime::Given(e) => e.clone(),
        }
    }

    /// The agents' flags for this runtime, logs and volumes under the data dir.
    pub fn agent_args(&self, data: &Path) -> Vec<String> {
        vec![
            format!("--cri-endpoint={}", self.endpoint()),
            format!("--cri-log-dir={}", data.join("logs/containers").display()),
            format!("--volumes-dir={}", data.join("volumes").display()),
        ]
    }

    /// Removes the agents' pods and tmpfs files; a private containerd is stopped as well.
    pub async fn stop(self, agents: &[AgentSpec]) {
        for a in agents {
            let _ = std::fs::remove_dir_all(Path::new(SECRETS_ROOT).join(&a.name));
        }
        match self {
            NodeRuntime::Private(c) => c.stop().await,
            NodeRuntime::Given(endpoint) => {
                for a in agents {
                    let labels = [("flotilla.dev/node".to_string(), a.name.clone())].into();
                    let _ = remove_sandboxes(&endpoint, labels).await;
                }
            }
        }
    }
}
