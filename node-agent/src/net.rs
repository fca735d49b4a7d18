//! Service networking on a node: the DNS server and the VIP proxies of the SwarmNetworks this
//! node has locally (see docs/networking.md).
//!
//! The node watches SwarmServices (their routing view: endpoint mode, VIPs and the addresses of
//! serving tasks, which the controller-manager publishes) and SwarmNetworks (subnets, gateways),
//! and keeps a [`Directory`] of them. For every network the runtime has on this host (the Docker
//! runtime: a bridge per network, created when a task attached to it is prepared) it answers DNS
//! on the network's gateway address, port 53 (the tasks' resolv.conf names it), and owns each
//! VIP of that network as a secondary address of the bridge, proxying `VIP:port` to the tasks.
//! A runtime without local networks (simulated) gets neither. On the CRI runtime each node's
//! bridges are its own, and the agent joins each to the other nodes' through a VXLAN overlay
//! ([`overlay`] decides the peers from the SwarmNodes it watches, [`vxlan`] makes the devices).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_api::{SwarmNetwork, SwarmNode, SwarmService};
use futures::{StreamExt, TryStreamExt};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::mesh::mirror::Mirror;
use crate::runtime::Runtime;

pub mod attach;
pub mod directory;
pub mod dns;
pub mod overlay;
pub mod vip;
pub mod vxlan;

pub use directory::{Answer, Directory, NetKey};
use vxlan::Netlink;

/// The port tasks' resolvers ask (resolv.conf cannot name another).
pub const DNS_PORT: u16 = 53;
/// How often local networks are looked for again (a task's network appears when it is prepared).
const RESCAN: Duration = Duration::from_secs(1);

/// One node's DNS servers and VIP proxies.
pub struct Net {
    client: Client,
    runtime: Arc<dyn Runtime>,
    dir: Arc<RwLock<Directory>>,
    turn: Arc<AtomicUsize>,
    dns: HashMap<Ipv4Addr, JoinHandle<()>>,
    vips: HashMap<(Ipv4Addr, u16), JoinHandle<()>>,
    /// VIP or load-balancer address → the interface it was added to.
    owned: BTreeMap<Ipv4Addr, String>,
    /// Networks seen on this host: removed here when their SwarmNetwork is deleted.
    seen: BTreeSet<(String, String)>,
    node: String,
    netlink: Option<Netlink>,
    /// Bridge → the VNI and peers its overlay was last made with.
    overlays: BTreeMap<String, (u32, BTreeSet<Ipv4Addr>)>,
}

fn key<K: kube::Resource>(o: &K) -> String {
    format!(
        "{}/{}",
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default()
    )
}

impl Net {
    pub fn new(client: Client, runtime: Arc<dyn Runtime>, node: &str) -> Net {
        let netlink = Netlink::connect()
            .inspect_err(|e| tracing::warn!(error = %e, "no netlink: no VIPs, no overlay"))
            .ok();
        Net {
            client,
            runtime,
            dir: Arc::default(),
            turn: Arc::default(),
            dns: HashMap::new(),
            vips: HashMap::new(),
            owned: BTreeMap::new(),
            seen: BTreeSet::new(),
            node: node.to_string(),
            netlink,
            overlays: BTreeMap::new(),
        }
    }

