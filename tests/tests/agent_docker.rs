//! The node agent with the Docker runtime (skips with a printed reason when `docker info` fails):
//! a task runs a busybox container answering HTTP, the routing mesh port on the node address
//! answers through it, a secret is readable inside the container and lives only on a tmpfs.

mod agent_common;

use std::sync::Arc;
use std::time::Duration;

use agent_common::docker::{busybox_image, docker, IMAGE};
use agent_common::*;
use flotilla_api::container::SecretReference;
use flotilla_api::endpoint::{EndpointSpec, PortConfig};
use flotilla_api::mounts::{Mount, MountType};
use flotilla_api::{SwarmSecret, SwarmSecretSpec, SwarmService, Task, TaskState};
use flotilla_node_agent::runtime::docker::Docker;
use flotilla_node_agent::AgentConfig;
use flotilla_tests::agent::RunningAgent;
use flotilla_tests::apiserver::{client_from, TestApiServer};
use flotilla_tests::probe::{fs_type_of, http_get};
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, PostParams};
use kube::Api;

const WAIT: Duration = Duration::from_secs(30);

fn free_port(addr: &str) -> u16 {
    std::net::TcpListener::bind((addr, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn web_template(secret: &str) -> flotilla_api::template::TaskTemplate {
    let mut t = template(IMAGE);
    t.container_spec.command = vec!["/bin/busybox".into(), "sh".into(), "-c".into()];
    t.container_spec.args = vec![
        "mkdir -p /www && echo hello-from-task > /www/index.html && exec httpd -f -p 80 -h /www"
            .into(),
    ];
    t.container_spec.stop_grace_period = Some("1s".into());
    t.container_spec.secrets = vec![SecretReference {
        secret_name: secret.into(),
        file: None,
    }];
    t
}

#[tokio::test]
async fn docker_task_serves_http_through_the_mesh_with_its_secret_on_tmpfs() -> anyhow::Result<()> {
    if busybox_image().is_none() {
        return Ok(());
    }
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let node = format!("dock-{}", std::process::id());
    let node_client =
        client_from(&server.kubeconfig_for(&format!("system:node:{node}"), &["system:nodes"])?)
            .await?;
    let address = "127.0.0.2";
    let published = free_port(address);

    let secret_value = format!("s3cret-{}", std::process::id());
    let secret = SwarmSecret::new(
        "db-pass",
        SwarmSecretSpec {
            data: ByteString(secret_value.clone().into_bytes()),
            templating: None,
        },
    );
    Api::<SwarmSecret>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await?;
    let mut service = SwarmService::new("web", Default::default());
    service.spec.task_template = web_template("db-pass").into();
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

    let mut config = AgentConfig::new(&node);
    config.node_address = address.into();
    config.mesh = true;
    let runtime = Arc::new(Docker::connect(&node).await?);
    let agent = RunningAgent::spawn(node_client, config, runtime);

    let task = create_assigned(
        &admin,
        &bound_task("web.1", "web", &node, web_template("db-pass")),
    )
    .await?;
    let running = wait_state(&admin, "web.1", TaskState::Running, WAIT).await;
    let container = running
        .status
        .unwrap()
        .container_status
        .unwrap()
        .container_id
        .unwrap();

    set_running_nodes(&admin, "web", &[&node]).await?;
    let mesh = format!("{address}:{published}");
    let body = wait_for("the mesh port to answer", WAIT, || http_get(&mesh)).await;
    assert!(body.contains("hello-from-task"), "{body}");

    let inside = docker(&[
        "exec",
        &container,
        "/bin/busybox",
        "cat",
        "/run/secrets/db-pass",
    ]);
    assert_eq!(inside.as_deref(), Some(secret_value.as_str()));
    let source = docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/run/secrets/db-pass\"}}{{.Source}}{{end}}{{end}}",
        &container,
    ])
    .unwrap();
    assert_eq!(
        fs_type_of(&source),
        "tmpfs",
        "secret file {source} is not on a tmpfs"
    );

    // A second node without a task of the service still serves the port, forwarding to the
    // first node (listed in the service's status), whose mesh hands it to its task.
    let node_b = format!("{node}-b");
    let client_b =
        client_from(&server.kubeconfig_for(&format!("system:node:{node_b}"), &["system:nodes"])?)
            .await?;
    let mut config_b = AgentConfig::new(&node_b);
    config_b.node_address = "127.0.0.3".into();
    config_b.mesh = true;
    let agent_b = RunningAgent::spawn(
        client_b,
        config_b,
        Arc::new(Docker::connect(&node_b).await?),
    );
    let mesh_b = format!("127.0.0.3:{published}");
    let body = wait_for("the other node's mesh port to answer", WAIT, || {
        http_get(&mesh_b)
    })
    .await;
    assert!(body.contains("hello-from-task"), "{body}");
    agent_b.stop().await?;

    // A missing bind source is rejected with Docker's message.
    let mut bad = template(IMAGE);
    bad.container_spec.mounts = vec![Mount {
        type_: Some(MountType::Bind),
        source: Some("/nonexistent/flotilla".into()),
        target: "/data".into(),
        ..Default::default()
    }];
    create_assigned(&admin, &bound_task("bad.1", "bad", &node, bad)).await?;
    let rejected = wait_state(&admin, "bad.1", TaskState::Rejected, WAIT).await;
    assert_eq!(
        rejected.status.unwrap().err.as_deref(),
        Some("invalid mount config for type \"bind\": bind source path does not exist: /nonexistent/flotilla")
    );

    set_desired(&admin, "web.1", TaskState::Shutdown).await?;
    wait_state(&admin, "web.1", TaskState::Shutdown, WAIT).await;
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Status}}", &container]).as_deref(),
        Some("exited")
    );

    // Deleting the Task removes the container and the secret's tmpfs file.
    let tasks: Api<Task> = Api::namespaced(admin.clone(), "default");
    tasks
        .delete(
            task.metadata.name.as_deref().unwrap(),
            &DeleteParams::default(),
        )
        .await?;
    wait_for("the container to be removed", WAIT, || async {
        docker(&["inspect", &container]).is_none().then_some(())
    })
    .await;
    // The agent removes the container, then the task's tmpfs files: wait for those too.
    wait_for("the secret's tmpfs file to be removed", WAIT, || async {
        (!std::path::Path::new(&source).exists()).then_some(())
    })
    .await;

    agent.stop().await?;
    Ok(())
}

