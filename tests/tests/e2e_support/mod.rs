//! Shared by the end-to-end tests: a [`Cluster`] of the real binaries (built by
//! `flotilla_tests::bins`) in a temp dir, services as Swarm would define them, and polling.
//! Dropping an [`E2e`] kills every process and removes the containers of its Docker agents.

#![allow(dead_code)]

pub mod secrets;

use std::time::Duration;

use flotilla_api::node::NodeState;
use flotilla_api::{SwarmNode, SwarmService, Task, TaskState};
use flotilla_cli::up::{AgentSpec, Cluster, ClusterSpec};
#[allow(unused_imports)]
pub use flotilla_tests::probe::http_get;
use kube::api::ListParams;
use kube::Api;
use serde_json::json;

pub struct E2e {
    pub cluster: Cluster,
    /// After the cluster, before the dir (fields drop in order).
    _logs: LogsOnPanic,
    /// Removed after the cluster.
    _dir: tempfile::TempDir,
}

impl E2e {
    pub async fn start(agents: Vec<AgentSpec>, cm_args: &[&str]) -> anyhow::Result<E2e> {
        let bin_dir = flotilla_tests::bins::workspace_bins().await?;
        let dir = tempfile::tempdir()?;
        let spec = ClusterSpec {
            bin_dir,
            data_dir: dir.path().to_path_buf(),
            port: free_port("127.0.0.1"),
            agents,
            controller_manager_args: cm_args.iter().map(|s| s.to_string()).collect(),
        };
        let cluster = Cluster::start(spec).await?;
        let _logs = LogsOnPanic(dir.path().join("logs"));
        Ok(E2e {
            cluster,
            _logs,
            _dir: dir,
        })
    }

    pub fn services(&self) -> Api<SwarmService> {
        Api::namespaced(self.cluster.client(), "default")
    }

    pub fn tasks(&self) -> Api<Task> {
        Api::namespaced(self.cluster.client(), "default")
    }

    /// The tasks of `service` (label `flotilla.dev/service`).
    pub async fn tasks_of(&self, service: &str) -> Vec<Task> {
        let lp =
            ListParams::default().labels(&format!("{}={service}", flotilla_api::SERVICE_LABEL));
        self.tasks()
            .list(&lp)
            .await
            .map(|l| l.items)
            .unwrap_or_default()
    }

    /// Running tasks of `service` that are meant to keep running.
    pub async fn running_tasks(&self, service: &str) -> Vec<Task> {
        let mut tasks = self.tasks_of(service).await;
        tasks.retain(|t| {
            state_of(t) == TaskState::Running && t.spec.desired_state == TaskState::Running
        });
        tasks
    }

    /// Waits until the service's status shows `want` running replicas and that many tasks
    /// run, failing with the processes' state when a component died.
    pub async fn wait_running(
        &mut self,
        service: &str,
        want: usize,
        timeout: Duration,
    ) -> Vec<Task> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Err(e) = self.cluster.check() {
                panic!("a component died: {e:#}");
            }
            let running = self.running_tasks(service).await;
            let status = self
                .services()
                .get(service)
                .await
                .ok()
                .and_then(|s| s.status)
                .and_then(|s| s.running_replicas)
                .unwrap_or(0);
            if running.len() == want && status == want as i64 {
                return running;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{service}: {} running tasks, status {status}, want {want} after {timeout:?}",
                running.len()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A failing test prints the end of every component's log before its temp dir goes, so CI
/// shows why (the logs are otherwise removed with the dir).
struct LogsOnPanic(std::path::PathBuf);

impl Drop for LogsOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let tail = flotilla_cli::up::tail(&path, 40);
                eprintln!("──── last lines of {} ────\n{tail}", path.display());
            }
        }
    }
}

/// Builds the `flotilla up` example image; None (reason printed) when Docker cannot run it.
pub fn web_image() -> Option<tempfile::TempDir> {
    if !flotilla_cli::up::image::docker_available() {
        println!("SKIP: `docker info` failed: no Docker engine to run containers on");
        return None;
    }
    if !std::path::Path::new("/bin/busybox").exists() {
        println!("SKIP: /bin/busybox missing (scripts/prereqs.sh installs busybox-static)");
        return None;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    flotilla_cli::up::image::ensure_web_image(dir.path()).expect("building the example image");
    Some(dir)
}

pub fn state_of(task: &Task) -> TaskState {
    task.status
        .as_ref()
        .and_then(|s| s.state)
        .unwrap_or(TaskState::New)
}

pub fn container_of(task: &Task) -> Option<String> {
    task.status
        .as_ref()?
        .container_status
        .as_ref()?
        .container_id
        .clone()
}

/// A port free on 127.0.0.1 and on every node address 127.0.0.2 … 127.0.0.(1+nodes).
pub fn free_port_on_nodes(nodes: u8) -> u16 {
    loop {
        let port = free_port("127.0.0.2");
        let free = (1..=nodes + 1)
            .all(|i| std::net::TcpListener::bind((format!("127.0.0.{i}").as_str(), port)).is_ok());
        if free {
            return port;
        }
    }
}

pub fn free_port(addr: &str) -> u16 {
    std::net::TcpListener::bind((addr, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A replicated service of `image` with a restart delay of 1 s; `port` published on the
/// routing mesh to target port 80, `secret` mounted at /run/secrets/<secret>.
pub fn replicated(
    name: &str,
    image: &str,
    replicas: i64,
    port: Option<u16>,
    secret: Option<&str>,
) -> SwarmService {
    let mut svc = service(
        name,
        image,
        json!({ "replicated": { "replicas": replicas } }),
    );
    if let Some(port) = port {
        svc["spec"]["endpoint"] = json!({ "ports": [{ "targetPort": 80, "publishedPort": port }] });
    }
    if let Some(secret) = secret {
        svc["spec"]["taskTemplate"]["containerSpec"]["secrets"] = json!([{ "secretName": secret }]);
    }
    serde_json::from_value(svc).expect("a valid SwarmService")
}

/// A global service of `image`: one task on every node.
pub fn global(name: &str, image: &str) -> SwarmService {
    serde_json::from_value(service(name, image, json!({ "global": {} })))
        .expect("a valid SwarmService")
}

fn service(name: &str, image: &str, mode: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "SwarmService",
        "metadata": { "name": name, "namespace": "default" },
        "spec": {
            "mode": mode,
            "taskTemplate": {
                "containerSpec": { "image": image, "stopGracePeriod": "1s" },
                "restartPolicy": { "condition": "any", "delay": "1s" }
            }
        }
    })
}

/// The state a SwarmNode reports (`ready`, `down`, …).
pub async fn node_state(e2e: &E2e, node: &str) -> Option<NodeState> {
    let nodes: Api<SwarmNode> = Api::all(e2e.cluster.client());
    nodes.get(node).await.ok()?.status?.state
}

/// The nodes `tasks` run on, sorted.
pub fn nodes_of(tasks: &[Task]) -> Vec<String> {
    let mut nodes: Vec<String> = tasks
        .iter()
        .filter_map(|t| t.spec.node_name.clone())
        .collect();
    nodes.sort();
    nodes
}

/// Runs `docker args…`; stdout when it succeeded.
pub fn docker(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The bounded poll every agent and e2e test waits with.
pub use flotilla_tests::probe::wait_for;
