//! The netlink side of a SwarmNetwork's overlay between nodes
//! (docs/networking.md#the-overlay-between-nodes), through `rtnetlink` rather than the `ip` and
//! `bridge` commands, which the node image (`FROM scratch`) does not carry.
//!
//! Per network: a VXLAN device `vx<hash>` (the bridge's hash) with the network's VNI, UDP port
//! 4789, enslaved to the network's bridge `fl<hash>`; for every peer node an all-zero-MAC FDB
//! entry pointing at its address (`bridge fdb append 00:00:00:00:00:00 dev vx… dst <peer>`), so
//! broadcasts (ARP) go to every peer and the device learns each remote task's MAC from what
//! comes back. The device's bridge port suppresses neighbour discovery (`neigh_suppress`): the
//! bridge does not send an ARP request for one of its own addresses over the overlay. Every
//! node's bridge holds the same gateway and VIPs; without it, a task's ARP for its gateway
//! would also reach every peer, each would answer with its own bridge's MAC, and the task's
//! DNS and VIP traffic would go to whichever answer came last.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST,
};
use rtnetlink::packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkBridgePort, LinkUnspec, LinkVxlan};

/// VXLAN's IANA port, as Swarm's overlay driver and flannel use.
pub const VXLAN_PORT: u16 = 4789;
/// What VXLAN adds to a frame: outer IPv4 (20), UDP (8), VXLAN (8) and inner Ethernet (14).
pub const VXLAN_OVERHEAD: u32 = 50;
const EEXIST: i32 = 17;
const ENOENT: i32 = 2;
const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;
const ZERO_MAC: [u8; 6] = [0; 6];

/// The MTU of a SwarmNetwork's overlay (its VXLAN device and the tasks' interfaces on it): the
/// MTU of the device of this host's default route, less what VXLAN adds; 1450 when unknown.
/// A frame larger than the VXLAN device's MTU is dropped by the bridge, not fragmented, so the
/// tasks must send no larger ones.
pub fn overlay_mtu() -> u32 {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let mtu = default_route_device(&routes).and_then(|dev| {
        let path = format!("/sys/class/net/{dev}/mtu");
        std::fs::read_to_string(path)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    });
    mtu.unwrap_or(1500) - VXLAN_OVERHEAD
}

/// The device of the default route in `/proc/net/route` (destination and mask 0).
fn default_route_device(table: &str) -> Option<&str> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.len() > 7 && cols[1] == "00000000" && cols[7] == "00000000").then_some(cols[0])
    })
}

#[derive(Debug, thiserror::Error)]
pub enum VxlanError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
    #[error("no interface {0}")]
    NoLink(String),
}

/// The VXLAN device of bridge `fl<hash>`: `vx<hash>` (15 bytes at most, like the bridge's).
pub fn vxlan_name(bridge: &str) -> String {
    format!("vx{}", bridge.strip_prefix("fl").unwrap_or(bridge))
}

/// An rtnetlink connection of this network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

fn code(e: &rtnetlink::Error) -> i32 {
    match e {
        rtnetlink::Error::NetlinkError(m) => -m.raw_code(),
        _ => 0,
    }
}

