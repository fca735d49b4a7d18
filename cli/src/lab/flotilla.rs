//! Flotilla's split control plane for an experiment: etcd, api-server, scheduler,
//! controller-manager and Docker-runtime node agents as separate processes, started through
//! `flotilla up`'s [`Cluster`] in a fresh data directory, stopped (containers removed) after.

use std::time::Duration;

use flotilla_api::{SwarmService, Task, TaskState, SERVICE_LABEL};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use super::system::{ServiceSpec, System, STOP_GRACE};
use crate::up::{AgentSpec, Cluster, ClusterSpec, Procs, Runtime};

/// A running Flotilla: the split control plane, or the all-in-one process with one agent.
pub struct Flotilla {
    backend: Backend,
    client: kube::Client,
    // Holds the data directory until the processes are gone.
    _dir: tempfile::TempDir,
}

enum Backend {
    Split(Box<Cluster>),
    /// `flotilla all-in-one` and one `flotilla-node-agent` as child processes.
    AllInOne(Procs),
}

/// A free TCP port on loopback for the api-server.
pub(crate) use crate::up::setup::free_port;

/// The directory holding this `flotilla` binary and its siblings (`flotilla-api-server`, …).
pub fn bin_dir() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().map(|p| p.to_path_buf()).unwrap_or_default())
}

impl Flotilla {
    /// Starts a cluster with `agents` Docker-runtime node agents (`lab-1`, …) over one etcd
    /// member, or over `etcd_servers` when given.
    pub async fn start(agents: u8, etcd_servers: Option<String>) -> anyhow::Result<Flotilla> {
        let dir = tempfile::Builder::new().prefix("flotilla-lab").tempdir()?;
        let spec = ClusterSpec {
            bin_dir: bin_dir()?,
            data_dir: dir.path().to_path_buf(),
            port: free_port()?,
            agents: AgentSpec::numbered("lab", agents, Runtime::Docker),
            controller_manager_args: vec![],
        };
        let cluster = Cluster::start_on(spec, etcd_servers).await?;
        let client = cluster.client();
        let flotilla = Flotilla {
            backend: Backend::Split(Box::new(cluster)),
            client,
            _dir: dir,
        };
        flotilla.wait_nodes(agents as usize).await?;
        Ok(flotilla)
    }

    /// `flotilla all-in-one` (api-server over the embedded store, scheduler and
    /// controller-manager as tasks of one process, Swarm's design) plus one Docker-runtime
    /// agent process joined with the admin kubeconfig.
    pub async fn start_all_in_one() -> anyhow::Result<Flotilla> {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-lab-aio")
            .tempdir()?;
        let data = dir.path();
        let logs = data.join("logs");
        std::fs::create_dir_all(&logs)?;
        let bin = bin_dir()?;
        let mut procs = Procs::default();
        let port = free_port()?.to_string();
        let data_arg = data.display().to_string();
        let aio_args = ["all-in-one", "--port", &port, "--data-dir", &data_arg].map(String::from);
        procs.spawn(
            "flotilla-all-in-one",
            &bin.join("flotilla"),
            &aio_args,
            &logs,
        )?;
        let kubeconfig = data.join("kubeconfig");
        let client = crate::up::wait_for_kubeconfig(&kubeconfig, &mut procs).await?;
        crate::up::wait::api_server(&client, Duration::from_secs(20)).await?;
        let agent_args = [
            format!("--kubeconfig={}", kubeconfig.display()),
            "--node-name=lab-aio".into(),
            "--node-address=127.0.0.2".into(),
            "--runtime=docker".into(),
        ];
        procs.spawn(
            "lab-aio",
            &bin.join("flotilla-node-agent"),
            &agent_args,
            &logs,
        )?;
        let flotilla = Flotilla {
            backend: Backend::AllInOne(procs),
            client,
            _dir: dir,
        };
        flotilla.wait_nodes(1).await?;
        Ok(flotilla)
    }

