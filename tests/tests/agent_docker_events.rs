//! The Docker-runtime agent learns of container exits from the engine's event stream, not by
//! polling (skips with a printed reason when `docker info` fails). The agent talks to the
//! engine through a proxy socket that records each request line: with three tasks running and
//! nothing happening, the agent sends the engine no requests besides its event stream (the old
//! polling agent sent one inspect per task per second). A killed container is still reported
//! Failed with its exit code, well before the slow resync would have noticed it.

mod agent_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use agent_common::docker::{busybox_image, docker, RemoveOnDrop, IMAGE};
use agent_common::*;
use flotilla_api::TaskState;
use flotilla_node_agent::runtime::docker::Docker;
use flotilla_node_agent::AgentConfig;
use flotilla_tests::agent::RunningAgent;
use flotilla_tests::apiserver::{client_from, TestApiServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

const WAIT: Duration = Duration::from_secs(30);
const ENGINE: &str = "/var/run/docker.sock";
const TASKS: usize = 3;
/// How long the agent is watched while nothing changes.
const IDLE: Duration = Duration::from_secs(5);

type Log = Arc<Mutex<Vec<String>>>;

/// Copies the client's bytes to the engine, recording each HTTP request line.
async fn upstream(
    mut from: tokio::net::unix::OwnedReadHalf,
    mut to: tokio::net::unix::OwnedWriteHalf,
    log: Log,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        const MARK: &[u8] = b" HTTP/1.1\r\n";
        while let Some(end) = pending.windows(MARK.len()).position(|w| w == MARK) {
            let start = pending[..end]
                .windows(2)
                .rposition(|w| w == b"\r\n")
                .map_or(0, |p| p + 2);
            let line = String::from_utf8_lossy(&pending[start..end]).into_owned();
            log.lock().unwrap().push(line);
            pending.drain(..end + MARK.len());
        }
        if pending.len() > 64 * 1024 {
            pending.drain(..pending.len() - 1024);
        }
    }
}

/// A Unix socket forwarding to the engine's; returns the log of request lines.
fn recording_proxy(path: &std::path::Path) -> anyhow::Result<Log> {
    let listener = UnixListener::bind(path)?;
    let log: Log = Arc::default();
    let accepted = log.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(engine) = UnixStream::connect(ENGINE).await else {
                continue;
            };
            let (client_r, mut client_w) = client.into_split();
            let (mut engine_r, engine_w) = engine.into_split();
            tokio::spawn(upstream(client_r, engine_w, accepted.clone()));
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut engine_r, &mut client_w).await;
            });
        }
    });
    Ok(log)
}

fn sleeper() -> flotilla_api::template::TaskTemplate {
    let mut t = template(IMAGE);
    t.container_spec.command = vec!["/bin/busybox".into(), "sleep".into(), "3600".into()];
    t.container_spec.stop_grace_period = Some("1s".into());
    t
}

#[tokio::test]
async fn an_idle_agent_does_not_poll_docker_and_still_sees_a_kill() -> anyhow::Result<()> {
    if busybox_image().is_none() || !std::path::Path::new(ENGINE).exists() {
        return Ok(());
    }
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let node = format!("events-{}", std::process::id());
    let _cleanup = RemoveOnDrop(node.clone());
    let node_client =
        client_from(&server.kubeconfig_for(&format!("system:node:{node}"), &["system:nodes"])?)
            .await?;
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("docker.sock");
    let log = recording_proxy(&socket)?;
    let runtime = Docker::connect_socket(&node, &socket.to_string_lossy()).await?;
    let agent = RunningAgent::spawn(node_client, AgentConfig::new(&node), Arc::new(runtime));

    for i in 1..=TASKS {
        let name = format!("sleep.{i}");
        create_assigned(&admin, &bound_task(&name, "sleep", &node, sleeper())).await?;
    }
    let mut containers = Vec::new();
    for i in 1..=TASKS {
        let task = wait_state(&admin, &format!("sleep.{i}"), TaskState::Running, WAIT).await;
        let status = task.status.unwrap().container_status.unwrap();
        containers.push(status.container_id.unwrap());
    }

    // Let the last reports settle, then count what the agent asks the engine while idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = log.lock().unwrap().len();
    tokio::time::sleep(IDLE).await;
    let idle: Vec<String> = log.lock().unwrap()[before..].to_vec();
    let polls: Vec<&String> = idle.iter().filter(|l| !l.contains("/events")).collect();
    assert!(
        polls.len() <= 2,
        "{} engine requests in {IDLE:?} with {TASKS} idle tasks (polling would make {}): {polls:?}",
        polls.len(),
        TASKS * IDLE.as_secs() as usize
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("GET ") && l.contains("/events")),
        "the agent never asked for the engine's events"
    );

    let killed = Instant::now();
    docker(&["kill", &containers[1]]).expect("docker kill");
    let failed = wait_state(&admin, "sleep.2", TaskState::Failed, WAIT).await;
    let seen = killed.elapsed();
    let status = failed.status.unwrap();
    assert_eq!(status.err.as_deref(), Some("task: non-zero exit (137)"));
    println!("killed container reported Failed after {seen:?}");
    assert!(
        seen < Duration::from_secs(10),
        "the kill was seen after {seen:?}, not on its event"
    );

    agent.stop().await?;
    Ok(())
}
