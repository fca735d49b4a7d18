//! The CRI runtime (`--runtime cri --cri-endpoint unix:///…`): each task is a CRI pod sandbox
//! holding one container, driven as the kubelet drives containerd (RunPodSandbox,
//! CreateContainer, StartContainer, StopContainer, StopPodSandbox, RemovePodSandbox).
//!
//! Sandboxes carry the task's labels, so a restarted agent finds (adopts) them; the sandbox IP
//! is what the routing mesh forwards to. Images come only from the node's store: a missing one
//! is the task's error, nothing is pulled. Secrets and configs live on a tmpfs
//! ([`super::files`]) and are mounted read-only; healthchecks run through ExecSync
//! ([`super::cri_health`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use flotilla_api::task::NetworkAttachment;
use k8s_cri::v1::{
    ContainerState, ContainerStatusRequest, CreateContainerRequest, ImageSpec, ImageStatusRequest,
    PodSandboxStatusRequest, RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest,
    StopContainerRequest, StopPodSandboxRequest, VersionRequest,
};

use super::cri_client::{channel, key_of, mem_total, Clients, Ids};
pub use super::cri_client::{remove_sandboxes, sandbox_ids, socket_path};
use super::cri_health::{Health, Monitors};
use super::cri_mounts::task_mounts;
use super::cri_net::{self, Attached};
use super::cri_spec::{container_config, sandbox_config};
use super::docker_spec::NODE_LABEL;
use super::files::{self, check_bind_sources};
use super::{NodeDescription, Runtime, RuntimeError, TaskKey, TaskRun};
use crate::decide::Observation;
use crate::secrets::tmpfs::SecretDirs;

/// Where the CRI runtime keeps what is not secret.
#[derive(Clone, Debug)]
pub struct CriConfig {
    /// `unix:///run/containerd/containerd.sock`, a bare socket path, or `http://host:port`.
    pub endpoint: String,
    /// Named volumes: `<volumes_root>/<name>`.
    pub volumes_root: PathBuf,
    /// Container logs: `<log_root>/<container name>/task.log`; none when unset.
    pub log_root: Option<PathBuf>,
}

pub struct Cri {
    clients: Clients,
    node: String,
    secrets: SecretDirs,
    config: CriConfig,
    ids: Mutex<HashMap<TaskKey, Ids>>,
    monitors: Monitors,
    /// The SwarmNetworks each sandbox was attached to (CNI), for DEL and `status.networks`.
    nets: Mutex<HashMap<TaskKey, Attached>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_found(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::NotFound
}

/// The runtime's message (what a user should read in `status.err`).
fn task_error(status: tonic::Status) -> RuntimeError {
    RuntimeError::Task(status.message().to_string())
}

impl Cri {
    /// Where each sandbox's CNI attachments are recorded: `<volumes_root>.cni`, beside the
    /// volumes, which outlive the agent too (inside the volumes directory, a volume could have
    /// that name).
    fn cni_records(&self) -> std::path::PathBuf {
        self.config.volumes_root.with_extension("cni")
    }

    /// Connects and checks that the endpoint answers CRI's Version.
    pub async fn connect(node: &str, config: CriConfig) -> Result<Cri, RuntimeError> {
        let clients = Clients::new(channel(&config.endpoint).await?);
        clients
            .runtime
            .clone()
            .version(VersionRequest::default())
            .await?;
        let cri = Cri {
            clients,
            node: node.to_string(),
            secrets: files::open(node)?,
            config,
            ids: Mutex::new(HashMap::new()),
            monitors: Monitors::default(),
            nets: Mutex::new(HashMap::new()),
        };
        let live = cri
            .containers(node)
            .await?
            .iter()
            .map(TaskKey::container_name)
            .collect();
        files::sweep(&cri.secrets, node, &live)?;
        Ok(cri)
    }

    /// The task's sandbox and container ids: cached, else looked up by label.
    async fn ids(&self, key: &TaskKey) -> Result<Option<Ids>, RuntimeError> {
        if let Some(ids) = lock(&self.ids).get(key).cloned() {
            return Ok(Some(ids));
        }
        let found = self.clients.find(&self.node, key).await?;
        if let Some(ids) = &found {
            lock(&self.ids).insert(key.clone(), ids.clone());
        }
        Ok(found)
    }

    fn forget(&self, key: &TaskKey) {
        lock(&self.ids).remove(key);
        self.monitors.stop(key);
    }

    async fn check_image(&self, image: &str) -> Result<(), RuntimeError> {
        let request = ImageStatusRequest {
            image: Some(ImageSpec {
                image: image.to_string(),
                ..Default::default()
            }),
            verbose: false,
        };
        let reply = self.clients.images.clone().image_status(request).await?;
        if reply.into_inner().image.is_none() {
            return Err(RuntimeError::Task(format!(
                "No such image: {image} (not in the node's image store; nothing is pulled: \
                 import it with `ctr -n k8s.io images import`)"
            )));
        }
        Ok(())
    }

