//! Allocator (docs/swarm-model.md#allocator, #ingress-ports): network subnets and VXLAN IDs ([`crate::vni`]), ingress published ports (30000–32767 when 0,
//! sticky, unique per protocol cluster-wide), a VIP per service per network, task addresses,
//! each node's load-balancer address per network it serves ([`crate::lb`]);
//! NEW → PENDING only once the service's endpoint is allocated.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use flotilla_api::endpoint::{
    EndpointMode, EndpointStatus, PortConfig, PortProtocol, PublishMode, VirtualIp,
};
use flotilla_api::node::NodeNetworkAttachment;
use flotilla_api::task::NetworkAttachment;
use flotilla_api::{SwarmNetwork, SwarmNode, SwarmService, TaskState};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::json;

use crate::action::{Action, Event};
use crate::ipam::{addr_of, free_subnet, Subnet};
use crate::lb;
use crate::snapshot::{key_of, ns_of, observed, Snapshot};

pub const DYNAMIC_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;
pub const CONDITION: &str = "EndpointAllocated";

fn ingress(p: &PortConfig) -> bool {
    p.publish_mode.unwrap_or(PublishMode::Ingress) == PublishMode::Ingress
}

fn proto(p: &PortConfig) -> PortProtocol {
    p.protocol.unwrap_or(PortProtocol::Tcp)
}

struct Network {
    subnet: Subnet,
    gateway: Ipv4Addr,
    /// Offset where the allocator's addresses end: an attachable network keeps its top quarter
    /// for standalone containers ([`flotilla_api::network::standalone_range`]).
    end: u32,
}

/// Cluster-wide bookkeeping for one round.
struct Pool<'a> {
    ports: HashMap<(PortProtocol, i64), (String, String)>,
    networks: HashMap<(String, String), Network>,
    ingress: Option<&'a SwarmNetwork>,
    used: HashMap<String, HashSet<Ipv4Addr>>,
}

pub fn reconcile(snap: &Snapshot) -> Vec<Action> {
    let mut actions = allocate_networks(snap);
    actions.extend(crate::vni::reconcile(snap));
    let mut pool = Pool::new(snap);
    let mut services: Vec<&SwarmService> = snap
        .services
        .iter()
        .map(|s| s.as_ref())
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .collect();
    services.sort_by_key(|s| {
        (
            s.metadata.creation_timestamp.clone().map(|t| t.0),
            key_of(*s),
        )
    });
    for svc in services {
        actions.extend(pool.service(snap, svc));
    }
    actions.extend(pool.nodes(snap));
    actions
}

/// Networks without a subnet get the next free 10.0.N.0/24; every network records its subnet.
fn allocate_networks(snap: &Snapshot) -> Vec<Action> {
    let mut taken: Vec<Subnet> = snap.networks.iter().filter_map(|n| subnet_of(n)).collect();
    let mut actions = Vec::new();
    for net in snap
        .networks
        .iter()
        .filter(|n| n.status.as_ref().and_then(|s| s.allocated) != Some(true))
    {
        let subnet = match &net.spec.subnet {
            Some(cidr) => match Subnet::parse(cidr) {
                Ok(s) => s,
                Err(e) => {
                    actions.push(Event::about(
                        net.as_ref(),
                        true,
                        "AllocationFailed",
                        e.to_string(),
                    ));
                    continue;
                }
            },
            None => match free_subnet(&taken) {
                Some(s) => s,
                None => continue,
            },
        };
        taken.push(subnet);
        let gateway = net
            .spec
            .gateway
            .clone()
            .unwrap_or_else(|| subnet.gateway().to_string());
        let patch = json!({"allocated": true, "subnet": subnet.to_string(), "gateway": gateway});
        actions.push(Action::NetworkStatus {
            ns: ns_of(net.as_ref()),
            name: net.name_any(),
            patch,
        });
    }
    actions
}

fn lb_addresses(node: &SwarmNode) -> &[NodeNetworkAttachment] {
    node.status
        .as_ref()
        .map_or(&[], |s| s.network_attachments.as_slice())
}

fn subnet_of(net: &SwarmNetwork) -> Option<Subnet> {
    let cidr = net
        .status
        .as_ref()
        .and_then(|s| s.subnet.clone())
        .or_else(|| net.spec.subnet.clone())?;
    Subnet::parse(&cidr).ok()
}