#[tokio::test]
async fn docker_task_is_running_only_once_healthy_and_fails_when_unhealthy() -> anyhow::Result<()> {
    if busybox_image().is_none() {
        return Ok(());
    }
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let node = format!("health-{}", std::process::id());
    let node_client =
        client_from(&server.kubeconfig_for(&format!("system:node:{node}"), &["system:nodes"])?)
            .await?;
    let runtime = Arc::new(Docker::connect(&node).await?);
    let agent = RunningAgent::spawn(node_client, AgentConfig::new(&node), runtime);
    // Healthy after ~2 s (the file appears), unhealthy after ~5 s (it is removed).
    let mut t = template(IMAGE);
    t.container_spec.command = vec!["/bin/busybox".into(), "sh".into(), "-c".into()];
    t.container_spec.args = vec!["sleep 2; touch /ok; sleep 3; rm /ok; sleep 60".into()];
    t.container_spec.stop_grace_period = Some("1s".into());
    t.container_spec.healthcheck = Some(flotilla_api::container::HealthConfig {
        test: vec![
            "CMD".into(),
            "/bin/busybox".into(),
            "test".into(),
            "-f".into(),
            "/ok".into(),
        ],
        interval: Some("500ms".into()),
        timeout: Some("1s".into()),
        retries: Some(1),
        // Failures before the first success do not count (Docker's start period).
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
    let status = failed.status.unwrap();
    assert_eq!(status.err.as_deref(), Some("unhealthy container"));
    let container = status.container_status.unwrap().container_id.unwrap();
    Api::<Task>::namespaced(admin.clone(), "default")
        .delete("hc.1", &DeleteParams::default())
        .await?;
    wait_for("the container to be removed", WAIT, || async {
        docker(&["inspect", &container]).is_none().then_some(())
    })
    .await;
    agent.stop().await?;
    Ok(())
}
