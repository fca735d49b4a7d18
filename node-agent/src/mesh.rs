//! The routing mesh: the agent listens on every ingress-published port of every service on its
//! node address, TCP ([`tcp`]) and UDP ([`udp`], per-client flows), and
//! forwards to a Running task of that service — one on this node first (its container address,
//! from this node's own runtime), else another node that runs one (round robin).
//! A node with no task of the service still serves.
//!
//! What a node trusts about the others: only the control plane's word. The nodes running a
//! service's tasks come from the service's `status.runningNodes`, which the controller-manager
//! derives from the Tasks the scheduler bound (a node cannot write it); traffic for a task on
//! another node goes to that node's own address (`status.addr` of its SwarmNode) at the published
//! port, where that node's mesh hands it to its local task. A connection that arrives from another
//! node's address is handed only to a local task, never forwarded again, so two meshes cannot
//! bounce a connection between them; a mesh forwarding to another node speaks from its own node
//! address so that the other side can tell. The annotation [`ENDPOINTS_ANNOTATION`] a node writes
//! on its SwarmNode says what it serves locally, for people and tests; no mesh reads it.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use flotilla_api::endpoint::PortProtocol;
use flotilla_api::SwarmService;
use futures::{StreamExt, TryStreamExt};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use publish::{publish, ENDPOINTS_ANNOTATION};

use crate::agent::AgentConfig;
use crate::endpoints::Endpoints;

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("node address {0:?} is not an IP address")]
    Address(String),
}

use mirror::Mirror;

pub mod flows;
pub mod mirror;
mod publish;
mod routes;
mod tcp;
pub mod udp;

pub use routes::{pick, remote_backends, routes_of, Backend, Published, Route};

/// Binds with `bind`, retrying (bounded) while the address is in use: a port served again right
/// after its previous listener was aborted may not be released yet.
async fn bind_retrying<T, F, Fut>(bind: F) -> std::io::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<T>>,
{
    const ATTEMPTS: u32 = 25;
    let mut attempt = 1;
    loop {
        match bind().await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempt < ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            bound => return bound,
        }
    }
}

/// The listeners of one node and the tables they route by.
pub struct Mesh {
    client: Client,
    node: String,
    address: String,
    local: Arc<Endpoints>,
    routes: Arc<RwLock<HashMap<Published, Route>>>,
    /// Other nodes' addresses, by node name.
    peers: Arc<RwLock<BTreeMap<String, IpAddr>>>,
    turn: Arc<AtomicUsize>,
}

impl Mesh {
    pub fn new(client: Client, config: &AgentConfig, local: Arc<Endpoints>) -> Mesh {
        Mesh {
            client,
            node: config.node_name.clone(),
            address: config.node_address.clone(),
            local,
            routes: Arc::default(),
            peers: Arc::default(),
            turn: Arc::default(),
        }
    }

    /// Serves until `stop` flips.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let nodes = tokio::spawn(this.clone().watch_nodes());
        let mut services = watcher::watcher(
            Api::<SwarmService>::all(this.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .boxed();
        let mut known: Mirror<SwarmService> = Mirror::default();
        let mut listeners: HashMap<Published, JoinHandle<()>> = HashMap::new();
        let key = |s: &SwarmService| {
            format!(
                "{}/{}",
                s.metadata.namespace.clone().unwrap_or_default(),
                s.metadata.name.clone().unwrap_or_default()
            )
        };
        loop {
            let event = tokio::select! {
                _ = stop.changed() => break,
                e = services.try_next() => e,
            };
            let changed = match event {
                Ok(Some(event)) => known.apply(event, key, Some),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "mesh service watch failed; retrying");
                    false
                }
            };
            if changed {
                this.reconcile(known.current(), &mut listeners);
            }
        }
        nodes.abort();
        for (_, l) in listeners {
            l.abort();
        }
    }

    fn reconcile(
        self: &Arc<Self>,
        known: &BTreeMap<String, SwarmService>,
        listeners: &mut HashMap<Published, JoinHandle<()>>,
    ) {
        let wanted: HashMap<Published, Route> = known.values().flat_map(routes_of).collect();
        listeners.retain(|port, handle| {
            let keep = wanted.contains_key(port);
            if !keep {
                handle.abort();
            }
            keep
        });
        for published in wanted.keys() {
            if !listeners.contains_key(published) {
                let this = self.clone();
                let serve = match published.protocol {
                    PortProtocol::Udp => tokio::spawn(this.serve_udp(published.port)),
                    _ => tokio::spawn(this.serve_tcp(published.port)),
                };
                listeners.insert(*published, serve);
            }
        }
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = wanted;
    }

    fn route(&self, protocol: PortProtocol, port: u16) -> Option<Route> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes.get(&Published { protocol, port }).cloned()
    }

    /// Where a connection `from` a client to `port` may go: (this node's Running tasks, other
    /// nodes' meshes — see [`remote_backends`]).
    fn backends(
        &self,
        port: u16,
        route: &Route,
        from: IpAddr,
    ) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        let local = self.local.backends(&route.service);
        let local = local
            .into_iter()
            .map(|ip| SocketAddr::new(ip, route.target_port))
            .collect();
        let peers = self.peers.read().unwrap_or_else(|e| e.into_inner());
        let remote = remote_backends(&route.nodes, &self.node, &peers, port, from);
        (local, remote)
    }

    /// The backend a new connection or flow goes to ([`pick`]).
    fn choose(&self, port: u16, route: &Route, from: IpAddr) -> Option<Backend> {
        let (local, remote) = self.backends(port, route, from);
        let addr = pick(&local, &remote, self.turn.fetch_add(1, Ordering::Relaxed))?;
        Some(Backend {
            addr,
            via_peer: local.is_empty(),
        })
    }

    /// The address to speak from towards `backend`: our node address when it is another node's
    /// mesh (so that it serves the connection locally), else any.
    fn source_for(&self, backend: Backend) -> SocketAddr {
        let ip = self
            .address
            .parse::<IpAddr>()
            .ok()
            .filter(|ip| backend.via_peer && ip.is_ipv4() == backend.addr.is_ipv4());
        let any = if backend.addr.is_ipv4() {
            IpAddr::from([0u8; 4])
        } else {
            IpAddr::from([0u16; 8])
        };
        SocketAddr::new(ip.unwrap_or(any), 0)
    }
}

#[cfg(test)]
#[path = "mesh_tests.rs"]
mod tests;