impl<'a> Pool<'a> {
    fn new(snap: &'a Snapshot) -> Pool<'a> {
        let mut pool = Pool {
            ports: HashMap::new(),
            networks: HashMap::new(),
            ingress: None,
            used: HashMap::new(),
        };
        for net in snap
            .networks
            .iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.allocated) == Some(true))
        {
            let Some(subnet) = subnet_of(net) else {
                continue;
            };
            let gateway = net
                .status
                .as_ref()
                .and_then(|s| s.gateway.as_deref())
                .and_then(addr_of)
                .unwrap_or(subnet.gateway());
            if net.spec.ingress == Some(true) {
                pool.ingress = Some(net.as_ref());
            }
            let standalone = net.spec.attachable == Some(true)
                && flotilla_api::network::standalone_range(&subnet.to_string()).is_some();
            let end = if standalone {
                subnet.size() / 4 * 3
            } else {
                subnet.size() - 1
            };
            pool.networks.insert(
                (ns_of(net.as_ref()), net.name_any()),
                Network {
                    subnet,
                    gateway,
                    end,
                },
            );
        }
        for svc in snap
            .services
            .iter()
            .filter(|s| s.metadata.deletion_timestamp.is_none())
        {
            let Some(ep) = svc.status.as_ref().and_then(|s| s.endpoint.as_ref()) else {
                continue;
            };
            for p in ep.ports.iter().filter(|p| ingress(p)) {
                if let Some(port) = p.published_port {
                    pool.ports.insert(
                        (proto(p), port),
                        (key_of(svc.as_ref()), svc.uid().unwrap_or_default()),
                    );
                }
            }
            for vip in &ep.virtual_ips {
                pool.mark(&ns_of(svc.as_ref()), &vip.network, &vip.addr);
            }
        }
        // A task holds its addresses until it is to be removed, finished or not.
        let live = snap
            .tasks
            .iter()
            .filter(|t| t.spec.desired_state < TaskState::Remove)
            .map(|t| (ns_of(t.as_ref()), &t.spec.networks[..]));
        let past = snap
            .past
            .iter()
            .filter(|p| p.desired_state < TaskState::Remove)
            .map(|p| (p.namespace().to_string(), &p.networks[..]));
        for (ns, networks) in live.chain(past) {
            for att in networks {
                for addr in &att.addresses {
                    pool.mark(&ns, &att.network, addr);
                }
            }
        }
        for att in snap.nodes.iter().flat_map(|n| lb_addresses(n)) {
            for addr in &att.addresses {
                pool.mark(&att.namespace, &att.network, addr);
            }
        }
        pool
    }

    /// Every node's load-balancer addresses: a status patch for each node whose set changes.
    fn nodes(&mut self, snap: &Snapshot) -> Vec<Action> {
        let ingress = self.ingress.map(|i| i.name_any());
        let served = lb::served(snap, ingress.as_deref());
        let mut nodes: Vec<&SwarmNode> = snap.nodes.iter().map(|n| n.as_ref()).collect();
        nodes.sort_by_key(|n| n.name_any());
        let mut actions = Vec::new();
        for node in nodes {
            let name = node.name_any();
            let current = lb_addresses(node);
            let nets = served.get(&name).cloned().unwrap_or_default();
            let wanted = lb::wanted(current, &nets, |(ns, net)| {
                self.allocate_ip(ns, net)
                    .inspect_err(|e| tracing::warn!(node = %name, network = %net, error = %e, "no load-balancer address"))
                    .ok()
            });
            if wanted != current {
                let patch = json!({ "networkAttachments": wanted });
                actions.push(Action::NodeStatus { name, patch });
            }
        }
        actions
    }

    fn network_key(&self, ns: &str, name: &str) -> (String, String) {
        match self.ingress {
            Some(i) if i.name_any() == name => (ns_of(i), name.to_string()),
            _ => (ns.to_string(), name.to_string()),
        }
    }

    fn mark(&mut self, ns: &str, network: &str, cidr: &str) {
        let (ns, name) = self.network_key(ns, network);
        if let Some(ip) = addr_of(cidr) {
            self.used
                .entry(format!("{ns}/{name}"))
                .or_default()
                .insert(ip);
        }
    }

    fn allocate_ip(&mut self, ns: &str, network: &str) -> Result<String, String> {
        let key = self.network_key(ns, network);
        let net = self
            .networks
            .get(&key)
            .ok_or_else(|| format!("network {network:?} not found or not yet allocated"))?;
        let used = self.used.entry(format!("{}/{}", key.0, key.1)).or_default();
        net.subnet
            .allocate_below(used, net.gateway, net.end)
            .map_err(|e| e.to_string())
    }

    /// Networks a service's tasks attach to: the template's, plus ingress when publishing through it.
    fn attached(&self, svc: &SwarmService) -> Vec<String> {
        let mut nets: Vec<String> = svc
            .spec
            .task_template
            .networks
            .iter()
            .map(|n| n.target.clone())
            .collect();
        let ports = svc.spec.endpoint.iter().flat_map(|e| e.ports.iter());
        if ports.clone().any(ingress) {
            if let Some(i) = self.ingress {
                nets.push(i.name_any());
            }
        }
        nets
    }

    fn service(&mut self, snap: &Snapshot, svc: &SwarmService) -> Vec<Action> {
        let wanted = match self.endpoint(svc) {
            Ok(ep) => ep,
            Err(message) => return failed(svc, message),
        };
        let current = svc.status.as_ref().and_then(|s| s.endpoint.clone());
        if current.as_ref() != Some(&wanted) {
            let cond = condition(svc, "True", "Allocated", "ports and virtual IPs allocated");
            let patch = json!({"endpoint": wanted, "conditions": [cond]});
            return vec![Action::ServiceStatus {
                ns: ns_of(svc),
                name: svc.name_any(),
                patch,
            }];
        }
        let mut actions = Vec::new();
        let ns = ns_of(svc);
        let attached = self.attached(svc);
        for task in snap.tasks_of(svc).iter().filter(|t| {
            observed(t) == TaskState::New && t.spec.desired_state <= TaskState::Complete
        }) {
            // Addresses first, Pending once the cache shows them: two writes of one round could
            // leave a task Pending without addresses (only the first failed) for good.
            if !holds_addresses(task, &attached) {
                let mut networks = Vec::new();
                for net in &attached {
                    match self.allocate_ip(&ns, net) {
                        Ok(addr) => networks.push(NetworkAttachment {
                            network: net.clone(),
                            addresses: vec![addr],
                            aliases: vec![],
                        }),
                        Err(e) => return failed(svc, format!("task {}: {e}", task.name_any())),
                    }
                }
                actions.push(Action::TaskNetworks {
                    ns: ns.clone(),
                    name: task.name_any(),
                    networks,
                });
                continue;
            }
            actions.push(Action::TaskState {
                ns: ns.clone(),
                name: task.name_any(),
                state: TaskState::Pending,
                message: "pending task scheduling".into(),
                err: None,
            });
        }
        actions
    }

    /// The endpoint the service should have, or Swarm's message for why it cannot.
    fn endpoint(&mut self, svc: &SwarmService) -> Result<EndpointStatus, String> {
        let key = key_of(svc);
        let uid = svc.uid().unwrap_or_default();
        let spec = svc.spec.endpoint.clone().unwrap_or_default();
        let previous = svc
            .status
            .as_ref()
            .and_then(|s| s.endpoint.clone())
            .unwrap_or_default();
        let mut ports = Vec::new();
        let mut mine = Vec::new();
        for p in &spec.ports {
            let mut p = p.clone();
            if ingress(&p) {
                let published = match p.published_port.filter(|n| *n > 0) {
                    Some(port) => match self.ports.get(&(proto(&p), port)) {
                        Some((owner, owner_uid)) if *owner != key => {
                            let owner_name = owner.rsplit('/').next().unwrap_or(owner);
                            return Err(format!("port '{port}' is already in use by service '{owner_name}' ({owner_uid}) as an ingress port"));
                        }
                        _ => port,
                    },
                    None => self.sticky_or_free(&previous, &p, &key)?,
                };
                p.published_port = Some(published);
                mine.push((proto(&p), published));
            }
            ports.push(p);
        }
        for claim in mine {
            self.ports.insert(claim, (key.clone(), uid.clone()));
        }
        let mut virtual_ips = Vec::new();
        if spec.mode.unwrap_or(EndpointMode::Vip) == EndpointMode::Vip {
            for net in self.attached(svc) {
                let kept = previous
                    .virtual_ips
                    .iter()
                    .find(|v| v.network == net)
                    .map(|v| v.addr.clone());
                let addr = match kept {
                    Some(addr) => addr,
                    None => self
                        .allocate_ip(&ns_of(svc), &net)
                        .map_err(|e| format!("could not allocate VIP on network {net:?}: {e}"))?,
                };
                virtual_ips.push(VirtualIp { network: net, addr });
            }
        }
        Ok(EndpointStatus { ports, virtual_ips })
    }

    fn sticky_or_free(
        &self,
        previous: &EndpointStatus,
        p: &PortConfig,
        key: &str,
    ) -> Result<i64, String> {
        let kept = previous.ports.iter().find(|o| {
            o.target_port == p.target_port && proto(o) == proto(p) && ingress(o) && o.name == p.name
        });
        if let Some(port) = kept.and_then(|o| o.published_port) {
            if self
                .ports
                .get(&(proto(p), port))
                .is_none_or(|(owner, _)| owner == key)
            {
                return Ok(port);
            }
        }
        DYNAMIC_PORTS
            .clone()
            .find(|n| !self.ports.contains_key(&(proto(p), *n)))
            .ok_or_else(|| "no free port in the dynamic range 30000-32767".to_string())
    }
}

/// Whether `task` has an address on each of `networks`.
fn holds_addresses(task: &flotilla_api::Task, networks: &[String]) -> bool {
    networks.iter().all(|n| {
        let on = |a: &NetworkAttachment| &a.network == n && !a.addresses.is_empty();
        task.spec.networks.iter().any(on)
    })
}

fn condition(svc: &SwarmService, status: &str, reason: &str, message: &str) -> serde_json::Value {
    json!({"type": CONDITION, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": Timestamp::now(), "observedGeneration": svc.metadata.generation})
}

/// Allocation failed: a False condition and a Warning event; tasks stay NEW.
fn failed(svc: &SwarmService, message: String) -> Vec<Action> {
    let already = svc.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == CONDITION && c.status == "False" && c.message == message)
    });
    let mut actions = vec![Event::about(svc, true, "AllocationFailed", message.clone())];
    if !already {
        let patch = json!({"conditions": [condition(svc, "False", "AllocationFailed", &message)]});
        actions.push(Action::ServiceStatus {
            ns: ns_of(svc),
            name: svc.name_any(),
            patch,
        });
    }
    actions
}

#[cfg(test)]
#[path = "allocator_tests.rs"]
mod tests;