    /// Serves until `stop` flips. The VIP addresses stay on the bridges: another agent on the
    /// same engine may still serve them.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut services = watcher::watcher(
            Api::<SwarmService>::all(self.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .boxed();
        let mut networks = watcher::watcher(
            Api::<SwarmNetwork>::all(self.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .boxed();
        let mut nodes = watcher::watcher(
            Api::<SwarmNode>::all(self.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .boxed();
        let mut node_mirror: Mirror<SwarmNode> = Mirror::default();
        let mut svc_mirror: Mirror<SwarmService> = Mirror::default();
        let mut net_mirror: Mirror<SwarmNetwork> = Mirror::default();
        let mut tick = tokio::time::interval(RESCAN);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                e = services.try_next() => match e {
                    Ok(Some(e)) => { svc_mirror.apply(e, key, Some); }
                    Ok(None) => break,
                    Err(e) => tracing::warn!(error = %e, "service watch failed; retrying"),
                },
                e = networks.try_next() => match e {
                    Ok(Some(e)) => { net_mirror.apply(e, key, Some); }
                    Ok(None) => break,
                    Err(e) => tracing::warn!(error = %e, "network watch failed; retrying"),
                },
                e = nodes.try_next(), if self.runtime.overlay() => match e {
                    Ok(Some(e)) => { node_mirror.apply(e, key, Some); }
                    Ok(None) => break,
                    Err(e) => tracing::warn!(error = %e, "node watch failed; retrying"),
                },
                _ = tick.tick() => {}
            }
            let mut dir =
                Directory::build(svc_mirror.current().values(), net_mirror.current().values());
            let nodes = node_mirror.current();
            dir.set_lb(
                nodes
                    .values()
                    .find(|n| n.metadata.name.as_ref() == Some(&self.node)),
            );
            let ready = overlay::ready_nodes(node_mirror.current().values());
            let services = svc_mirror.current().values();
            let peers = dir
                .networks
                .keys()
                .map(|(ns, name)| {
                    let peers =
                        overlay::desired_peers(ns, name, services.clone(), &ready, &self.node);
                    ((ns.clone(), name.clone()), peers)
                })
                .collect();
            self.reconcile(dir, peers).await;
        }
        let dns = self.dns.drain().map(|(_, h)| h);
        for h in dns.chain(self.vips.drain().map(|(_, h)| h)) {
            h.abort();
        }
    }

    /// Swaps in `dir` and makes the listeners and overlays match it.
    async fn reconcile(&mut self, dir: Directory, peers: BTreeMap<NetKey, BTreeSet<Ipv4Addr>>) {
        let mut local: BTreeMap<(String, String), String> = BTreeMap::new();
        for (ns, name) in dir.networks.keys() {
            if let Some(iface) = self.runtime.network_interface(ns, name).await {
                local.insert((ns.clone(), name.clone()), iface);
            }
        }
        let deleted: Vec<_> = self
            .seen
            .iter()
            .filter(|k| !dir.networks.contains_key(*k))
            .cloned()
            .collect();
        for (ns, name) in deleted {
            // Retried on the next round while a container still holds it.
            self.runtime.remove_network(&ns, &name).await;
            if self.runtime.network_interface(&ns, &name).await.is_none() {
                self.seen.remove(&(ns, name));
            }
        }
        self.seen.extend(local.keys().cloned());
        let gateways: BTreeSet<Ipv4Addr> = local
            .keys()
            .filter_map(|k| dir.networks.get(k))
            .map(|n| n.gateway)
            .collect();
        // The VIPs and the LB address go on a bridge only once it holds its gateway: the CNI
        // bridge plugin refuses to add the gateway to a bridge that has another IPv4 address,
        // so an agent quicker than a task's ADD on a new bridge would fail every ADD after it.
        let mut addressable: BTreeMap<NetKey, String> = BTreeMap::new();
        for (k, iface) in &local {
            if self.holds_gateway(dir.networks.get(k), iface).await {
                addressable.insert(k.clone(), iface.clone());
            }
        }
        let mut vips: BTreeMap<(Ipv4Addr, u16), String> = BTreeMap::new();
        for (net, vip, ports) in dir.vips() {
            if let Some(iface) = addressable.get(&net) {
                for port in ports {
                    vips.insert((vip, port), iface.clone());
                }
            }
        }
        // The bridge's addresses besides its gateway: the VIPs and this node's LB address.
        let mut addresses: BTreeMap<Ipv4Addr, String> =
            vips.iter().map(|((v, _), i)| (*v, i.clone())).collect();
        for (net, lb) in &dir.lb {
            if let Some(iface) = addressable.get(net) {
                addresses.insert(*lb, iface.clone());
            }
        }
        let overlays: BTreeMap<String, (u32, BTreeSet<Ipv4Addr>)> = local
            .iter()
            .filter(|_| self.runtime.overlay())
            .filter_map(|(k, bridge)| {
                let vni = dir.networks.get(k)?.vni?;
                // No peer, no device: a lone node needs no tunnel, and an idle VXLAN device
                // holds its VNI on the host (another overlay there, e.g. Swarm's, could not
                // create one with the same ID).
                let peers = peers.get(k).filter(|p| !p.is_empty())?;
                Some((bridge.clone(), (vni, peers.clone())))
            })
            .collect();
        *self.dir.write().unwrap_or_else(|e| e.into_inner()) = dir;
        self.serve_dns(&gateways);
        self.own_addresses(addresses).await;
        self.serve_vips(&vips);
        self.make_overlays(overlays).await;
    }

    async fn holds_gateway(&self, net: Option<&directory::NetInfo>, iface: &str) -> bool {
        let (Some(netlink), Some(net)) = (&self.netlink, net) else {
            return false;
        };
        netlink
            .has_address(net.gateway, iface)
            .await
            .unwrap_or(false)
    }

    /// Gives each local bridge its VXLAN device and peers, where they changed (or failed before).
    async fn make_overlays(&mut self, wanted: BTreeMap<String, (u32, BTreeSet<Ipv4Addr>)>) {
        let Some(netlink) = self.netlink.clone() else {
            return;
        };
        let unwanted: Vec<String> = self
            .overlays
            .keys()
            .filter(|bridge| !wanted.contains_key(*bridge))
            .cloned()
            .collect();
        for bridge in unwanted {
            match netlink.remove(&vxlan::vxlan_name(&bridge)).await {
                Ok(()) => {
                    tracing::info!(bridge, "overlay removed: no peer left");
                    self.overlays.remove(&bridge);
                }
                Err(e) => tracing::warn!(bridge, error = %e, "cannot remove the overlay; retrying"),
            }
        }
        for (bridge, (vni, peers)) in wanted {
            if self.overlays.get(&bridge) == Some(&(vni, peers.clone())) {
                continue;
            }
            match netlink
                .ensure(&bridge, vni, vxlan::overlay_mtu(), &peers)
                .await
            {
                Ok(()) => {
                    tracing::info!(bridge, vni, peers = ?peers, "overlay up to date");
                    self.overlays.insert(bridge, (vni, peers));
                }
                Err(e) => {
                    tracing::warn!(bridge, vni, error = %e, "cannot make the overlay; retrying")
                }
            }
        }
    }

    fn serve_dns(&mut self, gateways: &BTreeSet<Ipv4Addr>) {
        self.dns.retain(|gw, h| {
            let keep = gateways.contains(gw) && !h.is_finished();
            if !keep {
                h.abort();
            }
            keep
        });
        for gw in gateways {
            if self.dns.contains_key(gw) {
                continue;
            }
            match vip::shared_udp(SocketAddr::from((*gw, DNS_PORT))) {
                Ok(socket) => {
                    tracing::info!(gateway = %gw, "serving service DNS");
                    let h = tokio::spawn(dns::serve(socket, self.dir.clone()));
                    self.dns.insert(*gw, h);
                }
                Err(e) => tracing::warn!(gateway = %gw, error = %e, "cannot serve DNS; retrying"),
            }
        }
    }

    /// Adds every wanted address (VIP or LB) to its bridge, and removes those no longer wanted.
    async fn own_addresses(&mut self, want: BTreeMap<Ipv4Addr, String>) {
        let gone: Vec<(Ipv4Addr, String)> = self
            .owned
            .iter()
            .filter(|(v, _)| !want.contains_key(v))
            .map(|(v, i)| (*v, i.clone()))
            .collect();
        let Some(netlink) = self.netlink.clone() else {
            return;
        };
        for (v, iface) in gone {
            if let Err(e) = netlink.address(false, v, &iface).await {
                tracing::warn!(addr = %v, iface, error = %e, "cannot remove address");
            }
            self.owned.remove(&v);
        }
        for (v, iface) in want {
            if self.owned.get(&v) == Some(&iface) {
                continue;
            }
            match netlink.address(true, v, &iface).await {
                Ok(()) => {
                    self.owned.insert(v, iface);
                }
                Err(e) => tracing::warn!(addr = %v, iface, error = %e, "cannot add address"),
            }
        }
    }

    fn serve_vips(&mut self, wanted: &BTreeMap<(Ipv4Addr, u16), String>) {
        self.vips.retain(|k, h| {
            let keep = wanted.contains_key(k) && !h.is_finished();
            if !keep {
                h.abort();
            }
            keep
        });
        for (vip, port) in wanted.keys() {
            if self.vips.contains_key(&(*vip, *port)) || !self.owned.contains_key(vip) {
                continue;
            }
            match vip::shared_tcp(SocketAddr::from((*vip, *port))) {
                Ok(l) => {
                    tracing::info!(%vip, port, "serving VIP");
                    let serve = vip::serve(l, *vip, *port, self.dir.clone(), self.turn.clone());
                    self.vips.insert((*vip, *port), tokio::spawn(serve));
                }
                Err(e) => tracing::warn!(%vip, port, error = %e, "cannot serve VIP; retrying"),
            }
        }
    }
}