impl Netlink {
    /// Must run inside a Tokio runtime (the connection is a task of it).
    pub fn connect() -> Result<Netlink, VxlanError> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    async fn link(&self, name: &str) -> Result<Option<LinkMessage>, VxlanError> {
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(e) if code(&e) == ENODEV || code(&e) == ENOENT => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn index(&self, name: &str) -> Result<u32, VxlanError> {
        let link = self.link(name).await?;
        link.map(|l| l.header.index)
            .ok_or_else(|| VxlanError::NoLink(name.to_string()))
    }

    /// Whether interface `iface` holds address `ip`.
    pub async fn has_address(&self, ip: Ipv4Addr, iface: &str) -> Result<bool, VxlanError> {
        let index = self.index(iface).await?;
        let found: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .set_address_filter(IpAddr::V4(ip))
            .execute()
            .try_collect()
            .await?;
        Ok(!found.is_empty())
    }

    /// Adds (`add`) or removes a `/32` address of interface `iface`, as `ip addr add|del`;
    /// already there (or already gone) is success.
    pub async fn address(&self, add: bool, ip: Ipv4Addr, iface: &str) -> Result<(), VxlanError> {
        let index = self.index(iface).await?;
        let addr = self.handle.address();
        if add {
            return match addr.add(index, IpAddr::V4(ip), 32).execute().await {
                Err(e) if code(&e) != EEXIST => Err(e.into()),
                _ => Ok(()),
            };
        }
        let mut found = addr
            .get()
            .set_link_index_filter(index)
            .set_address_filter(IpAddr::V4(ip))
            .execute();
        while let Some(msg) = found.try_next().await? {
            if let Err(e) = addr.del(msg).execute().await {
                if code(&e) != EADDRNOTAVAIL {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Makes bridge `bridge`'s overlay: its VXLAN device with `vni` (recreated when it has
    /// another), up, enslaved, with neighbour suppression, flooding to exactly `peers`.
    pub async fn ensure(
        &self,
        bridge: &str,
        vni: u32,
        mtu: u32,
        peers: &BTreeSet<Ipv4Addr>,
    ) -> Result<(), VxlanError> {
        let master = self.index(bridge).await?;
        let name = vxlan_name(bridge);
        let existing = self.link(&name).await?;
        if let Some(link) = &existing {
            if vni_of(link) != Some(vni) {
                tracing::info!(
                    device = name,
                    vni,
                    "VXLAN device has another VNI; recreating"
                );
                self.handle.link().del(link.header.index).execute().await?;
            }
        }
        if existing.is_none_or(|l| vni_of(&l) != Some(vni)) {
            let add = LinkVxlan::new(&name, vni)
                .port(VXLAN_PORT)
                .learning(true)
                .mtu(mtu)
                .build();
            self.handle.link().add(add).execute().await?;
            tracing::info!(device = name, vni, bridge, "created VXLAN device");
        }
        let index = self.index(&name).await?;
        let attach = LinkUnspec::new_with_index(index)
            .controller(master)
            .up()
            .build();
        self.handle.link().set(attach).execute().await?;
        let port = LinkBridgePort::new(index).neigh_suppress(true).build();
        self.handle.link().set_port(port).execute().await?;
        self.flood_to(index, peers).await
    }

    /// The all-zero FDB entries of device `index`: exactly one per peer. The entries the device
    /// learned towards a node that is no longer a peer go too, so nothing is sent to it.
    async fn flood_to(&self, index: u32, peers: &BTreeSet<Ipv4Addr>) -> Result<(), VxlanError> {
        let entries = self.fdb(index).await?;
        let flooding: BTreeSet<Ipv4Addr> = entries
            .iter()
            .filter(|(mac, _)| *mac == ZERO_MAC)
            .map(|(_, ip)| *ip)
            .collect();
        for (mac, gone) in entries.iter().filter(|(_, ip)| !peers.contains(ip)) {
            let msg = fdb_message(index, *mac, *gone);
            if let Err(e) = self.handle.neighbours().del(msg).execute().await {
                tracing::debug!(peer = %gone, error = %e, "FDB entry already gone");
            }
            if *mac == ZERO_MAC {
                tracing::info!(peer = %gone, "overlay peer removed");
            }
        }
        for new in peers.difference(&flooding) {
            let msg = fdb_message(index, ZERO_MAC, *new);
            let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(msg));
            // APPEND: several all-zero entries, one per peer (EXCL would refuse the second).
            req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
            let mut replies = self.handle.clone().request(req)?;
            while let Some(reply) = futures::StreamExt::next(&mut replies).await {
                if let NetlinkPayload::Error(e) = reply.payload {
                    if -e.raw_code() != EEXIST {
                        return Err(rtnetlink::Error::NetlinkError(e).into());
                    }
                }
            }
            tracing::info!(peer = %new, "overlay peer added");
        }
        Ok(())
    }

    /// The FDB entries of device `index` that send to a remote node: (MAC, node address).
    async fn fdb(&self, index: u32) -> Result<Vec<([u8; 6], Ipv4Addr)>, VxlanError> {
        let mut dump = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = dump.try_next().await? {
            if msg.header.ifindex != index {
                continue;
            }
            let mut mac = None;
            let mut dst = None;
            for a in &msg.attributes {
                match a {
                    NeighbourAttribute::LinkLayerAddress(m) => {
                        mac = <[u8; 6]>::try_from(&m[..]).ok()
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => dst = Some(*ip),
                    // A bridge-family entry's NDA_DST is not parsed as IPv4 (the family says
                    // bridge, not inet): its four bytes are the remote's IPv4 address.
                    NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                        dst = <[u8; 4]>::try_from(&b[..]).ok().map(Ipv4Addr::from);
                    }
                    _ => {}
                }
            }
            if let (Some(mac), Some(dst)) = (mac, dst) {
                out.push((mac, dst));
            }
        }
        Ok(out)
    }

    /// Deletes every IPv4 default route of this network namespace (the main table's `0.0.0.0/0`);
    /// how many went.
    pub async fn delete_default_routes(&self) -> Result<usize, VxlanError> {
        let query = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build();
        let routes: Vec<_> = self
            .handle
            .route()
            .get(query)
            .execute()
            .try_collect()
            .await?;
        let mut deleted = 0;
        for route in routes {
            let main =
                route.header.table == rtnetlink::packet_route::route::RouteHeader::RT_TABLE_MAIN;
            if route.header.destination_prefix_length == 0 && main {
                self.handle.route().del(route).execute().await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Deletes interface `name`, if it exists.
    pub async fn remove(&self, name: &str) -> Result<(), VxlanError> {
        if let Some(link) = self.link(name).await? {
            self.handle.link().del(link.header.index).execute().await?;
        }
        Ok(())
    }
}

/// `<mac> dst <peer> self permanent` on device `index` (the all-zero MAC: flood to the peer).
fn fdb_message(index: u32, mac: [u8; 6], peer: Ipv4Addr) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Bridge;
    msg.header.ifindex = index;
    msg.header.state = NeighbourState::Permanent;
    msg.header.flags = NeighbourFlags::Own;
    msg.attributes = vec![
        NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        NeighbourAttribute::Destination(NeighbourAddress::Inet(peer)),
    ];
    msg
}

fn vni_of(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Data(InfoData::Vxlan(data)) => data.iter().find_map(|d| match d {
                InfoVxlan::Id(id) => Some(*id),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vxlan_device_is_named_after_its_bridge_within_15_bytes() {
        assert_eq!(vxlan_name("fl0123456789ab"), "vx0123456789ab");
        assert!(vxlan_name("fl0123456789ab").len() <= 15);
    }

    #[test]
    fn the_default_route_device_is_read_from_the_route_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                     eth1\t0000D20A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                     eth0\t00000000\t010014AC\t0003\t0\t0\t0\t00000000\n";
        assert_eq!(default_route_device(table), Some("eth0"));
        assert_eq!(default_route_device("Iface\tDestination\n"), None);
    }

    #[test]
    fn a_flood_entry_is_the_all_zero_mac_towards_the_peer() {
        let msg = fdb_message(7, ZERO_MAC, Ipv4Addr::new(172, 20, 0, 3));
        assert_eq!(msg.header.family, AddressFamily::Bridge);
        assert_eq!(msg.header.flags, NeighbourFlags::Own);
        assert!(msg
            .attributes
            .contains(&NeighbourAttribute::LinkLayerAddress(vec![0; 6])));
    }
}
