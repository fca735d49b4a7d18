//! What a node's routing mesh trusts. A node that annotates forged endpoints on its own SwarmNode
//! (another node's service, an arbitrary address) draws no traffic on the other nodes: they forward
//! only to the nodes the service's status lists (written by the control plane), at those nodes'
//! addresses; and a node cannot write that list.
//!
//! Tasks are simulated; a task's "container" is a loopback address where the test runs a TCP
//! server that answers with its name.

mod agent_common;

use std::time::Duration;

use agent_common::mesh::*;
use agent_common::*;
use flotilla_api::{SwarmNode, SwarmService, TaskState};
use flotilla_node_agent::mesh::ENDPOINTS_ANNOTATION;
use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn node_kubeconfig(server: &TestApiServer, node: &str) -> anyhow::Result<std::path::PathBuf> {
    server.kubeconfig_for(&format!("system:node:{node}"), &["system:nodes"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_endpoint_annotations_do_not_redirect_other_nodes_traffic() -> anyhow::Result<()> {
    let server = TestApiServer::embedded().await?;
    let admin = server.client().await?;
    let target = named_server("127.0.0.7", 0, "real").await?;
    named_server("127.0.0.8", target, "forged").await?;
    let web_port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let other_port = loop {
        let p = free_port(&["127.0.0.2", "127.0.0.3"]);
        if p != web_port {
            break p;
        }
    };
    service(&admin, "web", web_port, target).await?;
    service(&admin, "other", other_port, target).await?;

    let a = start_agent(
        &node_kubeconfig(&server, "a")?,
        "a",
        "127.0.0.2",
        Some("127.0.0.7"),
    )
    .await?;
    let b = start_agent(&node_kubeconfig(&server, "b")?, "b", "127.0.0.3", None).await?;

    // Node m, with its own node identity, claims both services at its address 127.0.0.8.
    let m = client_from(&node_kubeconfig(&server, "m")?).await?;
    let nodes: Api<SwarmNode> = Api::all(m.clone());
    let forged = json!({"default/web": ["127.0.0.8"], "default/other": ["127.0.0.8"]});
    let mut node = SwarmNode::new("m", Default::default());
    node.metadata = ObjectMeta {
        name: Some("m".into()),
        annotations: Some([(ENDPOINTS_ANNOTATION.to_string(), forged.to_string())].into()),
        ..Default::default()
    };
    nodes.create(&PostParams::default(), &node).await?;
    let addr = json!({ "status": { "addr": "127.0.0.8", "state": "ready" } });
    nodes
        .patch_status("m", &PatchParams::default(), &Patch::Merge(&addr))
        .await?;
    // ...and cannot put itself on the service's list of nodes: only the control plane writes it.
    let services: Api<SwarmService> = Api::namespaced(m.clone(), "default");
    let claim = json!({ "status": { "runningNodes": ["m"] } });
    let refused = services
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&claim))
        .await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(e)) if e.code == 403),
        "{refused:?}"
    );

    create_assigned(
        &admin,
        &bound_task("web.1", "web", "a", template("sim/server")),
    )
    .await?;
    wait_state(&admin, "web.1", TaskState::Running, WAIT).await;
    set_running_nodes(&admin, "web", &["a"]).await?;

    let through_b = format!("127.0.0.3:{web_port}");
    let first = wait_for("node b's mesh to answer", WAIT, || ask(&through_b)).await;
    assert_eq!(first, "real");
    let mut answers = Vec::new();
    for _ in 0..12 {
        answers.push(ask(&through_b).await);
    }
    assert!(
        answers.iter().all(|a| a.as_deref() == Some("real")),
        "every connection to web through node b reaches web's task on node a: {answers:?}"
    );
    // No node runs "other": its port answers nothing anywhere, whatever m claims.
    for node in ["127.0.0.2", "127.0.0.3"] {
        let got = ask(&format!("{node}:{other_port}")).await;
        assert_eq!(got, None, "'other' through {node}");
    }

    a.stop().await?;
    b.stop().await?;
    Ok(())
}
