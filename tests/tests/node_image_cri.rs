//! The node image (`flotilla/node`, kind's design): a container started with exactly the rights
//! docs/deploy.md lists (not `--privileged`) runs its own containerd, and a task's pod sandbox
//! and container run inside it, answering HTTP at its sandbox IP on the node's own bridge.
//! The test drives the node's containerd through its socket (on a host directory mounted as the
//! node's containerd volume). Skips, saying why, without Docker or root.

mod agent_common;

use std::process::Command;
use std::time::Duration;

use agent_common::{bound_task, template, wait_for};
use flotilla_node_agent::decide::Observation;
use flotilla_node_agent::runtime::cri::{Cri, CriConfig};
use flotilla_node_agent::runtime::{Runtime, TaskKey, TaskRun};
use flotilla_tests::containerd::IMAGE;

const WAIT: Duration = Duration::from_secs(60);

fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Removes the node container and its image when dropped.
struct Node {
    name: String,
    image: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
        let _ = docker(&["rmi", &self.image]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_inside_a_node_container_on_its_own_containerd() -> anyhow::Result<()> {
    if docker(&["info"]).is_none() {
        println!("SKIP: `docker info` failed: no Docker engine to run the node container");
        return Ok(());
    }
    if let Some(why) = flotilla_cli::containerd::unavailable() {
        println!("SKIP: {why}: the node image cannot be built here");
        return Ok(());
    }
    let bins = flotilla_tests::bins::workspace_bins().await?;
    let tag = format!("crinode{}", std::process::id());
    let image = flotilla_cli::node_image::build_node_image(&bins, &tag)?;
    let volume = tempfile::tempdir()?;
    let node = Node {
        name: format!("flotilla-crinode-{}", std::process::id()),
        image: image.clone(),
    };
    let mount = format!(
        "{}:{}",
        volume.path().display(),
        flotilla_cli::node_image::NODE_DIR
    );
    #[rustfmt::skip]
    let run = [
        "run", "-d", "--name", &node.name,
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
        "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--security-opt", "systempaths=unconfined",
        "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run",
        "-v", &mount,
        &image, "/bin/busybox", "sleep", "inf",
    ];
    docker(&run).expect("docker run of the node container");
    let socket = volume.path().join("containerd.sock");
    let ctr = |args: &[&str]| flotilla_cli::containerd::ctr(&socket, args).ok();
    wait_for("the node's containerd with its images", WAIT, || async {
        let images = ctr(&["images", "ls", "-q"])?;
        images
            .contains("docker.io/flotilla/web:latest")
            .then_some(())
    })
    .await;

    let config = CriConfig {
        endpoint: format!("unix://{}", socket.display()),
        volumes_root: volume.path().join("volumes"),
        log_root: None,
    };
    let runtime = Cri::connect(&node.name, config).await?;
    let mut task = bound_task("web.1", "web", &node.name, template(IMAGE));
    task.metadata.uid = Some(format!("node-{}", std::process::id()));
    let key = TaskKey::of(&task);
    let run = TaskRun {
        key: key.clone(),
        node: node.name.clone(),
        task,
        secrets: vec![],
        configs: vec![],
        networks: vec![],
    };
    runtime.prepare(&run).await?;
    runtime.start(&key).await?;
    wait_for("the task to run", WAIT, || async {
        let obs = runtime.observe(&key).await.ok()?;
        matches!(obs, Observation::Running { .. }).then_some(())
    })
    .await;
    let ip = runtime
        .address(&key)
        .await
        .expect("a sandbox IP")
        .to_string();
    assert!(
        ip.starts_with("10.244.0."),
        "{ip} is on the node's own bridge"
    );
    let url = format!("http://{ip}/");
    let body = docker(&[
        "exec",
        &node.name,
        "/bin/busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &url,
    ]);
    assert!(
        body.unwrap_or_default()
            .contains("Hello from a Flotilla task"),
        "the task answers inside the node"
    );
    runtime.stop(&key, Duration::from_secs(1)).await?;
    runtime.remove(&key).await?;
    assert_eq!(runtime.containers(&node.name).await?, vec![]);
    Ok(())
}