    async fn wait_nodes(&self, n: usize) -> anyhow::Result<()> {
        let nodes: Api<flotilla_api::SwarmNode> = Api::all(self.client.clone());
        let start = tokio::time::Instant::now();
        loop {
            if nodes.list(&ListParams::default()).await?.items.len() >= n {
                return Ok(());
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(60),
                "{n} nodes did not register within 60s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The split cluster (an error for the all-in-one).
    pub fn cluster(&mut self) -> anyhow::Result<&mut Cluster> {
        match &mut self.backend {
            Backend::Split(c) => Ok(c),
            Backend::AllInOne(_) => anyhow::bail!("the all-in-one has no separate processes"),
        }
    }

    /// Process ids of the control plane and agents, by name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        match &self.backend {
            Backend::Split(c) => c.pids(),
            Backend::AllInOne(p) => p.pids(),
        }
    }

    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    pub async fn shutdown(self) {
        match self.backend {
            Backend::Split(c) => c.shutdown().await,
            Backend::AllInOne(mut p) => {
                p.stop_all(Duration::from_secs(5)).await;
                crate::up::remove_containers(&["lab-aio".to_string()]);
            }
        }
    }

    /// The service's tasks (all states).
    pub async fn tasks(&self, service: &str) -> anyhow::Result<Vec<Task>> {
        let api: Api<Task> = Api::namespaced(self.client.clone(), "default");
        let lp = ListParams::default().labels(&format!("{SERVICE_LABEL}={service}"));
        Ok(api.list(&lp).await?.items)
    }

    /// `kubectl patch swarmnode <node> --type merge -p '{"spec":{"availability":…}}'`.
    pub async fn set_availability(&self, node: &str, availability: &str) -> anyhow::Result<()> {
        let api: Api<flotilla_api::SwarmNode> = Api::all(self.client.clone());
        let patch = json!({"spec": {"availability": availability}});
        api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }
}

/// The SwarmService of a spec, as `kubectl apply` would send it.
pub fn manifest(spec: &ServiceSpec) -> Value {
    let mut svc = json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
        "metadata": {"name": spec.name, "namespace": "default"},
        "spec": {
            "mode": {"replicated": {"replicas": spec.replicas}},
            "taskTemplate": {"containerSpec": {
                "image": super::IMAGE,
                "stopGracePeriod": format!("{}ms", STOP_GRACE.as_millis()),
            }},
        },
    });
    if let Some(d) = spec.restart_delay {
        svc["spec"]["taskTemplate"]["restartPolicy"] =
            json!({"delay": format!("{}ms", d.as_millis())});
    }
    if let Some((parallelism, delay)) = spec.update {
        svc["spec"]["updateConfig"] =
            json!({"parallelism": parallelism, "delay": format!("{}ms", delay.as_millis())});
    }
    svc
}

/// Tasks the node agents report running (what `kubectl get ssvc` counts).
pub fn count_running(tasks: &[Task]) -> usize {
    tasks
        .iter()
        .filter(|t| t.spec.desired_state == TaskState::Running)
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::Running))
        .count()
}

impl System for Flotilla {
    fn name(&self) -> &'static str {
        "flotilla"
    }

    fn container_label(&self, service: &str) -> String {
        format!("{SERVICE_LABEL}={service}")
    }

    async fn create(&mut self, spec: &ServiceSpec) -> anyhow::Result<()> {
        let api: Api<SwarmService> = Api::namespaced(self.client.clone(), "default");
        let svc: SwarmService = serde_json::from_value(manifest(spec))?;
        api.create(&PostParams::default(), &svc).await?;
        Ok(())
    }

    async fn running(&mut self, service: &str) -> anyhow::Result<usize> {
        Ok(count_running(&self.tasks(service).await?))
    }

    async fn update_env(&mut self, service: &str, value: &str) -> anyhow::Result<()> {
        let api: Api<SwarmService> = Api::namespaced(self.client.clone(), "default");
        let env = format!("LAB_VERSION={value}");
        let patch = json!({"spec": {"taskTemplate": {"containerSpec": {"env": [env]}}}});
        api.patch(service, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    async fn update_completed(&mut self, service: &str) -> anyhow::Result<bool> {
        let api: Api<SwarmService> = Api::namespaced(self.client.clone(), "default");
        let svc = api.get(service).await?;
        let state = svc
            .status
            .and_then(|s| s.update_status)
            .and_then(|u| u.state);
        Ok(state == Some(flotilla_api::update::UpdateState::Completed))
    }

    async fn remove(&mut self, service: &str) -> anyhow::Result<()> {
        let api: Api<SwarmService> = Api::namespaced(self.client.clone(), "default");
        api.delete(service, &DeleteParams::default()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_a_valid_swarm_service() {
        let mut spec = ServiceSpec::new("lab-web", 10);
        spec.restart_delay = Some(Duration::ZERO);
        spec.update = Some((2, Duration::from_secs(1)));
        let mut value = manifest(&spec);
        let _: SwarmService = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(value["spec"]["updateConfig"]["delay"], "1000ms");
        assert_eq!(
            value["spec"]["taskTemplate"]["restartPolicy"]["delay"],
            "0ms"
        );
        flotilla_api::default_and_validate("SwarmService", &mut value, None).unwrap();
        assert_eq!(value["spec"]["updateConfig"]["parallelism"], 2);
    }
}
