//! Shared by the controller_* tests: a real api-server over real etcd, the controller-manager
//! running in-process as its own identity, SwarmNodes, and a fake agent that drives task status.

#![allow(dead_code)]

pub mod timeline;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flotilla_api::node::{NodeAvailability, NodeState};
use flotilla_api::{SwarmNode, SwarmNodeSpec, SwarmService, Task, TaskState};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::time::Instant;

pub const NS: &str = "default";

/// Image that makes the fake agent fail the task right after starting it.
pub const FAILING_IMAGE: &str = "flotilla/fail:latest";

/// Image whose tasks the fake agent completes (exit 0) after [`JOB_RUN_TIME`] running.
pub const JOB_IMAGE: &str = "flotilla/job:latest";

/// How long a task of [`JOB_IMAGE`] runs before it completes.
pub const JOB_RUN_TIME: Duration = Duration::from_millis(500);

/// A replicated SwarmService manifest; `extra` is appended under `spec` (indent 2).
pub fn service_yaml(name: &str, replicas: i64, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: SwarmService\nmetadata:\n  name: {name}\nspec:\n  mode:\n    replicated:\n      replicas: {replicas}\n  taskTemplate:\n    containerSpec:\n      image: {image}\n{extra}"
    )
}

pub struct Cluster {
    pub server: TestApiServer,
    pub admin: Client,
    stop_cm: Option<oneshot::Sender<()>>,
    stop_agent: Option<oneshot::Sender<()>>,
    /// Task name → when the agent first saw it desired RUNNING.
    pub started: Arc<Mutex<HashMap<String, Instant>>>,
    /// Nodes whose heartbeat Lease the fake agent renews (every 300 ms).
    heartbeats: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_cm.take().map(|s| s.send(()));
        self.stop_agent.take().map(|s| s.send(()));
    }
}

impl Cluster {
    /// Api-server over etcd, `nodes` Ready and active, the controller-manager and the fake agent.
    pub async fn start(nodes: &[&str]) -> Cluster {
        Cluster::start_with(
            nodes,
            flotilla_controller_manager::Options::default(),
            false,
        )
        .await
    }

