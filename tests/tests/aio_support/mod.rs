//! The real `flotilla all-in-one` binary as a child process with a data dir that outlives it:
//! start, kill -9, stop, start again. Shared by the all-in-one restart and crash tests.

#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flotilla_api::{SwarmService, Task, TaskState};
use kube::api::{Api, ListParams, PostParams};

const READY: Duration = Duration::from_secs(60);

/// A free loopback port (kept across restarts, so node agents outside the process reconnect).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One run of `flotilla all-in-one` over `dir`.
pub struct AioProcess {
    child: Child,
    pub kubeconfig: PathBuf,
}

impl AioProcess {
    /// Starts the binary and waits until its api-server answers with its admin kubeconfig.
    pub async fn start(bins: &Path, dir: &Path, port: u16, extra: &[&str]) -> AioProcess {
        let kubeconfig = dir.join("kubeconfig");
        let _ = std::fs::remove_file(&kubeconfig);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("aio.log"))
            .unwrap();
        let child = Command::new(bins.join("flotilla"))
            .arg("all-in-one")
            .arg("--data-dir")
            .arg(dir)
            .args(["--port", &port.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("flotilla all-in-one starts");
        let mut aio = AioProcess { child, kubeconfig };
        aio.wait_ready(dir).await;
        aio
    }

    async fn wait_ready(&mut self, dir: &Path) {
        let deadline = tokio::time::Instant::now() + READY;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.join("aio.log")).unwrap_or_default();
                panic!("all-in-one exited with {status} before serving:\n{log}");
            }
            if self.kubeconfig.exists() {
                if let Ok(client) = self.try_client().await {
                    let api: Api<Task> = Api::all(client);
                    if api.list(&ListParams::default().limit(1)).await.is_ok() {
                        return;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "all-in-one did not serve within {READY:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn try_client(&self) -> anyhow::Result<kube::Client> {
        Ok(flotilla_component::client_from_kubeconfig(Some(&self.kubeconfig)).await?)
    }

    pub async fn client(&self) -> kube::Client {
        self.try_client().await.expect("admin client")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(mut self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(tokio::time::Instant::now() < deadline, "no exit on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for AioProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn web(name: &str, replicas: i64) -> SwarmService {
    serde_yaml_ng::from_str(&flotilla_tests::fixtures::web(name, replicas)).unwrap()
}

pub async fn create_service(client: kube::Client, name: &str, replicas: i64) {
    let api: Api<SwarmService> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &web(name, replicas))
        .await
        .expect("service created");
}

/// The tasks of `service` that should run, by name: (uid, node, container id, state).
pub type Running = BTreeMap<String, (String, String, String, TaskState)>;

pub async fn desired_running(client: kube::Client, service: &str) -> Running {
    let api: Api<Task> = Api::namespaced(client, "default");
    let tasks = api.list(&ListParams::default()).await.expect("tasks list");
    tasks
        .items
        .into_iter()
        .filter(|t| t.spec.service_name == service && t.spec.desired_state == TaskState::Running)
        .map(|t| {
            let status = t.status.unwrap_or_default();
            let container = status
                .container_status
                .and_then(|c| c.container_id)
                .unwrap_or_default();
            let value = (
                t.metadata.uid.unwrap_or_default(),
                t.spec.node_name.unwrap_or_default(),
                container,
                status.state.unwrap_or_default(),
            );
            (t.metadata.name.unwrap_or_default(), value)
        })
        .collect()
}

/// Waits until exactly `replicas` tasks of `service` should run and all of them do; returns them.
pub async fn converged(client: kube::Client, service: &str, replicas: usize) -> Running {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let tasks = desired_running(client.clone(), service).await;
        let running = tasks.values().filter(|t| t.3 == TaskState::Running).count();
        if tasks.len() == replicas && running == replicas {
            return tasks;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{service} did not converge to {replicas} running tasks: {tasks:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
