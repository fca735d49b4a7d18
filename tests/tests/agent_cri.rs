//! The node agent with the CRI runtime on a private containerd (skips with a printed reason where
//! containerd cannot run): a task runs as a pod sandbox + container answering HTTP through the
//! routing mesh (to the sandbox IP), its secret is readable inside and lives only on a tmpfs,
//! mounted read-only; a missing image, a failed start and a setting CRI cannot express are
//! the task's errors with a clear message; healthchecks run through ExecSync; deleting the Task
//! removes its sandbox.

mod agent_common;
mod agent_cri_common;

use std::time::Duration;

use agent_common::*;
use agent_cri_common::*;
use flotilla_api::container::{HealthConfig, SecretReference};
use flotilla_api::endpoint::{EndpointSpec, PortConfig};
use flotilla_api::{SwarmSecret, SwarmSecretSpec, SwarmService, Task, TaskState};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use flotilla_tests::containerd::{shared, NodeFiles, IMAGE};
use flotilla_tests::probe::{fs_type_of, http_get};
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

const WAIT: Duration = Duration::from_secs(30);

fn free_port(addr: &str) -> u16 {
    std::net::TcpListener::bind((addr, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn err_of(task: Task) -> String {
    task.status.and_then(|s| s.err).unwrap_or_default()
}

fn container_id(task: Task) -> String {
    task.status
        .and_then(|s| s.container_status)
        .and_then(|c| c.container_id)
        .expect("the task names its container")
}

async fn create_secret(admin: &Client, value: &str) -> anyhow::Result<()> {
    let secret = SwarmSecret::new(
        "db-pass",
        SwarmSecretSpec {
            data: ByteString(value.as_bytes().to_vec()),
            templating: None,
        },
    );
    Api::<SwarmSecret>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await?;
    Ok(())
}

async fn create_web_service(admin: &Client, published: u16) -> anyhow::Result<()> {
    let mut service = SwarmService::new("web", Default::default());
    service.spec.task_template = template(IMAGE).into();
    service.spec.endpoint = Some(EndpointSpec {
        mode: None,
        ports: vec![PortConfig {
            target_port: 80,
            published_port: Some(published as i64),
            ..Default::default()
        }],
    });
    Api::<SwarmService>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &service)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_task_serves_through_the_mesh_keeps_its_secret_on_tmpfs_and_reports_runtime_errors(
) -> anyhow::Result<()> {
    let Some(cri) = shared().await else {
        return Ok(());
    };
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let node = format!("cri-{}", std::process::id());
    let _files = NodeFiles(node.clone());
    let node_client =
        client_from(&server.kubeconfig_for(&format!("system:node:{node}"), &["system:nodes"])?)
            .await?;
    let address = "127.0.0.8";
    let published = free_port(address);
    let secret = format!("s3cret-{}", std::process::id());
    create_secret(&admin, &secret).await?;
    create_web_service(&admin, published).await?;
    let dirs = tempfile::tempdir()?;
    let agent = start_agent(node_client, &cri, &node, address, &dirs).await?;

    let mut web = template(IMAGE);
    web.container_spec.stop_grace_period = Some("1s".into());
    web.container_spec.env = vec!["GREETING=hi".into()];
    web.container_spec.secrets = vec![SecretReference {
        secret_name: "db-pass".into(),
        file: None,
    }];
    create_assigned(&admin, &bound_task("web.1", "web", &node, web)).await?;
    let id = container_id(wait_state(&admin, "web.1", TaskState::Running, WAIT).await);

    let mesh = format!("{address}:{published}");
    let body = wait_for("the mesh port to answer", WAIT, || http_get(&mesh)).await;
    assert!(body.contains("Hello from a Flotilla task"), "{body}");
    let env = exec(&cri, &id, &["/bin/busybox", "sh", "-c", "echo $GREETING"]);
    assert_eq!(env.as_deref(), Some("hi"));

    let inside = exec(&cri, &id, &["/bin/busybox", "cat", "/run/secrets/db-pass"]);
    assert_eq!(inside.as_deref(), Some(secret.as_str()));
    let (source, read_only) = mount_source(&cri, &id, "/run/secrets/db-pass").expect("a mount");
    assert_eq!(fs_type_of(&source), "tmpfs", "secret file {source}");
    assert!(read_only, "the secret is mounted read-only");
    let write = exec(
        &cri,
        &id,
        &["/bin/busybox", "sh", "-c", "echo x > /run/secrets/db-pass"],
    );
    assert_eq!(write, None, "writing the secret must fail");

    // Runtime errors reach status.err.
    create_assigned(
        &admin,
        &bound_task("ghost.1", "ghost", &node, template("flotilla/ghost:none")),
    )
    .await?;
    let ghost = err_of(wait_state(&admin, "ghost.1", TaskState::Rejected, WAIT).await);
    assert!(
        ghost.starts_with("No such image: flotilla/ghost:none"),
        "{ghost}"
    );
    let mut bad = template(IMAGE);
    bad.container_spec.command = vec!["/nonexistent".into()];
    create_assigned(&admin, &bound_task("bad.1", "bad", &node, bad)).await?;
    let failed = err_of(wait_state(&admin, "bad.1", TaskState::Failed, WAIT).await);
    assert!(
        failed.contains("/nonexistent") && failed.contains("no such file or directory"),
        "{failed}"
    );
    let mut limited = template(IMAGE);
    limited.container_spec.pids_limit = Some(10);
    create_assigned(&admin, &bound_task("pids.1", "pids", &node, limited)).await?;
    let pids = err_of(wait_state(&admin, "pids.1", TaskState::Rejected, WAIT).await);
    assert_eq!(
        pids,
        "spec.template.containerSpec.pidsLimit: a pids limit is not supported by the CRI runtime"
    );

    set_desired(&admin, "web.1", TaskState::Shutdown).await?;
    wait_state(&admin, "web.1", TaskState::Shutdown, WAIT).await;
    assert_eq!(status_of(&cri, &id).as_deref(), Some("exited"));

    // Deleting the Tasks removes their sandboxes, containers and the secret's tmpfs file.
    let tasks: Api<Task> = Api::namespaced(admin.clone(), "default");
    for name in ["web.1", "bad.1"] {
        tasks.delete(name, &DeleteParams::default()).await?;
    }
    wait_for("the sandboxes to be removed", WAIT, || async {
        cri.sandboxes_of(&node).await.is_empty().then_some(())
    })
    .await;
    assert_eq!(status_of(&cri, &id), None);
    wait_for("the secret's tmpfs file to be removed", WAIT, || async {
        (!std::path::Path::new(&source).exists()).then_some(())
    })
    .await;
    agent.stop().await?;
    cri.remove_node(&node).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_task_is_running_only_once_its_exec_healthcheck_passes_and_fails_when_unhealthy(
) -> anyhow::Result<()> {
    let Some(cri) = shared().await else {
        return Ok(());
    };
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let node = format!("crihc-{}", std::process::id());
    let _files = NodeFiles(node.clone());
    let node_client =
        client_from(&server.kubeconfig_for(&format!("system:node:{node}"), &["system:nodes"])?)
            .await?;
    let dirs = tempfile::tempdir()?;
    let agent = start_agent(node_client, &cri, &node, "127.0.0.9", &dirs).await?;
    // Healthy after ~2 s (the file appears), unhealthy after ~5 s (it is removed).
    let mut t = template(IMAGE);
    t.container_spec.command = vec!["/bin/busybox".into(), "sh".into(), "-c".into()];
    t.container_spec.args = vec!["sleep 2; touch /ok; sleep 3; rm /ok; sleep 60".into()];
    t.container_spec.stop_grace_period = Some("1s".into());
    t.container_spec.healthcheck = Some(HealthConfig {
        test: ["CMD", "/bin/busybox", "test", "-f", "/ok"]
            .map(String::from)
            .to_vec(),
        interval: Some("500ms".into()),
        timeout: Some("1s".into()),
        retries: Some(1),
        start_period: Some("30s".into()),
        ..Default::default()
    });
    create_assigned(&admin, &bound_task("hc.1", "hc", &node, t)).await?;
    wait_state(&admin, "hc.1", TaskState::Starting, WAIT).await;
    let started = tokio::time::Instant::now();
    wait_state(&admin, "hc.1", TaskState::Running, WAIT).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "Running before the healthcheck passed"
    );
    let failed = wait_state(&admin, "hc.1", TaskState::Failed, WAIT).await;
    assert_eq!(err_of(failed), "unhealthy container");
    agent.stop().await?;
    cri.remove_node(&node).await;
    Ok(())
}

/// Every runtime operation may be repeated (the agent repeats them after a restart), as the
/// Docker runtime's are: a second prepare makes no second sandbox, a second start of a running
/// container succeeds (Docker's 304), stop and remove of what is gone succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_runtime_operations_are_idempotent() -> anyhow::Result<()> {
    use flotilla_node_agent::decide::Observation;
    use flotilla_node_agent::runtime::cri::{Cri, CriConfig};
    use flotilla_node_agent::runtime::{Runtime, TaskKey, TaskRun};
    let Some(cri) = shared().await else {
        return Ok(());
    };
    let node = format!("criidem-{}", std::process::id());
    let _files = NodeFiles(node.clone());
    let dirs = tempfile::tempdir()?;
    let config = CriConfig {
        endpoint: cri.endpoint(),
        volumes_root: dirs.path().join("volumes"),
        log_root: None,
    };
    let runtime = Cri::connect(&node, config).await?;
    let mut task = bound_task("idem.1", "idem", &node, template(IMAGE));
    task.metadata.uid = Some(format!("idem-{}", std::process::id()));
    let key = TaskKey::of(&task);
    let run = TaskRun {
        key: key.clone(),
        node: node.clone(),
        task,
        secrets: vec![],
        configs: vec![],
        networks: vec![],
    };
    runtime.prepare(&run).await?;
    runtime.prepare(&run).await?;
    assert_eq!(cri.sandboxes_of(&node).await.len(), 1, "one sandbox");
    runtime.start(&key).await?;
    runtime.start(&key).await?;
    let running = wait_for("the container to run", WAIT, || async {
        let obs = runtime.observe(&key).await.ok()?;
        matches!(obs, Observation::Running { .. }).then_some(())
    });
    running.await;
    assert_eq!(runtime.containers(&node).await?, vec![key.clone()]);
    runtime.stop(&key, Duration::from_secs(1)).await?;
    runtime.stop(&key, Duration::from_secs(1)).await?;
    runtime.remove(&key).await?;
    runtime.remove(&key).await?;
    assert_eq!(runtime.observe(&key).await?, Observation::Absent);
    assert!(cri.sandboxes_of(&node).await.is_empty());
    Ok(())
}
