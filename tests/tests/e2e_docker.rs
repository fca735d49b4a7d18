//! End to end with the real binaries (etcd, flotilla-api-server, flotilla-scheduler,
//! flotilla-controller-manager, three flotilla-node-agent processes on 127.0.0.2/3/4) and the
//! Docker engine, started as `flotilla up` starts them. Skips with a printed reason when no
//! Docker engine answers.

mod e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::*;
use flotilla_api::{SwarmSecret, SwarmSecretSpec, TaskState};
use flotilla_cli::up::image::{docker_available, ensure_web_image, WEB_IMAGE};
use flotilla_cli::up::{AgentSpec, Runtime};
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::Api;

const CONVERGE: Duration = Duration::from_secs(120);
const WHOLE_TEST: Duration = Duration::from_secs(420);

/// Builds the `flotilla up` example image; None (reason printed) when Docker cannot run it.
fn web_image() -> Option<tempfile::TempDir> {
    if !docker_available() {
        println!("SKIP: `docker info` failed: no Docker engine to run containers on");
        return None;
    }
    if !Path::new("/bin/busybox").exists() {
        println!("SKIP: /bin/busybox missing (scripts/prereqs.sh installs busybox-static)");
        return None;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    ensure_web_image(dir.path()).expect("building the example image");
    Some(dir)
}

fn node_prefix() -> String {
    format!("e2e{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread")]
async fn replicated_service_serves_on_every_node_survives_a_killed_container_and_keeps_its_secret_off_disk(
) {
    let Some(_image) = web_image() else { return };
    tokio::time::timeout(WHOLE_TEST, replicated_scenario())
        .await
        .expect("the scenario finishes in time");
}

async fn replicated_scenario() {
    let agents = AgentSpec::numbered(&node_prefix(), 3, Runtime::Docker);
    let mut e2e = E2e::start(agents.clone(), &[])
        .await
        .expect("cluster starts");
    let secret = format!("e2e-secret-{}-{}", std::process::id(), rand_suffix());
    create_secret(&e2e, "db-pass", &secret).await;
    let port = free_port_on_nodes(3);
    let svc = replicated("web", WEB_IMAGE, 3, Some(port), Some("db-pass"));
    e2e.services()
        .create(&PostParams::default(), &svc)
        .await
        .expect("service created");
    let tasks = e2e.wait_running("web", 3, CONVERGE).await;
    let mut nodes: Vec<_> = tasks
        .iter()
        .filter_map(|t| t.spec.node_name.clone())
        .collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "one task per node (spread): {nodes:?}");

    // a. The routing mesh answers on every node's address.
    for agent in &agents {
        let addr = format!("{}:{port}", agent.address);
        let body = wait_for(&format!("the mesh on {addr}"), CONVERGE, || http_get(&addr)).await;
        assert!(
            body.contains("Hello from a Flotilla task"),
            "{addr}: {body}"
        );
    }

    // c. The secret is inside the container, on a tmpfs on the host, nowhere on disk.
    let victim = &tasks[0];
    let container = container_of(victim).expect("a running task has a container");
    let inside = docker(&[
        "exec",
        &container,
        "/bin/busybox",
        "cat",
        "/run/secrets/db-pass",
    ]);
    assert_eq!(inside.as_deref(), Some(secret.as_str()));
    assert_secret_only_on_tmpfs(&container, &secret);
    assert_files_lack(e2e.cluster.data_dir(), &secret);
    assert_etcd_has_ciphertext(e2e.cluster.etcd_url(), "db-pass", &secret).await;

    // b. A killed container fails its task; the orchestrator replaces it.
    let victim_name = victim.metadata.name.clone().unwrap();
    docker(&["kill", &container]).expect("docker kill");
    let tasks_api = e2e.tasks();
    wait_for("the killed task to fail", CONVERGE, || async {
        let t = tasks_api.get(&victim_name).await.ok()?;
        (state_of(&t) == TaskState::Failed).then_some(())
    })
    .await;
    let after = e2e.wait_running("web", 3, CONVERGE).await;
    let replacement = after
        .iter()
        .find(|t| t.spec.slot == victim.spec.slot)
        .expect("the slot runs again");
    assert_ne!(replacement.metadata.name, victim.metadata.name);
    assert_ne!(
        container_of(replacement).as_deref(),
        Some(container.as_str())
    );

    let E2e { cluster, .. } = e2e;
    cluster.shutdown().await;
    for agent in &agents {
        let filter = format!("label=flotilla.dev/node={}", agent.name);
        let left = docker(&["ps", "-aq", "--filter", &filter]).unwrap_or_default();
        assert!(left.is_empty(), "containers of {} left: {left}", agent.name);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

async fn create_secret(e2e: &E2e, name: &str, value: &str) {
    let secret = SwarmSecret::new(
        name,
        SwarmSecretSpec {
            data: ByteString(value.as_bytes().to_vec()),
            templating: None,
        },
    );
    Api::<SwarmSecret>::namespaced(e2e.cluster.client(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
}

/// The secret's host side is a file on a tmpfs; the container's writable layer and its
/// config directory do not hold the value.
fn assert_secret_only_on_tmpfs(container: &str, secret: &str) {
    let source = docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/run/secrets/db-pass\"}}{{.Source}}{{end}}{{end}}",
        container,
    ])
    .expect("docker inspect");
    assert_eq!(
        fs_type_of(&source),
        "tmpfs",
        "secret file {source} is not on a tmpfs"
    );
    let layer = docker(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", container]);
    let full_id = docker(&["inspect", "-f", "{{.Id}}", container]).unwrap_or_default();
    let config_dir = format!("/var/lib/docker/containers/{full_id}");
    for dir in layer
        .iter()
        .map(String::as_str)
        .chain([config_dir.as_str()])
    {
        if Path::new(dir).is_dir() {
            assert_files_lack(Path::new(dir), secret);
        }
    }
}

/// No file under `dir` contains `needle`.
fn assert_files_lack(dir: &Path, needle: &str) {
    let mut stack = vec![dir.to_path_buf()];
    let mut scanned = 0;
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).into_iter().flatten().flatten();
            stack.extend(entries.map(|e| e.path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            scanned += 1;
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "the secret is on disk in {}", path.display());
        }
    }
    println!("secret absent from {scanned} files under {}", dir.display());
}

/// The stored secret is an AES-GCM envelope, and no key in etcd holds the plain value.
async fn assert_etcd_has_ciphertext(etcd: &str, name: &str, secret: &str) {
    let mut c = etcd_client::Client::connect([etcd], None)
        .await
        .expect("etcd");
    let key = format!("/registry/flotilla.dev/swarmsecrets/default/{name}");
    let stored = c.get(key.as_str(), None).await.expect("etcd get");
    let value = stored.kvs().first().expect("the secret is in etcd").value();
    assert!(
        value.starts_with(b"k8s:enc:aesgcm:v1:"),
        "not encrypted: {:?}",
        &value[..32.min(value.len())]
    );
    let all = c
        .get("/", Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .expect("etcd get all");
    for kv in all.kvs() {
        let found = kv
            .value()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes());
        assert!(
            !found,
            "plain secret under {}",
            String::from_utf8_lossy(kv.key())
        );
    }
}

/// The filesystem type holding `path` (longest mount point prefix in /proc/self/mounts).
fn fs_type_of(path: &str) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2).then(|| (f[1].to_string(), f[2].to_string()))
        })
        .filter(|(mp, _)| path.starts_with(mp.as_str()))
        .max_by_key(|(mp, _)| mp.len())
        .map(|(_, t)| t)
        .unwrap_or_default()
}
