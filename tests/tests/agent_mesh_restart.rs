//! The routing mesh across an api-server restart: while agents run, the api-server goes away for
//! a few seconds (every watch breaks and re-lists fail) and a new one comes up over the same etcd
//! behind the same address. A node that joins after the restart and takes the service's task over
//! then gets the traffic of every node's mesh (a mesh whose node watch ended at the first error
//! would never learn the new node's address).

mod agent_common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::mesh::*;
use agent_common::*;
use flotilla_api::TaskState;
use flotilla_tests::apiserver::client_from;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);

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
    let serving = tokio::spawn(flotilla_api_server::app::serve(
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
    let a = start_agent(&node_config("a")?, "a", "127.0.0.2", Some("127.0.0.7")).await?;
    let b = start_agent(&node_config("b")?, "b", "127.0.0.3", None).await?;
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

    // The api-server goes away; a new one comes up over the same etcd behind the same address.
    proxy.cut();
    serving.abort();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (second, serving) = api_server(etcd.endpoint(), dir.path()).await?;
    proxy.resume(second);

    // Node c joins after the restart and takes web over from a.
    let c = start_agent(&node_config("c")?, "c", "127.0.0.4", Some("127.0.0.9")).await?;
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
