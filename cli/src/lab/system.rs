//! What the experiments do to a system, the same words for Docker Swarm and for Flotilla: create
//! a service, count its running tasks, update it, remove it. Both run their containers on
//! this machine's Docker engine, so the containers of a service are found with `docker ps`
//! by a label each system sets.

use std::process::Command;
use std::time::Duration;

use tokio::time::Instant;

/// The service an experiment creates (the local image `flotilla/web:latest`, no ports, a stop
/// grace period of [`STOP_GRACE`] in both systems).
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub replicas: usize,
    /// `restartPolicy.delay` / `--restart-delay`; `None` keeps the system's default.
    pub restart_delay: Option<Duration>,
    /// `updateConfig` parallelism and delay; `None` keeps the defaults.
    pub update: Option<(usize, Duration)>,
}

impl ServiceSpec {
    pub fn new(name: &str, replicas: usize) -> Self {
        ServiceSpec {
            name: name.into(),
            replicas,
            restart_delay: None,
            update: None,
        }
    }
}

/// `--stop-grace-period` / `stopGracePeriod` of every lab service. busybox httpd runs as PID 1
/// and ignores SIGTERM, so each stop waits out the grace period (10 s by default in both
/// systems); 1 s keeps updates and removals short without favouring either system.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// A system the lab measures. (Used generically: both are known at compile time.)
pub trait System {
    /// `swarm`, `flotilla`, `flotilla-aio`: the name in tables and JSON.
    fn name(&self) -> &'static str;
    /// The container label `key=value` naming a service's containers.
    fn container_label(&self, service: &str) -> String;
    async fn create(&mut self, spec: &ServiceSpec) -> anyhow::Result<()>;
    /// Tasks of the service the system itself reports running (`docker service ls`'s
    /// REPLICAS; Tasks in state Running).
    async fn running(&mut self, service: &str) -> anyhow::Result<usize>;
    /// Changes the task template (an environment variable), starting a rolling update.
    async fn update_env(&mut self, service: &str, value: &str) -> anyhow::Result<()>;
    /// True once the last update completed.
    async fn update_completed(&mut self, service: &str) -> anyhow::Result<bool>;
    async fn remove(&mut self, service: &str) -> anyhow::Result<()>;

    /// Ids of the service's running containers.
    fn containers(&self, service: &str) -> anyhow::Result<Vec<String>> {
        docker_ps(&self.container_label(service))
    }
}

/// `docker ps -q --filter label=<label>`.
pub fn docker_ps(label: &str) -> anyhow::Result<Vec<String>> {
    let out = docker(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label={label}"),
    ])?;
    Ok(out.split_whitespace().map(str::to_string).collect())
}

/// Runs `docker args…`, returning stdout; a failure carries stderr.
pub fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker").args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How often the lab looks.
pub const POLL: Duration = Duration::from_millis(100);

/// Polls `check` every [`POLL`] until it returns true; the seconds since `start`, or an error
/// naming `what` after `timeout`.
pub async fn wait_until<S, F>(
    sys: &mut S,
    what: &str,
    start: Instant,
    timeout: Duration,
    mut check: F,
) -> anyhow::Result<f64>
where
    S: System,
    F: AsyncFnMut(&mut S) -> anyhow::Result<bool>,
{
    loop {
        if check(sys).await? {
            return Ok(start.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            start.elapsed() < timeout,
            "{}: {what} not reached within {timeout:?}",
            sys.name()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Seconds from `start` until the service reports `n` running.
pub async fn wait_running<S: System>(
    sys: &mut S,
    service: &str,
    n: usize,
    start: Instant,
    timeout: Duration,
) -> anyhow::Result<f64> {
    let what = format!("{service} {n}/{n} running");
    wait_until(sys, &what, start, timeout, async |s: &mut S| {
        Ok(s.running(service).await? >= n)
    })
    .await
}

/// Removes the service and waits until its containers are gone, so the next repeat starts
/// clean.
pub async fn remove_and_wait<S: System>(sys: &mut S, service: &str) -> anyhow::Result<()> {
    sys.remove(service).await?;
    let start = Instant::now();
    wait_until(
        sys,
        "containers removed",
        start,
        Duration::from_secs(120),
        async |s: &mut S| Ok(s.containers(service)?.is_empty()),
    )
    .await?;
    Ok(())
}
