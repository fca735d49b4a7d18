//! What a node's routing mesh trusts. A node that annotates forged endpoints on its own SwarmNode
//! (another node's service, an arbitrary address) draws no traffic on the other nodes: they forward
//! only to the nodes the service's status lists (written by the control plane), at those nodes'
//! addresses. And the mesh follows the cluster across an api-server restart: a node that joins
//! after the restart and takes the service's task over gets the traffic of every node.
//!
//! Tasks are simulated; a task's "container" is a loopback address where the test runs a TCP
//! server that answers with its name.

mod agent_common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use flotilla_api::endpoint::{EndpointSpec, PortConfig};
use flotilla_api::{SwarmNode, SwarmService, TaskState};
use flotilla_node_agent::mesh::ENDPOINTS_ANNOTATION;
use flotilla_node_agent::runtime::simulated::{Simulated, SimulatedConfig};
use flotilla_node_agent::{run, AgentConfig, AgentError};
use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);

/// A TCP server on `ip:port` answering every connection with `name`.
async fn named_server(ip: &str, port: u16, name: &'static str) -> anyhow::Result<u16> {
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
async fn ask(addr: &str) -> Option<String> {
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
fn free_port(ips: &[&str]) -> u16 {
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

async fn service(admin: &Client, name: &str, published: u16, target: u16) -> anyhow::Result<()> {
    let mut service = SwarmService::new(name, Default::default());
    service.spec.task_template = template("sim/server");
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

struct Agent {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), AgentError>>,
}

impl Agent {
    /// A mesh-serving agent for `node` on `address`, its running tasks answering at `task_ip`.
    async fn start(
        kubeconfig: &std::path::Path,
        node: &str,
        address: &str,
        task_ip: Option<&str>,
    ) -> anyhow::Result<Agent> {
        let mut config = AgentConfig::new(node);
        config.node_address = address.into();
        config.mesh = true;
        let runtime = Arc::new(Simulated::new(SimulatedConfig {
            latency: Duration::from_millis(10),
            address: task_ip.map(|ip| ip.parse().unwrap()),
            ..Default::default()
        }));
        let client = client_from(kubeconfig).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(run(client, config, runtime, async {
            let _ = stopped.await;
        }));
        Ok(Agent { stop, handle })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.handle).await???;
        Ok(())
    }
}

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

    let a = Agent::start(
        &node_kubeconfig(&server, "a")?,
        "a",
        "127.0.0.2",
        Some("127.0.0.7"),
    )
    .await?;
    let b = Agent::start(&node_kubeconfig(&server, "b")?, "b", "127.0.0.3", None).await?;

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

/// Forwards TCP connections to the current upstream; `cut` closes every connection and refuses
/// new ones until `resume` (what clients see while an api-server restarts).
#[derive(Clone)]
struct Proxy {
    upstream: Arc<Mutex<Option<SocketAddr>>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> anyhow::Result<(Proxy, SocketAddr)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let proxy = Proxy {
            upstream: Arc::new(Mutex::new(Some(upstream))),
            conns: Arc::default(),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let Some(to) = *p.upstream.lock().unwrap() else {
                    continue;
                };
                let relay = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
                    }
                });
                p.conns.lock().unwrap().push(relay);
            }
        });
        Ok((proxy, addr))
    }

    fn cut(&self) {
        *self.upstream.lock().unwrap() = None;
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn resume(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = Some(upstream);
    }
}

/// An api-server over `etcd` with its PKI in `dir`, serving on 127.0.0.1:0 until aborted.
async fn api_server(
    etcd: &str,
    dir: &std::path::Path,
) -> anyhow::Result<(SocketAddr, JoinHandle<anyhow::Result<()>>)> {
    use flotilla_api_server::app::{self, Options, StorageOption};
    let mut opts = Options::embedded(dir.join("pki"));
    opts.storage = StorageOption::Etcd(vec![etcd.to_string()]);
    opts.config.bookmark_interval = Duration::from_secs(2);
    let built = app::build(&opts).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving = tokio::spawn(flotilla_api_server::server::serve(
        listener,
        built.server,
        built.tls,
        std::future::pending(),
    ));
    Ok((addr, serving))
}

fn kubeconfig(
    dir: &std::path::Path,
    url: &str,
    user: &str,
    groups: &[&str],
) -> anyhow::Result<std::path::PathBuf> {
    use flotilla_api_server::security::{kubeconfig::write_kubeconfig, pki::Pki};
    let pki = Pki::load_or_bootstrap(&dir.join("pki"), &[])?;
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let (cert, key) = pki.issue_client(user, &groups)?;
    let path = dir.join(format!("kubeconfig-{}", user.replace(':', "-")));
    let ca = pki.client_ca_pem().expect("bootstrapped CA");
    write_kubeconfig(&path, url, ca, &cert, &key, user)?;
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_follows_nodes_and_tasks_across_an_api_server_restart() -> anyhow::Result<()> {
    let etcd = flotilla_tests::etcd::Etcd::start().await?;
    let dir = tempfile::tempdir()?;
    let (first, serving) = api_server(etcd.endpoint(), dir.path()).await?;
    let (proxy, front) = Proxy::start(first).await?;
    let url = format!("https://{front}");
    let admin = client_from(&kubeconfig(
        dir.path(),
        &url,
        "flotilla:admin",
        &["system:masters"],
    )?)
    .await?;
    let node_config = |n: &str| {
        kubeconfig(
            dir.path(),
            &url,
            &format!("system:node:{n}"),
            &["system:nodes"],
        )
    };

    let target = named_server("127.0.0.7", 0, "on-a").await?;
    named_server("127.0.0.9", target, "on-c").await?;
    let published = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    service(&admin, "web", published, target).await?;
    let a = Agent::start(&node_config("a")?, "a", "127.0.0.2", Some("127.0.0.7")).await?;
    let b = Agent::start(&node_config("b")?, "b", "127.0.0.3", None).await?;
    create_assigned(
        &admin,
        &bound_task("web.1", "web", "a", template("sim/server")),
    )
    .await?;
    wait_state(&admin, "web.1", TaskState::Running, WAIT).await;
    set_running_nodes(&admin, "web", &["a"]).await?;
    let through_b = format!("127.0.0.3:{published}");
    wait_for("web on a through b", WAIT, || async {
        (ask(&through_b).await.as_deref() == Some("on-a")).then_some(())
    })
    .await;

    // The api-server goes away for a few seconds (every watch breaks, re-lists fail), and a new
    // one comes up over the same etcd behind the same address.
    proxy.cut();
    serving.abort();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (second, serving) = api_server(etcd.endpoint(), dir.path()).await?;
    proxy.resume(second);

    // Node c joins after the restart and takes web over from a.
    let c = Agent::start(&node_config("c")?, "c", "127.0.0.4", Some("127.0.0.9")).await?;
    create_assigned(
        &admin,
        &bound_task("web.2", "web", "c", template("sim/server")),
    )
    .await?;
    wait_state(&admin, "web.2", TaskState::Running, WAIT).await;
    set_desired(&admin, "web.1", TaskState::Shutdown).await?;
    wait_state(&admin, "web.1", TaskState::Shutdown, WAIT).await;
    set_running_nodes(&admin, "web", &["c"]).await?;
    for node in ["127.0.0.2", "127.0.0.3"] {
        let mesh = format!("{node}:{published}");
        wait_for(&format!("web on c through {mesh}"), WAIT, || async {
            (ask(&mesh).await.as_deref() == Some("on-c")).then_some(())
        })
        .await;
    }

    for agent in [a, b, c] {
        agent.stop().await?;
    }
    serving.abort();
    Ok(())
}