    async fn state(&self, request: ContainerStatusRequest) -> Option<ContainerState> {
        let reply = self.clients.runtime.clone().container_status(request).await;
        Some(reply.ok()?.into_inner().status?.state())
    }

    /// Whether the container has exited (or is gone).
    async fn exited(&self, container_id: &str) -> bool {
        let request = ContainerStatusRequest {
            container_id: container_id.to_string(),
            verbose: false,
        };
        matches!(
            self.state(request).await,
            None | Some(ContainerState::ContainerExited)
        )
    }

    /// StopContainer; a container that exited meanwhile (its shim going away) is stopped.
    async fn stop_container(
        &self,
        container_id: &str,
        grace: Duration,
    ) -> Result<(), tonic::Status> {
        let request = StopContainerRequest {
            container_id: container_id.to_string(),
            timeout: grace.as_secs() as i64,
        };
        match self.clients.runtime.clone().stop_container(request).await {
            Err(s) if !not_found(&s) && !self.exited(container_id).await => Err(s),
            _ => Ok(()),
        }
    }

    async fn stop_sandbox(&self, sandbox: &str) -> Result<(), RuntimeError> {
        let request = StopPodSandboxRequest {
            pod_sandbox_id: sandbox.to_string(),
        };
        match self.clients.runtime.clone().stop_pod_sandbox(request).await {
            Err(s) if !not_found(&s) => Err(s.into()),
            _ => Ok(()),
        }
    }
}

fn log_paths(config: &CriConfig, key: &TaskKey) -> (Option<String>, Option<String>) {
    match &config.log_root {
        Some(root) => (
            Some(
                root.join(key.container_name())
                    .to_string_lossy()
                    .into_owned(),
            ),
            Some("task.log".to_string()),
        ),
        None => (None, None),
    }
}

#[async_trait]
impl Runtime for Cri {
    async fn describe(&self, node: &str) -> Result<NodeDescription, RuntimeError> {
        let version = self
            .clients
            .runtime
            .clone()
            .version(VersionRequest::default())
            .await?
            .into_inner();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        Ok(NodeDescription {
            hostname: node.to_string(),
            os: "linux".into(),
            architecture: std::env::consts::ARCH.into(),
            nano_cpus: cpus * 1_000_000_000,
            memory_bytes: mem_total(&meminfo).unwrap_or(0),
            engine_version: format!("{} {}", version.runtime_name, version.runtime_version),
            engine_labels: [("flotilla.dev/runtime".to_string(), "cri".to_string())].into(),
        })
    }

    async fn prepare(&self, run: &TaskRun) -> Result<(), RuntimeError> {
        let existing = self.ids(&run.key).await?;
        if existing.as_ref().is_some_and(|ids| ids.container.is_some()) {
            return Ok(());
        }
        check_bind_sources(run)?;
        let (log_dir, log_path) = log_paths(&self.config, &run.key);
        let sandbox = sandbox_config(run, log_dir);
        let mut config = container_config(run, vec![], log_path)
            .map_err(|e| RuntimeError::Task(e.to_string()))?;
        let image = run.task.spec.template.container_spec.image.clone();
        self.check_image(&image).await?;
        config.mounts = task_mounts(run, &self.secrets, &self.config.volumes_root)?;
        let sandbox_id = match existing {
            Some(ids) => ids.sandbox,
            None => {
                let request = RunPodSandboxRequest {
                    config: Some(sandbox.clone()),
                    runtime_handler: String::new(),
                };
                let reply = self.clients.runtime.clone().run_pod_sandbox(request).await;
                let id = reply.map_err(task_error)?.into_inner().pod_sandbox_id;
                let ns = &run.key.namespace;
                let attached = cri_net::attach(&self.clients, ns, &id, &run.networks).await?;
                cri_net::save(&self.cni_records(), &id, &attached);
                lock(&self.nets).insert(run.key.clone(), attached);
                id
            }
        };
        let request = CreateContainerRequest {
            pod_sandbox_id: sandbox_id.clone(),
            config: Some(config),
            sandbox_config: Some(sandbox),
        };
        let reply = self.clients.runtime.clone().create_container(request).await;
        let container = reply.map_err(task_error)?.into_inner().container_id;
        let ids = Ids {
            sandbox: sandbox_id,
            container: Some(container),
        };
        lock(&self.ids).insert(run.key.clone(), ids);
        Ok(())
    }

    async fn start(&self, key: &TaskKey) -> Result<(), RuntimeError> {
        let Some(container_id) = self.ids(key).await?.and_then(|ids| ids.container) else {
            return Err(RuntimeError::Task("No such container".into()));
        };
        let request = StartContainerRequest {
            container_id: container_id.clone(),
        };
        let Err(failed) = self.clients.runtime.clone().start_container(request).await else {
            return Ok(());
        };
        // Already started (a repeated call, as after an agent restart): as Docker's 304.
        let status = ContainerStatusRequest {
            container_id,
            verbose: false,
        };
        match self.state(status).await {
            Some(ContainerState::ContainerRunning) => Ok(()),
            _ => Err(task_error(failed)),
        }
    }

