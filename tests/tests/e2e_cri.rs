//! End to end on the CRI runtime, in one process: the real api-server over etcd, the scheduler,
//! the controller-manager and three CRI node agents (127.0.0.11–13) sharing the private
//! containerd. `examples/web.yaml` converges to 3/3 (its healthcheck runs through ExecSync), the
//! routing mesh answers on every node, a killed container's task fails and is replaced, and a
//! scale-down removes the sandboxes of the tasks it removes.

mod agent_common;
mod agent_cri_common;

use std::time::Duration;

use agent_common::{state_of, wait_for};
use agent_cri_common::*;
use flotilla_api::{SwarmService, Task, TaskState};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use flotilla_tests::containerd::shared;
use flotilla_tests::probe::http_get;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

const CONVERGE: Duration = Duration::from_secs(90);
const WHOLE_TEST: Duration = Duration::from_secs(300);
const ADDRESSES: [&str; 3] = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];

async fn start_control_loops(server: &TestApiServer) -> anyhow::Result<()> {
    let cm =
        client_from(&server.kubeconfig_for("system:flotilla-controller-manager", &[])?).await?;
    let sched = client_from(&server.kubeconfig_for("system:flotilla-scheduler", &[])?).await?;
    tokio::spawn(flotilla_controller_manager::run(
        cm,
        Default::default(),
        std::future::pending(),
    ));
    tokio::spawn(flotilla_scheduler::run(
        sched,
        Default::default(),
        std::future::pending::<()>(),
    ));
    Ok(())
}

/// The example service, published on `port` instead of 8080.
fn example_web(port: u16) -> SwarmService {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/web.yaml");
    let yaml = std::fs::read_to_string(path).expect("examples/web.yaml");
    let mut svc: SwarmService = serde_yaml_ng::from_str(&yaml).expect("a SwarmService");
    let endpoint = svc
        .spec
        .endpoint
        .as_mut()
        .expect("the example publishes a port");
    endpoint.ports[0].published_port = Some(port as i64);
    svc
}

fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if ADDRESSES
            .iter()
            .all(|a| std::net::TcpListener::bind((*a, port)).is_ok())
        {
            return port;
        }
    }
}

async fn running(admin: &Client) -> Vec<Task> {
    let lp = ListParams::default().labels(&format!("{}=web", flotilla_api::SERVICE_LABEL));
    let tasks = Api::<Task>::namespaced(admin.clone(), "default")
        .list(&lp)
        .await;
    let mut tasks = tasks.map(|l| l.items).unwrap_or_default();
    tasks.retain(|t| {
        state_of(t) == TaskState::Running && t.spec.desired_state == TaskState::Running
    });
    tasks
}

async fn wait_running(admin: &Client, want: usize) -> Vec<Task> {
    wait_for(&format!("web {want}/{want}"), CONVERGE, || async {
        let tasks = running(admin).await;
        (tasks.len() == want).then_some(tasks)
    })
    .await
}

fn container(task: &Task) -> String {
    task.status
        .as_ref()
        .and_then(|s| s.container_status.as_ref())
        .and_then(|c| c.container_id.clone())
        .expect("a running task names its container")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_web_runs_3_of_3_on_cri_nodes_behind_the_mesh_and_heals_and_scales_down() {
    let Some(cri) = shared().await else { return };
    tokio::time::timeout(WHOLE_TEST, scenario(&cri))
        .await
        .expect("the scenario finishes in time")
        .expect("the scenario");
}

async fn scenario(cri: &flotilla_tests::containerd::SharedContainerd) -> anyhow::Result<()> {
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    start_control_loops(&server).await?;
    let dirs = tempfile::tempdir()?;
    let mut agents = Vec::new();
    let mut nodes = Vec::new();
    let mut files = Vec::new();
    for (i, address) in ADDRESSES.iter().enumerate() {
        let node = format!("e2ecri{}-{}", std::process::id(), i + 1);
        let kc = server.kubeconfig_for(&format!("system:node:{node}"), &["system:nodes"])?;
        agents.push(start_agent(client_from(&kc).await?, cri, &node, address, &dirs).await?);
        files.push(flotilla_tests::containerd::NodeFiles(node.clone()));
        nodes.push(node);
    }
    let port = free_port();
    let services: Api<SwarmService> = Api::namespaced(admin.clone(), "default");
    let started = tokio::time::Instant::now();
    services
        .create(&PostParams::default(), &example_web(port))
        .await?;
    let tasks = wait_running(&admin, 3).await;
    println!("web 3/3 on CRI after {:?}", started.elapsed());
    let mut spread: Vec<_> = tasks
        .iter()
        .filter_map(|t| t.spec.node_name.clone())
        .collect();
    spread.sort();
    assert_eq!(spread, nodes, "one task per node");

    for address in ADDRESSES {
        let addr = format!("{address}:{port}");
        // A task is Running once its process started, maybe before it listens: the mesh then
        // closes the connection without an answer, so the wait is for the page itself.
        let body = wait_for(&format!("the mesh on {addr}"), CONVERGE, || async {
            let body = http_get(&addr).await?;
            body.contains("Hello from a Flotilla task").then_some(body)
        })
        .await;
        assert!(
            body.contains("Hello from a Flotilla task"),
            "{addr}: {body}"
        );
    }

    // A killed container fails its task; the orchestrator replaces it with a new sandbox.
    let victim = &tasks[0];
    let victim_name = victim.metadata.name.clone().unwrap_or_default();
    let victim_id = container(victim);
    kill(cri, &victim_id);
    let api: Api<Task> = Api::namespaced(admin.clone(), "default");
    wait_for("the killed task to fail", CONVERGE, || async {
        let t = api.get(&victim_name).await.ok()?;
        (state_of(&t) == TaskState::Failed).then_some(())
    })
    .await;
    let after = wait_running(&admin, 3).await;
    let replacement = after
        .iter()
        .find(|t| t.spec.slot == victim.spec.slot)
        .expect("the slot runs again");
    assert_ne!(replacement.metadata.name, victim.metadata.name);
    assert_ne!(container(replacement), victim_id);

    // Scale down to 1: the two removed tasks' sandboxes go.
    let patch = json!({ "spec": { "mode": { "replicated": { "replicas": 1 } } } });
    services
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let kept = wait_running(&admin, 1).await;
    let kept_id = container(&kept[0]);
    for t in after.iter().filter(|t| container(t) != kept_id) {
        let id = container(t);
        wait_for(&format!("{id} to be removed"), CONVERGE, || async {
            status_of(cri, &id).is_none().then_some(())
        })
        .await;
    }
    // What is left is a sandbox per task the service still keeps: the running one, and the
    // failed ones of its history (stopped; the reaper removes them beyond the history limit).
    let kept_tasks = || async {
        let lp = ListParams::default().labels(&format!("{}=web", flotilla_api::SERVICE_LABEL));
        let tasks = api.list(&lp).await.map(|l| l.items).unwrap_or_default();
        tasks
            .iter()
            .filter(|t| t.spec.desired_state < TaskState::Remove)
            .filter(|t| {
                t.status
                    .as_ref()
                    .and_then(|s| s.container_status.as_ref())
                    .is_some()
            })
            .count()
    };
    wait_for("a sandbox per task kept", CONVERGE, || async {
        let mut sandboxes = 0;
        for node in &nodes {
            sandboxes += cri.sandboxes_of(node).await.len();
        }
        (sandboxes == kept_tasks().await).then_some(())
    })
    .await;

    for a in agents {
        a.stop().await?;
    }
    for node in &nodes {
        cri.remove_node(node).await;
    }
    Ok(())
}
