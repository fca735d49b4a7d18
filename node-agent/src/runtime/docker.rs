//! The Docker runtime, through the Engine API (bollard). Containers are named
//! `<task>.<uid prefix>` and labelled with task, namespace, service and node.
//!
//! Secrets and configs are written only under `/dev/shm/flotilla/<node>/<container>/` (a tmpfs:
//! never regular disk; see [`SecretDirs`] for how) and bind-mounted read-only at their targets; the
//! directory is deleted with the container, and at connect those of vanished containers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerStateStatusEnum, HealthStatusEnum, Mount, NetworkConnectRequest};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptionsBuilder, RemoveContainerOptions,
    StopContainerOptions,
};
use flotilla_api::task::NetworkAttachment;

use super::docker_attach;
use super::docker_events::{self, Wake, Wakers};
use super::docker_net::{attachments, endpoint, network_request, resolv_conf, subnet_of};
use super::docker_spec::{
    container_body, file_mount, network_name, NAMESPACE_LABEL, NODE_LABEL, TASK_LABEL,
    TASK_UID_LABEL,
};
use super::files::{self, check_bind_sources};
use super::{NetworkRun, NodeDescription, Runtime, RuntimeError, TaskKey, TaskRun};
use crate::decide::Observation;
use crate::secrets::tmpfs::SecretDirs;

pub use super::files::SECRETS_ROOT;

pub struct Docker {
    client: bollard::Docker,
    secrets: SecretDirs,
    /// Wakes task workers on container events (see [`docker_events`]).
    wakers: Arc<Wakers>,
    events: tokio::task::AbortHandle,
    /// Keeps standalone containers off networks that are not attachable ([`docker_attach`]).
    attach_guard: tokio::task::AbortHandle,
}

impl Drop for Docker {
    fn drop(&mut self) {
        self.events.abort();
        self.attach_guard.abort();
    }
}

