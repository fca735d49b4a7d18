//! The routing-mesh tests' cast: TCP servers standing for tasks (each answers with its name),
//! a client asking who answers, services publishing a port, and simulated mesh-serving agents.

use std::sync::Arc;
use std::time::Duration;

use flotilla_api::endpoint::{EndpointSpec, PortConfig};
use flotilla_api::SwarmService;
use flotilla_node_agent::runtime::simulated::{Simulated, SimulatedConfig};
use flotilla_node_agent::AgentConfig;
use flotilla_tests::agent::RunningAgent;
use flotilla_tests::apiserver::client_from;
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::template;

const WAIT: Duration = Duration::from_secs(30);

/// A TCP server on `ip:port` answering every connection with `name`.
pub async fn named_server(ip: &str, port: u16, name: &'static str) -> anyhow::Result<u16> {
    let listener = TcpListener::bind((ip, port)).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = conn.write_all(name.as_bytes()).await;
            });
        }
    });
    Ok(port)
}

/// Who answers on `addr` (None: refused, closed without a word, or too slow).
pub async fn ask(addr: &str) -> Option<String> {
    let exchange = async {
        let mut conn = TcpStream::connect(addr).await.ok()?;
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.ok()?;
        (!answer.is_empty()).then_some(answer)
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
}

/// A TCP port free on every one of `ips`.
pub fn free_port(ips: &[&str]) -> u16 {
    for _ in 0..50 {
        let port = std::net::TcpListener::bind((ips[0], 0))
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        if ips
            .iter()
            .all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no TCP port free on {ips:?}");
}

pub async fn service(
    admin: &Client,
    name: &str,
    published: u16,
    target: u16,
) -> anyhow::Result<()> {
    let mut service = SwarmService::new(name, Default::default());
    service.spec.task_template = template("sim/server").into();
    service.spec.endpoint = Some(EndpointSpec {
        mode: None,
        ports: vec![PortConfig {
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

/// A mesh-serving agent for `node` on `address`, its running tasks answering at `task_ip`.
pub async fn start_agent(
    kubeconfig: &std::path::Path,
    node: &str,
    address: &str,
    task_ip: Option<&str>,
) -> anyhow::Result<RunningAgent> {
    let mut config = AgentConfig::new(node);
    config.node_address = address.into();
    config.mesh = true;
    let runtime = Arc::new(Simulated::new(SimulatedConfig {
        latency: Duration::from_millis(10),
        address: task_ip.map(|ip| ip.parse().unwrap()),
        ..Default::default()
    }));
    let client = client_from(kubeconfig).await?;
    Ok(RunningAgent::spawn(client, config, runtime))
}
