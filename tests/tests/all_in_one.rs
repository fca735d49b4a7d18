//! `flotilla all-in-one` (Swarm's single-daemon design): the api-server over the embedded store,
//! the scheduler and the controller-manager in one process with three simulated nodes; the
//! README's example applied with the real kubectl converges to `3/3`; each simulated node is
//! its own node identity, which the node authorizer refuses another node's Task.

use std::path::Path;
use std::time::Duration;

use flotilla_api::Task;
use flotilla_cli::all_in_one::{AllInOne, AllInOneOptions};
use flotilla_node_agent::options::SimulatedArgs;
use flotilla_tests::kubectl::Kubectl;
use kube::Api;

const CONVERGE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn all_in_one_runs_the_example_to_three_of_three_on_simulated_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let opts = AllInOneOptions {
        port: 0,
        simulated: SimulatedArgs {
            simulate_nodes: 3,
            simulated_latency: Duration::from_millis(20),
        },
        ..AllInOneOptions::new(dir.path().to_path_buf())
    };
    let aio = AllInOne::start(&opts).await.expect("all-in-one starts");
    let kubectl = Kubectl::new(33, aio.kubeconfig()).expect("kubectl 1.33 is installed");
    let kubectl = std::sync::Arc::new(kubectl);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/web.yaml");
    let k = kubectl.clone();
    let applied = tokio::task::spawn_blocking(move || k.run(&["apply", "-f", example]).ok())
        .await
        .unwrap();
    assert!(
        applied
            .stdout
            .contains("swarmservice.flotilla.dev/web created"),
        "{}",
        applied.stdout
    );

    let deadline = tokio::time::Instant::now() + CONVERGE;
    let table = loop {
        let k = kubectl.clone();
        let run = tokio::task::spawn_blocking(move || k.run(&["get", "ssvc", "web"]))
            .await
            .unwrap();
        if run.stdout.contains("3/3") {
            break run.stdout;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "web did not reach 3/3 within {CONVERGE:?}:\n{}{}",
            run.stdout,
            run.stderr
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(table.contains("replicated"), "{table}");

    let k = kubectl.clone();
    let nodes = tokio::task::spawn_blocking(move || {
        k.run(&["get", "tasks", "-o", "jsonpath={.items[*].spec.nodeName}"])
            .ok()
    })
    .await
    .unwrap();
    let mut nodes: Vec<&str> = nodes.stdout.split_whitespace().collect();
    nodes.sort();
    assert_eq!(
        nodes,
        ["sim-0", "sim-1", "sim-2"],
        "one task per simulated node"
    );
    a_node_reads_only_its_own_task(dir.path(), aio.kubeconfig()).await;
    aio.stop().await.expect("every component stops cleanly");
}

/// sim-0's own kubeconfig reads the Task bound to sim-0 and is refused sim-1's (403).
async fn a_node_reads_only_its_own_task(data_dir: &Path, admin: &Path) {
    let admin = flotilla_component::client_from_kubeconfig(Some(admin))
        .await
        .unwrap();
    let tasks = Api::<Task>::namespaced(admin, "default")
        .list(&Default::default())
        .await
        .unwrap();
    let bound_to = |node: &str| {
        let task = tasks
            .items
            .iter()
            .find(|t| t.spec.node_name.as_deref() == Some(node));
        task.and_then(|t| t.metadata.name.clone()).unwrap()
    };
    let node = flotilla_component::client_from_kubeconfig(Some(&data_dir.join("sim-0.kubeconfig")))
        .await
        .expect("sim-0 has a kubeconfig of its own");
    let as_node: Api<Task> = Api::namespaced(node, "default");
    as_node
        .get(&bound_to("sim-0"))
        .await
        .expect("sim-0 reads its own Task");
    match as_node.get(&bound_to("sim-1")).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("sim-0 must be refused sim-1's Task, got {other:?}"),
    }
}
