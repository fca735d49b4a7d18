//! Healthchecks on the CRI runtime. Docker runs a container's healthcheck inside the engine; CRI
//! has no such thing (the kubelet probes), so the agent probes: it runs the check with ExecSync
//! every interval and keeps Docker's status rules ([`Tracker`]), which [`super::cri`] reports as
//! Starting / Running / Unhealthy observations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flotilla_api::container::HealthConfig;
use flotilla_api::duration::parse_duration;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::ExecSyncRequest;
use tokio::task::AbortHandle;
use tonic::transport::Channel;

use super::cri_spec::HEALTH_ANNOTATION;
use super::TaskKey;

/// Docker's defaults for fields a healthcheck leaves out.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;

/// How to probe one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

fn duration(d: Option<&String>, default: Duration) -> Duration {
    d.and_then(|d| parse_duration(d).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

/// The probe of a Swarm healthcheck: `["CMD", args…]` runs args, `["CMD-SHELL", cmd]` runs
/// `/bin/sh -c cmd`; `["NONE"]` and `[]` (inherit the image's, which CRI does not expose) probe
/// nothing.
pub fn probe_of(h: &HealthConfig) -> Option<Probe> {
    let cmd = match h.test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
        Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
            vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
        }
        _ => return None,
    };
    Some(Probe {
        cmd,
        interval: duration(h.interval.as_ref(), DEFAULT_INTERVAL),
        timeout: duration(h.timeout.as_ref(), DEFAULT_TIMEOUT),
        retries: h
            .retries
            .filter(|r| *r > 0)
            .map(|r| r as u32)
            .unwrap_or(DEFAULT_RETRIES),
        start_period: duration(h.start_period.as_ref(), Duration::ZERO),
    })
}

/// A container's health, as Docker names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

/// Docker's rules: a pass makes the container healthy and resets the streak; a failure while
/// still starting inside the start period does not count; `retries` failures in a row make it
/// unhealthy.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    pub status: Health,
    failing: u32,
}

impl Tracker {
    pub fn record(&mut self, passed: bool, in_start_period: bool, retries: u32) -> Health {
        if passed {
            self.failing = 0;
            self.status = Health::Healthy;
        } else if !(self.status == Health::Starting && in_start_period) {
            self.failing += 1;
            if self.failing >= retries {
                self.status = Health::Unhealthy;
            }
        }
        self.status
    }
}

/// The probing loop of one container; the caller aborts it when the container stops.
pub async fn monitor(
    mut client: RuntimeServiceClient<Channel>,
    container_id: String,
    probe: Probe,
    state: Arc<Mutex<Health>>,
) {
    let started = tokio::time::Instant::now();
    let mut tracker = Tracker::default();
    loop {
        tokio::time::sleep(probe.interval).await;
        let request = ExecSyncRequest {
            container_id: container_id.clone(),
            cmd: probe.cmd.clone(),
            timeout: probe.timeout.as_secs().max(1) as i64,
        };
        let bound = probe.timeout + Duration::from_secs(1);
        let passed = match tokio::time::timeout(bound, client.exec_sync(request)).await {
            Ok(Ok(reply)) => reply.into_inner().exit_code == 0,
            Ok(Err(status)) if status.code() == tonic::Code::NotFound => return,
            _ => false,
        };
        let in_start = started.elapsed() < probe.start_period;
        let health = tracker.record(passed, in_start, probe.retries);
        *state.lock().unwrap_or_else(|e| e.into_inner()) = health;
    }
}

struct Monitor {
    health: Arc<Mutex<Health>>,
    task: AbortHandle,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The probing loops of one node's running containers.
#[derive(Default)]
pub struct Monitors(Mutex<HashMap<TaskKey, Monitor>>);

impl Monitors {
    /// Starts probing a running container whose config carries a healthcheck (once; also for
    /// a container adopted after an agent restart, since the check travels in an annotation).
    pub fn ensure(
        &self,
        key: &TaskKey,
        client: &RuntimeServiceClient<Channel>,
        container_id: &str,
        annotations: &HashMap<String, String>,
    ) {
        let Some(probe) = annotations
            .get(HEALTH_ANNOTATION)
            .and_then(|json| serde_json::from_str(json).ok())
            .and_then(|h| probe_of(&h))
        else {
            return;
        };
        let mut monitors = lock(&self.0);
        if monitors.contains_key(key) {
            return;
        }
        let health = Arc::new(Mutex::new(Health::Starting));
        let run = monitor(
            client.clone(),
            container_id.to_string(),
            probe,
            health.clone(),
        );
        let task = tokio::spawn(run).abort_handle();
        monitors.insert(key.clone(), Monitor { health, task });
    }

    /// The container's health, when it is probed.
    pub fn health(&self, key: &TaskKey) -> Option<Health> {
        lock(&self.0).get(key).map(|m| *lock(&m.health))
    }

    /// Stops probing (the container stopped or went).
    pub fn stop(&self, key: &TaskKey) {
        if let Some(m) = lock(&self.0).remove(key) {
            m.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: test.iter().map(|s| s.to_string()).collect(),
            interval: Some("2s".into()),
            ..Default::default()
        }
    }

    #[test]
    fn cmd_and_cmd_shell_become_exec_commands_with_docker_defaults() {
        let p = probe_of(&check(&["CMD", "/bin/busybox", "true"])).unwrap();
        assert_eq!(p.cmd, vec!["/bin/busybox", "true"]);
        assert_eq!(p.interval, Duration::from_secs(2));
        assert_eq!((p.timeout, p.retries), (DEFAULT_TIMEOUT, 3));
        let p = probe_of(&check(&["CMD-SHELL", "test -f /ok"])).unwrap();
        assert_eq!(p.cmd, vec!["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(probe_of(&check(&["NONE"])), None);
        assert_eq!(probe_of(&check(&[])), None);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_until_the_first_pass() {
        let mut t = Tracker::default();
        for _ in 0..5 {
            assert_eq!(t.record(false, true, 2), Health::Starting);
        }
        assert_eq!(t.record(true, true, 2), Health::Healthy);
        // Once healthy, failures count even inside the start period.
        assert_eq!(t.record(false, true, 2), Health::Healthy);
        assert_eq!(t.record(false, true, 2), Health::Unhealthy);
        assert_eq!(t.record(true, false, 2), Health::Healthy);
    }

    #[test]
    fn retries_failures_in_a_row_make_it_unhealthy() {
        let mut t = Tracker::default();
        assert_eq!(t.record(false, false, 3), Health::Starting);
        assert_eq!(t.record(false, false, 3), Health::Starting);
        assert_eq!(t.record(true, false, 3), Health::Healthy);
        assert_eq!(t.record(false, false, 3), Health::Healthy);
        assert_eq!(t.record(false, false, 3), Health::Healthy);
        assert_eq!(t.record(false, false, 3), Health::Unhealthy);
    }
}
