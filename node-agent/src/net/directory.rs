//! The names and addresses a node's DNS and VIP proxies serve, as a pure table built from the
//! SwarmServices (routing view) and SwarmNetworks the agent watches.
//!
//! Visibility follows Swarm: a client sees only the services that share a network with it. The
//! client is known by its source address: the network whose subnet holds it, plus every network
//! of the service that address belongs to (a task on two networks asks through the first).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use flotilla_api::endpoint::EndpointMode;
use flotilla_api::{SwarmNetwork, SwarmNode, SwarmService};

/// `(namespace, network name)`.
pub type NetKey = (String, String);

/// One network as the node needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetInfo {
    pub base: u32,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// The overlay's VXLAN ID, once the allocator gave one.
    pub vni: Option<u32>,
}

impl NetInfo {
    fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
        u32::from(ip) & mask == self.base & mask
    }
}

/// One service on one network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub vip: Option<Ipv4Addr>,
    pub tasks: Vec<Ipv4Addr>,
    /// TCP ports the VIP serves (the endpoint's target ports).
    pub ports: Vec<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Service {
    dnsrr: bool,
}

/// Everything the DNS server and the VIP proxies answer from.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub networks: BTreeMap<NetKey, NetInfo>,
    /// `(namespace, service)` → mode.
    services: BTreeMap<(String, String), Service>,
    /// `(namespace, service, network)` → entry.
    pub entries: BTreeMap<(String, String, String), Entry>,
    /// This node's load-balancer address on each network (its SwarmNode's `networkAttachments`).
    pub lb: BTreeMap<NetKey, Ipv4Addr>,
}

/// What a DNS query gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The name exists for this client: its IPv4 addresses (possibly none).
    Found(Vec<Ipv4Addr>),
    NotFound,
}

fn ipv4(cidr: &str) -> Option<Ipv4Addr> {
    cidr.split('/').next()?.parse().ok()
}

fn net_info(net: &SwarmNetwork) -> Option<NetInfo> {
    let status = net.status.as_ref()?;
    let (addr, prefix) = status.subnet.as_deref()?.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|p| (8..=30).contains(p))?;
    let base = u32::from(addr) & (u32::MAX << (32 - prefix));
    let gateway = status
        .gateway
        .as_deref()
        .and_then(ipv4)
        .unwrap_or(Ipv4Addr::from(base + 1));
    Some(NetInfo {
        base,
        prefix,
        gateway,
        vni: status.vni,
    })
}