    async fn observe(&self, key: &TaskKey) -> Result<Observation, RuntimeError> {
        let Some(container_id) = self.ids(key).await?.and_then(|ids| ids.container) else {
            return Ok(Observation::Absent);
        };
        let request = ContainerStatusRequest {
            container_id: container_id.clone(),
            verbose: false,
        };
        let status = match self.clients.runtime.clone().container_status(request).await {
            Ok(reply) => reply.into_inner().status.unwrap_or_default(),
            Err(s) if not_found(&s) => {
                self.forget(key);
                return Ok(Observation::Absent);
            }
            Err(s) => return Err(s.into()),
        };
        Ok(match status.state() {
            ContainerState::ContainerCreated => Observation::Created { container_id },
            ContainerState::ContainerRunning => {
                let client = &self.clients.runtime;
                self.monitors
                    .ensure(key, client, &container_id, &status.annotations);
                match self.monitors.health(key) {
                    Some(Health::Starting) => Observation::Starting { container_id },
                    Some(Health::Unhealthy) => Observation::Unhealthy { container_id },
                    _ => Observation::Running {
                        container_id,
                        pid: None,
                    },
                }
            }
            ContainerState::ContainerExited => {
                self.monitors.stop(key);
                Observation::Exited {
                    container_id,
                    exit_code: status.exit_code as i64,
                }
            }
            ContainerState::ContainerUnknown => {
                return Err(RuntimeError::Task(format!(
                    "container {container_id} is in an unknown state"
                )))
            }
        })
    }

    async fn stop(&self, key: &TaskKey, grace: Duration) -> Result<(), RuntimeError> {
        let Some(ids) = self.ids(key).await? else {
            return Ok(());
        };
        self.monitors.stop(key);
        if let Some(container_id) = ids.container {
            if self.stop_container(&container_id, grace).await.is_err() {
                // containerd answers `ttrpc: closed` when the shim goes away mid-stop, at times
                // before the container's status says it exited: look again a moment later.
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.stop_container(&container_id, grace).await?;
            }
        }
        // The stopped task's sandbox holds an address and a pause process: release them.
        self.stop_sandbox(&ids.sandbox).await
    }

    async fn remove(&self, key: &TaskKey) -> Result<(), RuntimeError> {
        if let Some(ids) = self.ids(key).await? {
            let attached = lock(&self.nets).remove(key);
            let records = self.cni_records();
            let attached = attached.or_else(|| cri_net::load(&records, &ids.sandbox));
            if let Some(attached) = attached {
                cri_net::detach(&ids.sandbox, &attached).await;
            }
            cri_net::forget(&records, &ids.sandbox);
            self.stop_sandbox(&ids.sandbox).await?;
            let request = RemovePodSandboxRequest {
                pod_sandbox_id: ids.sandbox,
            };
            match self
                .clients
                .runtime
                .clone()
                .remove_pod_sandbox(request)
                .await
            {
                Err(s) if !not_found(&s) => return Err(s.into()),
                _ => {}
            }
        }
        self.forget(key);
        files::remove(&self.secrets, key)
    }

    async fn containers(&self, node: &str) -> Result<Vec<TaskKey>, RuntimeError> {
        let labels = HashMap::from([(NODE_LABEL.to_string(), node.to_string())]);
        let sandboxes = self.clients.sandboxes(labels).await?;
        let mut keys: Vec<TaskKey> = sandboxes.iter().filter_map(key_of).collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn address(&self, key: &TaskKey) -> Option<IpAddr> {
        let ids = self.ids(key).await.ok()??;
        let request = PodSandboxStatusRequest {
            pod_sandbox_id: ids.sandbox,
            verbose: false,
        };
        let reply = self
            .clients
            .runtime
            .clone()
            .pod_sandbox_status(request)
            .await;
        let status = reply.ok()?.into_inner().status?;
        status.network?.ip.parse().ok()
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_secs(1)
    }

    async fn attachments(&self, key: &TaskKey, _networks: &[String]) -> Vec<NetworkAttachment> {
        if let Some(attached) = lock(&self.nets).get(key).cloned() {
            return attached.networks;
        }
        // Adopted after a restart: the record the agent that attached it wrote.
        let Ok(Some(ids)) = self.ids(key).await else {
            return vec![];
        };
        let Some(attached) = cri_net::load(&self.cni_records(), &ids.sandbox) else {
            return vec![];
        };
        lock(&self.nets).insert(key.clone(), attached.clone());
        attached.networks
    }

    fn has_networks(&self) -> bool {
        true
    }

    fn overlay(&self) -> bool {
        true
    }

    async fn network_interface(&self, namespace: &str, network: &str) -> Option<String> {
        cri_net::interface(namespace, network)
    }

    async fn remove_network(&self, namespace: &str, network: &str) {
        cri_net::remove_bridge(namespace, network).await;
    }
}
