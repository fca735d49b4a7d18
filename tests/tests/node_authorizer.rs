//! The Node authorizer over HTTP, driven by stock kubectl 1.27 and 1.33: a node identity lists
//! and watches only the Tasks bound to it, whatever field selector it sends (the authorizer
//! reads the selector with the query's own parser), and reads only the SwarmServices its Tasks
//! reference.

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::KUBECTL_VERSIONS;
use flotilla_tests::kubectl::{installed_versions, Kubectl, Run};
use flotilla_tests::swarm::create_pending;
use serde_json::json;

async fn kubectl(minor: u32, kubeconfig: &std::path::Path, args: &[&str]) -> Run {
    let k = Kubectl::new(minor, kubeconfig).expect("kubectl installed");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        k.run(&args)
    })
    .await
    .expect("blocking task")
}

/// Two services, `web-1` and `web-2`, each with one Task bound to `node-1` and `node-2`.
async fn two_nodes_with_a_task_each(server: &TestApiServer) {
    let client = server.client().await.unwrap();
    for n in [1, 2] {
        let svc = json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
            "metadata": {"name": format!("web-{n}"), "namespace": "default"},
            "spec": {"taskTemplate": {"containerSpec": {"image": "busybox",
                "env": [format!("PASSWORD=hunter{n}")]}}}});
        let api: kube::Api<flotilla_api::SwarmService> =
            kube::Api::namespaced(client.clone(), "default");
        api.create(&Default::default(), &serde_json::from_value(svc).unwrap())
            .await
            .unwrap();
        let node = format!("node-{n}");
        let task =
            flotilla_tests::swarm::task(&format!("web-{n}"), 0, json!({}), Some(&node)).unwrap();
        create_pending(&client, "default", &task).await.unwrap();
    }
}

/// Selectors a node might send to see other nodes' Tasks. Each must give a 403, or only the
/// node's own Tasks.
const TRICKY: [&str; 7] = [
    r"spec.nodeName!=x\,spec.nodeName=node-1",
    r"metadata.name!=x\,spec.nodeName=node-1",
    r"spec.nodeName=node-1\,x",
    r"spec.nodeName!=node-1\=spec.nodeName=node-1",
    r"status.state!=x\\\,spec.nodeName=node-1",
    "spec.nodeName=node-1,spec.nodeName!=node-1",
    " spec.nodeName = node-1",
];

/// Percent-encodes a query value (kubectl's `--raw` sends the path as given).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Either refused with a 403, or answered with none of node-2's Tasks.
fn assert_own_or_forbidden(what: &str, run: &Run) {
    if run.code == 0 {
        assert!(
            !run.stdout.contains("web-2.node-2"),
            "{what}: a node-1 identity received node-2's Task:\n{}",
            run.stdout
        );
    } else {
        assert!(
            run.stderr.contains("forbidden") || run.stderr.contains("Forbidden"),
            "{what}: expected a 403, got {run:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_lists_and_watches_only_its_own_tasks_whatever_the_selector() {
    let server = TestApiServer::embedded().await.unwrap();
    two_nodes_with_a_task_each(&server).await;
    let node = server
        .kubeconfig_for("system:node:node-1", &["system:nodes"])
        .unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        // The plain selector works and shows only the node's own Task.
        let own = ["get", "tasks", "-A", "-o", "name"];
        let own = kubectl(
            minor,
            &node,
            &[&own[..], &["--field-selector=spec.nodeName=node-1"]].concat(),
        )
        .await
        .ok();
        assert_eq!(
            own.stdout.trim(),
            "task.flotilla.dev/web-1.node-1",
            "1.{minor}"
        );

        for selector in TRICKY {
            let list = ["get", "tasks", "-A", "-o", "name"];
            let arg = format!("--field-selector={selector}");
            let list = kubectl(minor, &node, &[&list[..], &[arg.as_str()]].concat()).await;
            assert_own_or_forbidden(&format!("1.{minor} list {selector:?}"), &list);

            let path = format!(
                "/apis/flotilla.dev/v1alpha1/tasks?watch=true&timeoutSeconds=1&fieldSelector={}",
                encode(selector)
            );
            let watch = kubectl(minor, &node, &["get", "--raw", &path]).await;
            assert_own_or_forbidden(&format!("1.{minor} watch {selector:?}"), &watch);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_reads_only_the_services_of_its_own_tasks() {
    let server = TestApiServer::embedded().await.unwrap();
    two_nodes_with_a_task_each(&server).await;
    let node = server
        .kubeconfig_for("system:node:node-1", &["system:nodes"])
        .unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let own = [
            "get",
            "swarmservice",
            "web-1",
            "-o",
            "jsonpath={.metadata.name}",
        ];
        let own = kubectl(minor, &node, &own).await.ok();
        assert_eq!(own.stdout, "web-1", "1.{minor}");

        let other = kubectl(
            minor,
            &node,
            &["get", "swarmservice", "web-2", "-o", "json"],
        )
        .await;
        assert_ne!(other.code, 0, "1.{minor}: node-1 read web-2: {other:?}");
        assert!(other.stderr.contains("forbidden"), "1.{minor}: {other:?}");
        assert!(!other.stdout.contains("hunter2"), "1.{minor}: {other:?}");

        let can_i = ["auth", "can-i", "get", "swarmservices/web-2"];
        let can_i = kubectl(minor, &node, &can_i).await;
        assert!(can_i.stdout.starts_with("no"), "1.{minor}: {can_i:?}");

        // The routing mesh lists and watches every service, in the routing view: names and
        // ports, never another node's environment.
        let list = ["get", "swarmservices", "-A", "-o", "json"];
        let list = kubectl(minor, &node, &list).await.ok();
        assert!(list.stdout.contains("\"web-2\""), "1.{minor}: {list:?}");
        assert!(
            !list.stdout.contains("hunter"),
            "1.{minor}: {}",
            list.stdout
        );
        let table = kubectl(minor, &node, &["get", "swarmservices", "-A"])
            .await
            .ok();
        assert!(table.stdout.contains("web-2"), "1.{minor}: {table:?}");
        assert!(!table.stdout.contains("hunter"), "1.{minor}: {table:?}");
        let path = "/apis/flotilla.dev/v1alpha1/swarmservices?watch=true&timeoutSeconds=1";
        let watch = kubectl(minor, &node, &["get", "--raw", path]).await.ok();
        assert!(watch.stdout.contains("\"web-2\""), "1.{minor}: {watch:?}");
        assert!(
            !watch.stdout.contains("hunter"),
            "1.{minor}: {}",
            watch.stdout
        );
    }
}