impl Directory {
    pub fn build<'a>(
        services: impl IntoIterator<Item = &'a SwarmService>,
        networks: impl IntoIterator<Item = &'a SwarmNetwork>,
    ) -> Directory {
        let mut dir = Directory::default();
        for net in networks {
            let ns = net.metadata.namespace.clone().unwrap_or_default();
            let name = net.metadata.name.clone().unwrap_or_default();
            if let Some(info) = net_info(net) {
                dir.networks.insert((ns, name), info);
            }
        }
        for svc in services {
            dir.add_service(svc);
        }
        dir
    }

    /// Takes this node's load-balancer addresses from its SwarmNode.
    pub fn set_lb(&mut self, node: Option<&SwarmNode>) {
        let atts = node
            .and_then(|n| n.status.as_ref())
            .map(|s| s.network_attachments.as_slice())
            .unwrap_or_default();
        self.lb = atts
            .iter()
            .filter_map(|a| {
                let addr = a.addresses.first().and_then(|a| ipv4(a))?;
                Some(((a.namespace.clone(), a.network.clone()), addr))
            })
            .collect();
    }

    /// The address the VIP proxy connects to `vip`'s tasks from: this node's load-balancer
    /// address on the VIP's network, which no other node holds, so a task on another node
    /// answers over the overlay (none: the kernel picks the bridge's gateway, shared by all).
    pub fn source(&self, vip: Ipv4Addr) -> Option<Ipv4Addr> {
        self.entries
            .iter()
            .filter(|(_, e)| e.vip == Some(vip))
            .find_map(|((ns, _, net), _)| self.lb.get(&(ns.clone(), net.clone())).copied())
    }

    fn add_service(&mut self, svc: &SwarmService) {
        if svc.metadata.deletion_timestamp.is_some() {
            return;
        }
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let endpoint = svc.spec.endpoint.clone().unwrap_or_default();
        let dnsrr = endpoint.mode == Some(EndpointMode::Dnsrr);
        let ports: Vec<u16> = endpoint
            .ports
            .iter()
            .filter_map(|p| u16::try_from(p.target_port).ok())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.services
            .insert((ns.clone(), name.clone()), Service { dnsrr });
        let Some(status) = svc.status.as_ref() else {
            return;
        };
        let vips = status.endpoint.iter().flat_map(|e| e.virtual_ips.iter());
        for vip in vips.filter(|_| !dnsrr) {
            let e = self.entry(&ns, &name, &vip.network);
            e.vip = ipv4(&vip.addr);
            e.ports = ports.clone();
        }
        for att in &status.task_addresses {
            let e = self.entry(&ns, &name, &att.network);
            e.tasks = att.addresses.iter().filter_map(|a| ipv4(a)).collect();
        }
    }

    fn entry(&mut self, ns: &str, svc: &str, net: &str) -> &mut Entry {
        self.entries
            .entry((ns.to_string(), svc.to_string(), net.to_string()))
            .or_default()
    }

    /// The networks a client at `src` is on.
    pub fn client_networks(&self, src: Ipv4Addr) -> BTreeSet<NetKey> {
        let mut nets: BTreeSet<NetKey> = self
            .networks
            .iter()
            .filter(|(_, info)| info.contains(src))
            .map(|(k, _)| k.clone())
            .collect();
        let owners: BTreeSet<(String, String)> = self
            .entries
            .iter()
            .filter(|((ns, _, net), e)| {
                e.tasks.contains(&src) && nets.contains(&(ns.clone(), net.clone()))
            })
            .map(|((ns, svc, _), _)| (ns.clone(), svc.clone()))
            .collect();
        for (ns, svc, net) in self.entries.keys() {
            if owners.contains(&(ns.clone(), svc.clone())) {
                nets.insert((ns.clone(), net.clone()));
            }
        }
        nets
    }

    /// The answer to an A query for `name` from `src`: `<service>` (its VIP, or in `dnsrr`
    /// mode its task addresses) or `tasks.<service>`, on the networks the client shares.
    pub fn resolve(&self, src: Ipv4Addr, name: &str) -> Answer {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let (tasks_only, svc) = match name.strip_prefix("tasks.") {
            Some(svc) => (true, svc.to_string()),
            None => (false, name),
        };
        let client = self.client_networks(src);
        let mut found = false;
        let mut addrs: Vec<Ipv4Addr> = Vec::new();
        for (ns, net) in &client {
            let key = (ns.clone(), svc.clone(), net.clone());
            let Some(service) = self.services.get(&(ns.clone(), svc.clone())) else {
                continue;
            };
            let Some(e) = self.entries.get(&key) else {
                continue;
            };
            found = true;
            match (tasks_only || service.dnsrr, e.vip) {
                (false, Some(vip)) => {
                    if addrs.is_empty() {
                        addrs.push(vip);
                    }
                    return Answer::Found(addrs);
                }
                _ => addrs.extend(e.tasks.iter().copied()),
            }
        }
        if found {
            Answer::Found(addrs)
        } else {
            Answer::NotFound
        }
    }

    /// Every VIP with the network it lives on and the ports it serves.
    pub fn vips(&self) -> Vec<(NetKey, Ipv4Addr, Vec<u16>)> {
        self.entries
            .iter()
            .filter_map(|((ns, _, net), e)| {
                Some(((ns.clone(), net.clone()), e.vip?, e.ports.clone()))
            })
            .collect()
    }

    /// Whether a client at `src` may use `vip`: only from the VIP's own network (the VIP is a
    /// host address, which every bridge could otherwise reach through its gateway).
    pub fn may_use(&self, vip: Ipv4Addr, src: Ipv4Addr) -> bool {
        self.entries.iter().any(|((ns, _, net), e)| {
            e.vip == Some(vip)
                && self
                    .networks
                    .get(&(ns.clone(), net.clone()))
                    .is_some_and(|n| n.contains(src))
        })
    }

    /// The task addresses behind `vip` (the service's serving tasks on that network).
    pub fn backends(&self, vip: Ipv4Addr) -> Vec<Ipv4Addr> {
        self.entries
            .values()
            .find(|e| e.vip == Some(vip))
            .map(|e| e.tasks.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