fn status_code(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

impl Docker {
    /// Connects to the local engine (DOCKER_HOST or the default socket), negotiating the API
    /// version; checks the node's secrets directory and removes the files of containers that
    /// were removed while no agent ran. Follows the engine's events for `node` while it lives.
    pub async fn connect(node: &str) -> Result<Docker, RuntimeError> {
        Docker::connect_with(node, bollard::Docker::connect_with_local_defaults()?).await
    }

    /// [`Docker::connect`] through the engine socket at `path` (a proxy, in tests).
    pub async fn connect_socket(node: &str, path: &str) -> Result<Docker, RuntimeError> {
        let client = bollard::Docker::connect_with_socket(path, 120, bollard::API_DEFAULT_VERSION)?;
        Docker::connect_with(node, client).await
    }

    async fn connect_with(node: &str, client: bollard::Docker) -> Result<Docker, RuntimeError> {
        let client = client.negotiate_version().await?;
        client.ping().await?;
        let secrets = files::open(node)?;
        let wakers = Arc::new(Wakers::default());
        let follow = docker_events::follow(client.clone(), node.to_string(), wakers.clone());
        let events = tokio::spawn(follow).abort_handle();
        let attach_guard = tokio::spawn(docker_attach::guard(client.clone())).abort_handle();
        let docker = Docker {
            client,
            secrets,
            wakers,
            events,
            attach_guard,
        };
        let live: BTreeSet<String> = docker
            .containers(node)
            .await?
            .iter()
            .map(TaskKey::container_name)
            .collect();
        files::sweep(&docker.secrets, node, &live)?;
        Ok(docker)
    }

    /// Writes secrets/configs to the tmpfs directory and returns the mounts binding them.
    fn materialize(&self, run: &TaskRun) -> Result<Vec<Mount>, RuntimeError> {
        Ok(files::materialize(&self.secrets, run)?
            .iter()
            .map(|f| file_mount(&f.host_path.to_string_lossy(), &f.target))
            .collect())
    }

    /// Creates SwarmNetwork `net`'s Docker network unless it exists; one that exists with
    /// another subnet (left by an earlier cluster) is an error the task shows.
    async fn ensure_network(&self, namespace: &str, net: &NetworkRun) -> Result<(), RuntimeError> {
        let name = network_name(namespace, &net.name);
        if let Ok(existing) = self.client.inspect_network(&name, None).await {
            return match subnet_of(&existing) {
                Some(subnet) if subnet != net.subnet => Err(RuntimeError::Task(format!(
                    "docker network {name} exists with subnet {subnet}, not {}",
                    net.subnet
                ))),
                _ => Ok(()),
            };
        }
        match self
            .client
            .create_network(network_request(namespace, net))
            .await
        {
            Ok(_) => Ok(()),
            // Another agent on this engine created it at the same moment (Docker answers 409,
            // or 403 "Pool overlaps" for the same subnet): use it if it is there now.
            Err(e) => match self.client.inspect_network(&name, None).await {
                Ok(existing) if subnet_of(&existing).as_deref() == Some(net.subnet.as_str()) => {
                    Ok(())
                }
                _ => Err(RuntimeError::Task(format!("creating network {name}: {e}"))),
            },
        }
    }

    /// Connects the container to its networks after the first, each at its address.
    async fn connect_rest(&self, run: &TaskRun) -> Result<(), RuntimeError> {
        for net in run.networks.iter().skip(1) {
            let request = NetworkConnectRequest {
                container: run.key.container_name(),
                endpoint_config: Some(endpoint(net)),
            };
            let name = network_name(&run.key.namespace, &net.name);
            if let Err(e) = self.client.connect_network(&name, request).await {
                return Err(RuntimeError::Task(format!("connecting to {name}: {e}")));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Runtime for Docker {
    async fn describe(&self, node: &str) -> Result<NodeDescription, RuntimeError> {
        let info = self.client.info().await?;
        let engine_labels: BTreeMap<String, String> = info
            .labels
            .unwrap_or_default()
            .iter()
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        Ok(NodeDescription {
            // Several agents may share one engine: the node name tells them apart.
            hostname: node.to_string(),
            os: info.os_type.unwrap_or_else(|| "linux".into()),
            architecture: info.architecture.unwrap_or_default(),
            nano_cpus: info.ncpu.unwrap_or(0) * 1_000_000_000,
            memory_bytes: info.mem_total.unwrap_or(0),
            engine_version: info.server_version.unwrap_or_default(),
            engine_labels,
        })
    }

    async fn prepare(&self, run: &TaskRun) -> Result<(), RuntimeError> {
        let name = run.key.container_name();
        if self.client.inspect_container(&name, None).await.is_ok() {
            return Ok(());
        }
        check_bind_sources(run)?;
        for n in &run.networks {
            self.ensure_network(&run.key.namespace, n).await?;
        }
        let mut with_dns = run.clone();
        with_dns.configs.extend(resolv_conf(run));
        let files = self.materialize(&with_dns)?;
        let grace = run
            .task
            .spec
            .template
            .container_spec
            .stop_grace_period
            .as_deref()
            .and_then(|g| flotilla_api::duration::parse_duration(g).ok())
            .unwrap_or(Duration::from_secs(10));
        let body = container_body(run, grace, files);
        let options = CreateContainerOptions {
            name: Some(name),
            ..Default::default()
        };
        match self.client.create_container(Some(options), body).await {
            Ok(_) => self.connect_rest(run).await,
            Err(BollardError::DockerResponseServerError { message, .. }) => {
                Err(RuntimeError::Task(message))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn start(&self, key: &TaskKey) -> Result<(), RuntimeError> {
        match self
            .client
            .start_container(&key.container_name(), None)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status_code(&e) == Some(304) => Ok(()),
            Err(BollardError::DockerResponseServerError { message, .. }) => {
                Err(RuntimeError::Task(message))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn observe(&self, key: &TaskKey) -> Result<Observation, RuntimeError> {
        let c = match self
            .client
            .inspect_container(&key.container_name(), None)
            .await
        {
            Ok(c) => c,
            Err(e) if status_code(&e) == Some(404) => return Ok(Observation::Absent),
            Err(e) => return Err(e.into()),
        };
        let container_id = c.id.unwrap_or_default();
        let state = c.state.unwrap_or_default();
        let health = state.health.and_then(|h| h.status);
        Ok(match state.status {
            Some(ContainerStateStatusEnum::CREATED) | None => Observation::Created { container_id },
            Some(ContainerStateStatusEnum::EXITED) | Some(ContainerStateStatusEnum::DEAD) => {
                Observation::Exited {
                    container_id,
                    exit_code: state.exit_code.unwrap_or(0),
                }
            }
            _ => match health {
                Some(HealthStatusEnum::STARTING) => Observation::Starting { container_id },
                Some(HealthStatusEnum::UNHEALTHY) => Observation::Unhealthy { container_id },
                _ => Observation::Running {
                    container_id,
                    pid: state.pid,
                },
            },
        })
    }

    async fn stop(&self, key: &TaskKey, grace: Duration) -> Result<(), RuntimeError> {
        let options = StopContainerOptions {
            t: Some(grace.as_secs() as i32),
            signal: None,
        };
        match self
            .client
            .stop_container(&key.container_name(), Some(options))
            .await
        {
            Err(e) if !matches!(status_code(&e), Some(304) | Some(404)) => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn remove(&self, key: &TaskKey) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        let removed = self
            .client
            .remove_container(&key.container_name(), Some(options))
            .await;
        if let Err(e) = removed {
            if status_code(&e) != Some(404) {
                return Err(e.into());
            }
        }
        files::remove(&self.secrets, key)
    }

    async fn containers(&self, node: &str) -> Result<Vec<TaskKey>, RuntimeError> {
        let filters = HashMap::from([("label", vec![node_filter(node)])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self.client.list_containers(Some(options)).await?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels?;
                Some(TaskKey {
                    namespace: labels.get(NAMESPACE_LABEL)?.clone(),
                    name: labels.get(TASK_LABEL)?.clone(),
                    uid: labels.get(TASK_UID_LABEL)?.clone(),
                })
            })
            .collect())
    }

    async fn address(&self, key: &TaskKey) -> Option<IpAddr> {
        let c = self
            .client
            .inspect_container(&key.container_name(), None)
            .await
            .ok()?;
        let networks = c.network_settings?.networks?;
        networks
            .values()
            .filter_map(|n| n.ip_address.as_deref())
            .find_map(|ip| ip.parse().ok())
    }

    async fn attachments(&self, key: &TaskKey, networks: &[String]) -> Vec<NetworkAttachment> {
        let inspected = self
            .client
            .inspect_container(&key.container_name(), None)
            .await
            .ok()
            .and_then(|c| c.network_settings?.networks)
            .unwrap_or_default();
        attachments(&key.namespace, networks, &inspected)
    }

    fn poll_interval(&self) -> Duration {
        docker_events::POLL
    }

    fn subscribe(&self, key: &TaskKey) -> Wake {
        self.wakers.subscribe(&key.uid)
    }

    async fn remove_network(&self, namespace: &str, network: &str) {
        let name = network_name(namespace, network);
        docker_attach::detach_standalone(&self.client, &name).await;
        match self.client.remove_network(&name).await {
            Ok(()) => tracing::info!(network = %name, "removed docker network"),
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => tracing::warn!(network = %name, error = %e, "removing docker network"),
        }
    }

    /// The bridge of the network's Docker network (`br-` and the first 12 characters of its id).
    fn has_networks(&self) -> bool {
        true
    }

    async fn network_interface(&self, namespace: &str, network: &str) -> Option<String> {
        let name = network_name(namespace, network);
        let net = self.client.inspect_network(&name, None).await.ok()?;
        let own = net
            .options
            .as_ref()
            .and_then(|o| o.get("com.docker.network.bridge.name").cloned());
        own.or_else(|| Some(format!("br-{}", net.id?.get(..12)?)))
    }
}

/// Labels selecting this node's containers (for cleanup tooling).
pub fn node_filter(node: &str) -> String {
    format!("{NODE_LABEL}={node}")
}
