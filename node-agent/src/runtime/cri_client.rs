//! The CRI connection of [`super::cri::Cri`]: the gRPC channel (a unix socket, as the kubelet's
//! `--container-runtime-endpoint`), and finding a task's sandbox and container by label.

use std::collections::HashMap;

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerFilter, ListContainersRequest, ListPodSandboxRequest, PodSandbox, PodSandboxFilter,
    PodSandboxState, RemovePodSandboxRequest, StopPodSandboxRequest,
};
use tonic::transport::{Channel, Endpoint, Uri};

use super::docker_spec::{NAMESPACE_LABEL, NODE_LABEL, TASK_LABEL, TASK_UID_LABEL};
use super::{RuntimeError, TaskKey};

/// A task's pod sandbox and (once created) its container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    pub sandbox: String,
    pub container: Option<String>,
}

/// `unix:///run/containerd/containerd.sock` (or a bare path): the socket's path.
pub fn socket_path(endpoint: &str) -> Option<&str> {
    if let Some(path) = endpoint.strip_prefix("unix://") {
        return Some(path);
    }
    endpoint.starts_with('/').then_some(endpoint)
}

/// Opens the channel: over the unix socket, or over TCP for an `http://` endpoint.
pub async fn channel(endpoint: &str) -> Result<Channel, RuntimeError> {
    let err = |e: tonic::transport::Error| RuntimeError::Connect {
        endpoint: endpoint.to_string(),
        message: e.to_string(),
    };
    let Some(path) = socket_path(endpoint).map(str::to_string) else {
        return Endpoint::from_shared(endpoint.to_string())
            .map_err(err)?
            .connect()
            .await
            .map_err(err);
    };
    // The URI is a placeholder: every connection goes to the socket.
    Endpoint::from_static("http://[::1]:50051")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .map_err(err)
}

/// The two CRI services over one channel.
#[derive(Clone)]
pub struct Clients {
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl Clients {
    pub fn new(channel: Channel) -> Clients {
        Clients {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }

    /// The sandboxes carrying all `labels`.
    pub async fn sandboxes(
        &self,
        labels: HashMap<String, String>,
    ) -> Result<Vec<PodSandbox>, RuntimeError> {
        let request = ListPodSandboxRequest {
            filter: Some(PodSandboxFilter {
                label_selector: labels,
                ..Default::default()
            }),
        };
        let reply = self.runtime.clone().list_pod_sandbox(request).await?;
        Ok(reply.into_inner().items)
    }

    /// Looks the task's sandbox (a ready one first) and container up by the task-uid label.
    pub async fn find(&self, node: &str, key: &TaskKey) -> Result<Option<Ids>, RuntimeError> {
        let labels = HashMap::from([
            (TASK_UID_LABEL.to_string(), key.uid.clone()),
            (NODE_LABEL.to_string(), node.to_string()),
        ]);
        let mut sandboxes = self.sandboxes(labels).await?;
        sandboxes.sort_by_key(|s| s.state != PodSandboxState::SandboxReady as i32);
        let Some(sandbox) = sandboxes.into_iter().next() else {
            return Ok(None);
        };
        let request = ListContainersRequest {
            filter: Some(ContainerFilter {
                pod_sandbox_id: sandbox.id.clone(),
                ..Default::default()
            }),
        };
        let containers = self.runtime.clone().list_containers(request).await?;
        let container = containers
            .into_inner()
            .containers
            .into_iter()
            .max_by_key(|c| c.created_at)
            .map(|c| c.id);
        Ok(Some(Ids {
            sandbox: sandbox.id,
            container,
        }))
    }
}

/// Stops and removes every pod sandbox at `endpoint` carrying all `labels` (all of them when
/// empty): how a private containerd is emptied before it stops. Returns how many.
pub async fn remove_sandboxes(
    endpoint: &str,
    labels: HashMap<String, String>,
) -> Result<usize, RuntimeError> {
    let clients = Clients::new(channel(endpoint).await?);
    let sandboxes = clients.sandboxes(labels).await?;
    for s in &sandboxes {
        let id = s.id.clone();
        let stop = StopPodSandboxRequest {
            pod_sandbox_id: id.clone(),
        };
        let _ = clients.runtime.clone().stop_pod_sandbox(stop).await;
        let remove = RemovePodSandboxRequest { pod_sandbox_id: id };
        match clients.runtime.clone().remove_pod_sandbox(remove).await {
            Err(s) if s.code() != tonic::Code::NotFound => return Err(s.into()),
            _ => {}
        }
    }
    Ok(sandboxes.len())
}

/// Ids of the pod sandboxes at `endpoint` carrying all `labels` (any state).
pub async fn sandbox_ids(
    endpoint: &str,
    labels: HashMap<String, String>,
) -> Result<Vec<String>, RuntimeError> {
    let clients = Clients::new(channel(endpoint).await?);
    let sandboxes = clients.sandboxes(labels).await?;
    Ok(sandboxes.into_iter().map(|s| s.id).collect())
}

/// The task a sandbox belongs to, from its labels.
pub fn key_of(sandbox: &PodSandbox) -> Option<TaskKey> {
    let labels = &sandbox.labels;
    Some(TaskKey {
        namespace: labels.get(NAMESPACE_LABEL)?.clone(),
        name: labels.get(TASK_LABEL)?.clone(),
        uid: labels.get(TASK_UID_LABEL)?.clone(),
    })
}

/// `MemTotal` of /proc/meminfo, in bytes.
pub fn mem_total(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_a_socket_or_a_tcp_address() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock"),
            Some("/run/containerd/containerd.sock")
        );
        assert_eq!(socket_path("/tmp/c.sock"), Some("/tmp/c.sock"));
        assert_eq!(socket_path("http://127.0.0.1:1234"), None);
    }

    #[test]
    fn mem_total_is_read_in_bytes() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n";
        assert_eq!(mem_total(meminfo), Some(24576000 * 1024));
        assert_eq!(mem_total("nothing"), None);
    }
}
