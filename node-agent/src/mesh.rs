//! The routing mesh: the agent listens on every ingress-published port of every service on its
//! node address, TCP ([`mesh_tcp`](tcp)) and UDP ([`mesh_udp`](udp), per-client flows), and
//! forwards to a Running task of that service — one on this node first, else one on any node
//! (round robin). A node with no task of the service still serves.
//!
//! Nodes may not read each other's Tasks, so each agent publishes its Running tasks' container
//! addresses in the annotation [`ENDPOINTS_ANNOTATION`] of its own SwarmNode (which every node may
//! read); that is this stand-in's gossip.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use flotilla_api::endpoint::{PortConfig, PortProtocol, PublishMode};
use flotilla_api::{SwarmNode, SwarmService};
use futures::{StreamExt, TryStreamExt};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::mesh_publish::{publish, ENDPOINTS_ANNOTATION};

use crate::agent::AgentConfig;
use crate::endpoints::Endpoints;

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("node address {0:?} is not an IP address")]
    Address(String),
}

#[path = "mesh_flows.rs"]
pub mod flows;
#[path = "mesh_tcp.rs"]
mod tcp;
#[path = "mesh_udp.rs"]
pub mod udp;

/// A port the mesh serves: ingress-published port and its protocol (TCP and UDP are separate
/// ports, as in Swarm: `53/tcp` and `53/udp` may lead to different services).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Published {
    pub protocol: PortProtocol,
    pub port: u16,
}

/// Where a published port leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// `<namespace>/<service>`.
    pub service: String,
    pub target_port: u16,
}

/// The ingress TCP and UDP ports a service publishes: `status.endpoint.ports` (allocated) if set,
/// else the spec's ports that name a published port. SCTP is not served.
pub fn routes_of(service: &SwarmService) -> Vec<(Published, Route)> {
    let ns = service.metadata.namespace.clone().unwrap_or_default();
    let name = service.metadata.name.clone().unwrap_or_default();
    let status_ports = service
        .status
        .as_ref()
        .and_then(|s| s.endpoint.as_ref())
        .map(|e| e.ports.clone())
        .unwrap_or_default();
    let ports: Vec<PortConfig> = if status_ports.is_empty() {
        service
            .spec
            .endpoint
            .clone()
            .map(|e| e.ports)
            .unwrap_or_default()
    } else {
        status_ports
    };
    ports
        .iter()
        .filter(|p| p.publish_mode.unwrap_or(PublishMode::Ingress) == PublishMode::Ingress)
        .filter_map(|p| {
            let protocol = p.protocol.unwrap_or(PortProtocol::Tcp);
            if protocol == PortProtocol::Sctp {
                return None;
            }
            let port = u16::try_from(p.published_port?).ok()?;
            let target_port = u16::try_from(p.target_port).ok()?;
            let route = Route {
                service: format!("{ns}/{name}"),
                target_port,
            };
            Some((Published { protocol, port }, route))
        })
        .collect()
}

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

/// Picks a backend: local ones first, else remote ones, round robin by `turn`.
pub fn pick(local: &[IpAddr], remote: &[IpAddr], turn: usize) -> Option<IpAddr> {
    let pool = if local.is_empty() { remote } else { local };
    if pool.is_empty() {
        return None;
    }
    Some(pool[turn % pool.len()])
}

type Remote = BTreeMap<String, BTreeMap<String, BTreeSet<IpAddr>>>;

/// The listeners of one node and the tables they route by.
pub struct Mesh {
    client: Client,
    node: String,
    address: String,
    local: Arc<Endpoints>,
    routes: Arc<RwLock<HashMap<Published, Route>>>,
    remote: Arc<RwLock<Remote>>,
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
            remote: Arc::default(),
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
        let mut known: BTreeMap<String, SwarmService> = BTreeMap::new();
        let mut listeners: HashMap<Published, JoinHandle<()>> = HashMap::new();
        loop {
            let event = tokio::select! {
                _ = stop.changed() => break,
                e = services.try_next() => e,
            };
            let key = |s: &SwarmService| {
                format!(
                    "{}/{}",
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default()
                )
            };
            match event {
                Ok(Some(Event::Apply(s))) | Ok(Some(Event::InitApply(s))) => {
                    known.insert(key(&s), s);
                }
                Ok(Some(Event::Delete(s))) => {
                    known.remove(&key(&s));
                }
                Ok(Some(Event::Init)) => known.clear(),
                Ok(Some(Event::InitDone)) => {}
                Ok(None) => break,
                Err(e) => tracing::warn!(error = %e, "mesh service watch failed; retrying"),
            }
            this.reconcile(&known, &mut listeners);
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

    /// The route's Running tasks: (on this node, on other nodes).
    fn backends(&self, route: &Route) -> (Vec<IpAddr>, Vec<IpAddr>) {
        let local = self.local.backends(&route.service);
        let remote = self.remote.read().unwrap_or_else(|e| e.into_inner());
        let remote = remote
            .values()
            .filter_map(|services| services.get(&route.service))
            .flatten()
            .copied()
            .collect();
        (local, remote)
    }

    /// The task a new connection or flow goes to ([`pick`]).
    fn choose(&self, route: &Route) -> Option<IpAddr> {
        let (local, remote) = self.backends(route);
        pick(&local, &remote, self.turn.fetch_add(1, Ordering::Relaxed))
    }

    /// Keeps the other nodes' published endpoints current.
    async fn watch_nodes(self: Arc<Self>) {
        let mut nodes = watcher::watcher(
            Api::<SwarmNode>::all(self.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .boxed();
        while let Ok(event) = nodes.try_next().await {
            let mut remote = self.remote.write().unwrap_or_else(|e| e.into_inner());
            match event {
                Some(Event::Apply(n)) | Some(Event::InitApply(n)) => {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    if name != self.node {
                        remote.insert(name, crate::mesh_publish::read_endpoints(&n));
                    }
                }
                Some(Event::Delete(n)) => {
                    remote.remove(n.metadata.name.as_deref().unwrap_or_default());
                }
                Some(Event::Init) => remote.clear(),
                Some(Event::InitDone) => {}
                None => return,
            }
        }
    }
}

#[cfg(test)]
#[path = "mesh_tests.rs"]
mod tests;
