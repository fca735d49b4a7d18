//! A kwok-style runtime: containers are entries in memory, each operation takes `latency`.
//! One process can host many simulated nodes (one `Simulated` per node).
//!
//! Failure injection, for tests and benchmarks: an image listed in `reject_images` fails to prepare
//! (→ Rejected), one in `fail_images` fails to start (→ Failed). A task whose env has
//! `FLOTILLA_SIM_RUN_FOR=<duration>` exits after that long with `FLOTILLA_SIM_EXIT_CODE` (default 0).
//! Simulated containers have no address unless `address` gives one: then the routing mesh forwards
//! to that address, where a test runs the server the tasks stand for.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{NodeDescription, Runtime, RuntimeError, TaskKey, TaskRun};
use crate::decide::Observation;

/// Behaviour of the simulated engine.
#[derive(Clone, Debug)]
pub struct SimulatedConfig {
    /// Time each prepare/start/stop takes.
    pub latency: Duration,
    pub nano_cpus: i64,
    pub memory_bytes: i64,
    pub reject_images: Vec<String>,
    pub fail_images: Vec<String>,
    /// The address every running container reports to the routing mesh.
    pub address: Option<IpAddr>,
}

impl Default for SimulatedConfig {
    fn default() -> Self {
        SimulatedConfig {
            latency: Duration::from_millis(50),
            nano_cpus: 4_000_000_000,
            memory_bytes: 8 << 30,
            reject_images: Vec::new(),
            fail_images: Vec::new(),
            address: None,
        }
    }
}

#[derive(Clone, Debug)]
enum Phase {
    Created,
    Running { since: Instant },
    Exited(i64),
}

#[derive(Clone, Debug)]
struct Container {
    id: String,
    image: String,
    phase: Phase,
    run_for: Option<Duration>,
    exit_code: i64,
}

/// One simulated node's engine.
#[derive(Debug, Default)]
pub struct Simulated {
    config: SimulatedConfig,
    containers: Mutex<HashMap<TaskKey, Container>>,
}

impl Simulated {
    pub fn new(config: SimulatedConfig) -> Simulated {
        Simulated {
            config,
            containers: Mutex::new(HashMap::new()),
        }
    }

    /// Number of containers (any phase) this engine holds.
    pub fn container_count(&self) -> usize {
        self.lock().len()
    }

    /// Number of containers currently running on this engine.
    pub fn running_count(&self) -> usize {
        let containers = self.lock();
        containers
            .values()
            .filter(|c| matches!(c.phase, Phase::Running { .. }))
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TaskKey, Container>> {
        // A poisoned map only means a panic elsewhere; the data is still consistent.
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<T>(&self, key: &TaskKey, f: impl FnOnce(&mut Container) -> T) -> Option<T> {
        self.lock().get_mut(key).map(f)
    }
}

fn env_value<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter()
        .find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

#[async_trait]
impl Runtime for Simulated {
    async fn describe(&self, node: &str) -> Result<NodeDescription, RuntimeError> {
        Ok(NodeDescription {
            hostname: node.to_string(),
            os: "linux".into(),
            architecture: "x86_64".into(),
            nano_cpus: self.config.nano_cpus,
            memory_bytes: self.config.memory_bytes,
            engine_version: "simulated".into(),
            engine_labels: BTreeMap::from([("flotilla.dev/runtime".into(), "simulated".into())]),
        })
    }

    async fn prepare(&self, run: &TaskRun) -> Result<(), RuntimeError> {
        tokio::time::sleep(self.config.latency).await;
        let spec = &run.task.spec.template.container_spec;
        if self.config.reject_images.contains(&spec.image) {
            return Err(RuntimeError::Task(format!(
                "No such image: {} (simulated)",
                spec.image
            )));
        }
        let run_for = match env_value(&spec.env, "FLOTILLA_SIM_RUN_FOR") {
            Some(d) => Some(
                flotilla_api::duration::parse_duration(d)
                    .map_err(|e| RuntimeError::Task(format!("env FLOTILLA_SIM_RUN_FOR: {e}")))?,
            ),
            None => None,
        };
        let exit_code = env_value(&spec.env, "FLOTILLA_SIM_EXIT_CODE")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let container = Container {
            id: format!("sim-{}", run.key.container_name()),
            image: spec.image.clone(),
            phase: Phase::Created,
            run_for,
            exit_code,
        };
        self.lock().entry(run.key.clone()).or_insert(container);
        Ok(())
    }

    async fn start(&self, key: &TaskKey) -> Result<(), RuntimeError> {
        tokio::time::sleep(self.config.latency).await;
        let fail = self.config.fail_images.clone();
        self.with(key, |c| {
            if fail.contains(&c.image) {
                c.phase = Phase::Exited(128);
                return Err(RuntimeError::Task(format!(
                    "starting container failed: {} (simulated)",
                    c.image
                )));
            }
            if matches!(c.phase, Phase::Created) {
                c.phase = Phase::Running {
                    since: Instant::now(),
                };
            }
            Ok(())
        })
        .unwrap_or_else(|| Err(RuntimeError::Task("No such container (simulated)".into())))
    }

    async fn observe(&self, key: &TaskKey) -> Result<Observation, RuntimeError> {
        let obs = self.with(key, |c| {
            if let (Phase::Running { since }, Some(run_for)) = (&c.phase, c.run_for) {
                if since.elapsed() >= run_for {
                    c.phase = Phase::Exited(c.exit_code);
                }
            }
            let container_id = c.id.clone();
            match c.phase {
                Phase::Created => Observation::Created { container_id },
                Phase::Running { .. } => Observation::Running {
                    container_id,
                    pid: None,
                },
                Phase::Exited(exit_code) => Observation::Exited {
                    container_id,
                    exit_code,
                },
            }
        });
        Ok(obs.unwrap_or(Observation::Absent))
    }

    async fn stop(&self, key: &TaskKey, _grace: Duration) -> Result<(), RuntimeError> {
        tokio::time::sleep(self.config.latency).await;
        self.with(key, |c| {
            if !matches!(c.phase, Phase::Exited(_)) {
                c.phase = Phase::Exited(137);
            }
        });
        Ok(())
    }

    async fn remove(&self, key: &TaskKey) -> Result<(), RuntimeError> {
        self.lock().remove(key);
        Ok(())
    }

    async fn containers(&self, _node: &str) -> Result<Vec<TaskKey>, RuntimeError> {
        Ok(self.lock().keys().cloned().collect())
    }

    async fn address(&self, key: &TaskKey) -> Option<IpAddr> {
        let running = self.with(key, |c| matches!(c.phase, Phase::Running { .. }));
        self.config.address.filter(|_| running == Some(true))
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(500)
    }
}
