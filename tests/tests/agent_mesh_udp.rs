//! UDP through the routing mesh: a service publishing `protocol: udp` answers on every node's
//! address, each client's datagrams follow one flow (one upstream socket per client and node) and
//! the replies come back to the client that asked, from the published port. Deleting the service
//! releases the port on every node, and a service publishing it again is served. The task is simulated;
//! its "container" address is a loopback address where the test runs a UDP echo server.

mod agent_common;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use flotilla_api::endpoint::{EndpointSpec, PortConfig, PortProtocol};
use flotilla_api::{SwarmService, TaskState};
use flotilla_node_agent::runtime::simulated::{Simulated, SimulatedConfig};
use flotilla_node_agent::{run, AgentConfig, AgentError};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(20);
const ECHO_AT: &str = "127.0.0.7";
const NODES: [(&str, &str); 2] = [("udp-a", "127.0.0.2"), ("udp-b", "127.0.0.3")];

/// Echoes every datagram to its sender, recording the senders (the mesh's upstream sockets).
async fn echo_server(sources: Arc<Mutex<BTreeSet<SocketAddr>>>) -> anyhow::Result<u16> {
    let socket = UdpSocket::bind((ECHO_AT, 0)).await?;
    let port = socket.local_addr()?.port();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            sources.lock().unwrap().insert(from);
            let _ = socket.send_to(&buf[..len], from).await;
        }
    });
    Ok(port)
}

/// A UDP port free on every node address.
fn free_udp_port() -> u16 {
    for _ in 0..50 {
        let port = std::net::UdpSocket::bind((NODES[0].1, 0))
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .unwrap();
        if NODES
            .iter()
            .all(|(_, addr)| std::net::UdpSocket::bind((*addr, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no UDP port free on every node address");
}

async fn udp_service(admin: &Client, published: u16, target: u16) -> anyhow::Result<()> {
    let mut service = SwarmService::new("dns", Default::default());
    service.spec.task_template = template("sim/echo").into();
    service.spec.endpoint = Some(EndpointSpec {
        mode: None,
        ports: vec![PortConfig {
            protocol: Some(PortProtocol::Udp),
            target_port: target as i64,
            published_port: Some(published as i64),
            ..Default::default()
        }],
    });
    Api::<SwarmService>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &service)
        .await?;
    Ok(())
}

fn start_agent(
    client: Client,
    (node, address): (&str, &str),
    echo: Option<IpAddr>,
) -> (oneshot::Sender<()>, JoinHandle<Result<(), AgentError>>) {
    let mut config = AgentConfig::new(node);
    config.node_address = address.into();
    config.mesh = true;
    let runtime = Arc::new(Simulated::new(SimulatedConfig {
        latency: Duration::from_millis(10),
        address: echo,
        ..Default::default()
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(run(client, config, runtime, async {
        let _ = stopped.await;
    }));
    (stop, handle)
}

/// Sends `payload` to `mesh` until an answer arrives (the mesh may not listen or know the task
/// yet); returns the answer and who it came from.
async fn ask(client: &UdpSocket, mesh: SocketAddr, payload: &str) -> (String, SocketAddr) {
    wait_for(&format!("an answer from {mesh}"), WAIT, || async {
        client.send_to(payload.as_bytes(), mesh).await.ok()?;
        let mut buf = [0u8; 2048];
        let recv = client.recv_from(&mut buf);
        let (len, from) = tokio::time::timeout(Duration::from_millis(300), recv)
            .await
            .ok()?
            .ok()?;
        Some((String::from_utf8_lossy(&buf[..len]).into_owned(), from))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_service_answers_through_every_nodes_mesh_one_flow_per_client() -> anyhow::Result<()> {
    let server = TestApiServer::with_etcd().await?;
    let admin = server.client().await?;
    let sources = Arc::new(Mutex::new(BTreeSet::new()));
    let target = echo_server(sources.clone()).await?;
    let published = free_udp_port();
    udp_service(&admin, published, target).await?;

    let mut agents = Vec::new();
    for (i, node) in NODES.into_iter().enumerate() {
        let identity = format!("system:node:{}", node.0);
        let client = client_from(&server.kubeconfig_for(&identity, &["system:nodes"])?).await?;
        // Only the first node runs the task; the second forwards to it.
        let echo = (i == 0).then(|| ECHO_AT.parse().unwrap());
        agents.push(start_agent(client, node, echo));
    }
    create_assigned(
        &admin,
        &bound_task("dns.1", "dns", NODES[0].0, template("sim/echo")),
    )
    .await?;
    wait_state(&admin, "dns.1", TaskState::Running, WAIT).await;
    set_running_nodes(&admin, "dns", &[NODES[0].0]).await?;

    for (_, address) in NODES {
        let mesh: SocketAddr = format!("{address}:{published}").parse()?;
        let clients = [
            UdpSocket::bind("127.0.0.1:0").await?,
            UdpSocket::bind("127.0.0.1:0").await?,
        ];
        for round in 0..3 {
            for (c, client) in clients.iter().enumerate() {
                let payload = format!("{address} client {c} round {round}");
                let (answer, from) = ask(client, mesh, &payload).await;
                assert_eq!(answer, payload, "the answer reaches the client that asked");
                assert_eq!(from, mesh, "the answer comes from the published port");
            }
        }
    }
    // Two clients on each of two nodes: four flows, however many datagrams each sent (the second
    // node's flows reach the task through the first node's mesh, which keeps one flow for each).
    // (A copy: the guard must not live on into the assertion's message.)
    let seen = sources.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "upstream sources: {seen:?}");

    let services: Api<SwarmService> = Api::namespaced(admin.clone(), "default");
    services.delete("dns", &DeleteParams::default()).await?;
    for (_, address) in NODES {
        wait_for(
            &format!("{address}:{published} to be released"),
            WAIT,
            || async {
                std::net::UdpSocket::bind((address, published))
                    .ok()
                    .map(drop)
            },
        )
        .await;
    }
    udp_service(&admin, published, target).await?;
    set_running_nodes(&admin, "dns", &[NODES[0].0]).await?;
    for (_, address) in NODES {
        let mesh: SocketAddr = format!("{address}:{published}").parse()?;
        let client = UdpSocket::bind("127.0.0.1:0").await?;
        let (answer, _) = ask(&client, mesh, "again").await;
        assert_eq!(answer, "again", "{address} serves the port again");
    }

    for (stop, handle) in agents {
        let _ = stop.send(());
        tokio::time::timeout(WAIT, handle).await???;
    }
    Ok(())
}
