//! A node agent started while the api-server cannot be reached registers once it can, as the
//! kubelet does: its first requests fail (connections refused by a gate in front of the real
//! api-server), and the node must not be lost for good.

mod agent_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent_common::wait_for;
use flotilla_api::node::NodeState;
use flotilla_api::SwarmNode;
use flotilla_node_agent::runtime::simulated::Simulated;
use flotilla_node_agent::{run, AgentConfig};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::Api;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Forwards connections to `upstream` once `open` is set; before that, closes them at once.
async fn gate(upstream: String, open: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            if !open.load(Ordering::SeqCst) {
                continue;
            }
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut up) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
                }
            });
        }
    });
    format!("https://{addr}")
}

#[tokio::test]
async fn an_agent_started_before_the_api_server_is_reachable_registers_when_it_is() {
    let server = TestApiServer::embedded().await.expect("api-server");
    let admin = server.client().await.unwrap();
    let open = Arc::new(AtomicBool::new(false));
    let upstream = server.url.trim_start_matches("https://").to_string();
    let gated = gate(upstream, open.clone()).await;
    let kubeconfig = server
        .kubeconfig_for("system:node:late-1", &["system:nodes"])
        .unwrap();
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    std::fs::write(&kubeconfig, text.replace(&server.url, &gated)).unwrap();
    let node_client = client_from(&kubeconfig).await.unwrap();

    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(run(
        node_client,
        AgentConfig::new("late-1"),
        Arc::new(Simulated::new(Default::default())),
        async {
            let _ = stopped.await;
        },
    ));
    // Its registration fails for a while (a few retries)...
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let nodes: Api<SwarmNode> = Api::all(admin);
    assert!(nodes.get_opt("late-1").await.unwrap().is_none());
    assert!(!agent.is_finished(), "the agent gave up: {:?}", agent.await);
    // ...and succeeds once the api-server can be reached.
    open.store(true, Ordering::SeqCst);
    wait_for(
        "late-1 registered and Ready",
        Duration::from_secs(20),
        || async {
            let n = nodes.get_opt("late-1").await.ok()??;
            (n.status?.state == Some(NodeState::Ready)).then_some(())
        },
    )
    .await;
    let _ = stop.send(());
    agent.await.unwrap().expect("a clean stop");
    server.stop().await;
}