    /// [`Cluster::start`] with these controller-manager options; with `scheduler`, the real
    /// scheduler (in-process, its own identity) places tasks instead of the fake agent.
    pub async fn start_with(
        nodes: &[&str],
        opts: flotilla_controller_manager::Options,
        scheduler: bool,
    ) -> Cluster {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let server = TestApiServer::with_etcd().await.unwrap();
        let admin = server.client().await.unwrap();
        let cm_config = server
            .kubeconfig_for("system:flotilla-controller-manager", &[])
            .unwrap();
        let cm = client_from(&cm_config).await.unwrap();
        let (stop_cm, stopped) = oneshot::channel::<()>();
        let sched = match scheduler {
            true => {
                let config = server
                    .kubeconfig_for("system:flotilla-scheduler", &[])
                    .unwrap();
                Some(client_from(&config).await.unwrap())
            }
            false => None,
        };
        tokio::spawn(async move {
            let cm = flotilla_controller_manager::run(cm, opts, std::future::pending());
            let sched = async move {
                match sched {
                    Some(client) => {
                        let options = flotilla_scheduler::Options::default();
                        flotilla_scheduler::run(client, options, std::future::pending::<()>()).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = cm => done.unwrap(),
                done = sched => done.unwrap(),
                _ = stopped => {}
            }
        });
        let mut cluster = Cluster {
            server,
            admin,
            stop_cm: Some(stop_cm),
            stop_agent: None,
            started: Default::default(),
            heartbeats: Default::default(),
        };
        for n in nodes {
            cluster.add_node(n).await;
        }
        let (stop_agent, agent_stopped) = oneshot::channel::<()>();
        let (admin, started) = (cluster.admin.clone(), cluster.started.clone());
        let heartbeats = cluster.heartbeats.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = fake_agent(admin.clone(), started, !scheduler) => {}
                _ = renew_leases(admin, heartbeats) => {}
                _ = agent_stopped => {}
            }
        });
        cluster.stop_agent = Some(stop_agent);
        cluster
    }

    /// Registers a Ready, active SwarmNode whose heartbeat Lease the fake agent renews.
    pub async fn add_node(&self, name: &str) {
        let nodes: Api<SwarmNode> = Api::all(self.admin.clone());
        let node = SwarmNode::new(
            name,
            SwarmNodeSpec {
                availability: Some(NodeAvailability::Active),
                role: None,
            },
        );
        nodes.create(&PostParams::default(), &node).await.unwrap();
        self.node_status(name, NodeState::Ready).await;
        self.heartbeats.lock().unwrap().insert(name.to_string());
    }

    /// The node's agent stops (`false`) or resumes (`true`) renewing its heartbeat Lease.
    pub fn heartbeat(&self, name: &str, on: bool) {
        let mut beating = self.heartbeats.lock().unwrap();
        if on {
            beating.insert(name.to_string());
        } else {
            beating.remove(name);
        }
    }

    /// `kubectl patch snode <name> --type=merge -p <spec>` (availability, role).
    pub async fn patch_node(&self, name: &str, patch: serde_json::Value) {
        let nodes: Api<SwarmNode> = Api::all(self.admin.clone());
        nodes
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }

    pub async fn node(&self, name: &str) -> SwarmNode {
        let nodes: Api<SwarmNode> = Api::all(self.admin.clone());
        nodes.get(name).await.unwrap()
    }

    pub async fn node_status(&self, name: &str, state: NodeState) {
        let nodes: Api<SwarmNode> = Api::all(self.admin.clone());
        let patch = json!({"status": {"state": state}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }

    pub fn services(&self) -> Api<SwarmService> {
        Api::namespaced(self.admin.clone(), NS)
    }

    pub fn tasks(&self) -> Api<Task> {
        Api::namespaced(self.admin.clone(), NS)
    }

    pub async fn create_service(&self, yaml: &str) -> SwarmService {
        let svc: SwarmService = serde_yaml_ng::from_str(yaml).unwrap();
        self.services()
            .create(&PostParams::default(), &svc)
            .await
            .unwrap()
    }

    /// Tasks of `service`, by slot then name.
    pub async fn tasks_of(&self, service: &str) -> Vec<Task> {
        let lp = ListParams::default().labels(&format!("flotilla.dev/service={service}"));
        let mut tasks = self.tasks().list(&lp).await.unwrap().items;
        tasks.sort_by_key(|t| {
            (
                t.spec.slot,
                t.metadata.creation_timestamp.clone().map(|t| t.0),
                t.name_any(),
            )
        });
        tasks
    }

    /// Polls `check` every 100 ms until it returns Some, or panics after `secs` with `what`.
    pub async fn eventually<T, F, Fut>(&self, secs: u64, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        flotilla_tests::probe::wait_for(what, Duration::from_secs(secs), check).await
    }
}

pub fn observed(t: &Task) -> TaskState {
    t.status
        .as_ref()
        .and_then(|s| s.state)
        .unwrap_or(TaskState::New)
}

pub fn running_slots(tasks: &[Task]) -> Vec<i64> {
    let mut slots: Vec<i64> = tasks
        .iter()
        .filter(|t| observed(t) == TaskState::Running && t.spec.desired_state == TaskState::Running)
        .filter_map(|t| t.spec.slot)
        .collect();
    slots.sort();
    slots
}

/// Renews the heartbeat Lease of every node in `beating`, as node agents do.
async fn renew_leases(admin: Client, beating: Arc<Mutex<HashSet<String>>>) {
    loop {
        let nodes: Vec<String> = beating.lock().unwrap().iter().cloned().collect();
        for node in nodes {
            if let Err(e) = flotilla_node_agent::node::renew_lease(&admin, &node, 15).await {
                tracing::warn!(error = %e, "renewing a fake node's Lease");
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Binds Pending tasks round-robin over ready active nodes (the scheduler's job, if `bind`), and plays the
/// agent on every node: ASSIGNED → RUNNING when desired RUNNING (then FAILED for the failing
/// image), READY when desired READY, SHUTDOWN when desired ≥ SHUTDOWN. Job tasks (desired COMPLETE)
/// run the same way; tasks of the job image complete after running for [`JOB_RUN_TIME`].
async fn fake_agent(admin: Client, started: Arc<Mutex<HashMap<String, Instant>>>, bind: bool) {
    let tasks: Api<Task> = Api::namespaced(admin.clone(), NS);
    let nodes: Api<SwarmNode> = Api::all(admin.clone());
    let mut next = 0usize;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (Ok(all), Ok(node_list)) = (
            tasks.list(&ListParams::default()).await,
            nodes.list(&ListParams::default()).await,
        ) else {
            continue;
        };
        let usable: Vec<String> = node_list
            .items
            .iter()
            .filter(|n| n.spec.availability != Some(NodeAvailability::Drain))
            .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(NodeState::Ready))
            .map(|n| n.name_any())
            .collect();
        let down: Vec<String> = node_list
            .items
            .iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(NodeState::Down))
            .map(|n| n.name_any())
            .collect();
        for t in all.items {
            let name = t.name_any();
            let state = observed(&t);
            let bound = t.spec.node_name.clone();
            if bind
                && state == TaskState::Pending
                && t.spec.desired_state <= TaskState::Complete
                && !usable.is_empty()
            {
                let node = bound.unwrap_or_else(|| {
                    next += 1;
                    usable[next % usable.len()].clone()
                });
                let body = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "SwarmNode", "name": node}});
                let _ = tasks
                    .create_subresource::<serde_json::Value, serde_json::Value>(
                        "binding",
                        &name,
                        &PostParams::default(),
                        &body,
                    )
                    .await;
                continue;
            }
            let Some(node) = bound else { continue };
            if down.contains(&node) || state < TaskState::Assigned || state.is_terminal() {
                continue;
            }
            let runs = matches!(
                t.spec.desired_state,
                TaskState::Running | TaskState::Complete
            );
            let next_state = if t.spec.desired_state >= TaskState::Shutdown {
                Some((TaskState::Shutdown, "shutdown", None))
            } else if runs && state < TaskState::Running {
                started
                    .lock()
                    .unwrap()
                    .entry(name.clone())
                    .or_insert_with(Instant::now);
                Some((TaskState::Running, "started", None))
            } else if runs && t.spec.template.container_spec.image == FAILING_IMAGE {
                Some((
                    TaskState::Failed,
                    "started",
                    Some("task: non-zero exit (1)"),
                ))
            } else if runs && t.spec.template.container_spec.image == JOB_IMAGE {
                let since = started.lock().unwrap().get(&name).copied();
                since
                    .is_some_and(|s| s.elapsed() >= JOB_RUN_TIME)
                    .then_some((TaskState::Complete, "finished", None))
            } else if t.spec.desired_state == TaskState::Ready && state < TaskState::Ready {
                Some((TaskState::Ready, "prepared", None))
            } else {
                None
            };
            if let Some((s, msg, err)) = next_state {
                let patch = json!({"status": {"state": s, "message": msg, "err": err, "timestamp": k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now())}});
                let _ = tasks
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await;
            }
        }
    }
}
