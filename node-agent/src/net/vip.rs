//! The VIP proxy: a user-space TCP load balancer on `VIP:port`. The VIP is a secondary address
//! of the network's bridge on this host, so tasks on the network reach it directly; each
//! accepted connection goes to the next serving task of the service on that network (round
//! robin over the controller-manager's `status.taskAddresses`, which leaves out stopping and
//! unhealthy tasks). Swarm does this in the kernel with IPVS, kube-proxy with iptables or IPVS;
//! the cost of doing it in user space is measured in docs/benchmark.md. The connection to the
//! task leaves from this node's load-balancer address on the network when it has one
//! ([`Directory::source`]), so a task on another node replies over the overlay.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::directory::Directory;

/// A listening socket that other agents on this host may bind too (several agents share one
/// engine's bridges; the kernel spreads connections over them, and they all answer alike).
pub fn shared_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The UDP counterpart of [`shared_tcp`] (the DNS server).
pub fn shared_udp(addr: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

/// Accepts on `vip:port` until the task is aborted; a connection from outside the VIP's
/// network is closed at once.
pub async fn serve(
    listener: TcpListener,
    vip: Ipv4Addr,
    port: u16,
    dir: Arc<RwLock<Directory>>,
    turn: Arc<AtomicUsize>,
) {
    loop {
        let Ok((conn, from)) = listener.accept().await else {
            continue;
        };
        let (backends, source) = {
            let dir = dir.read().unwrap_or_else(|e| e.into_inner());
            match from.ip() {
                std::net::IpAddr::V4(src) if dir.may_use(vip, src) => {
                    (dir.backends(vip), dir.source(vip))
                }
                _ => {
                    tracing::debug!(%vip, %from, "refused: not on the VIP's network");
                    continue;
                }
            }
        };
        if backends.is_empty() {
            tracing::debug!(%vip, port, "no serving task behind the VIP");
            continue;
        }
        let backend = backends[turn.fetch_add(1, Ordering::Relaxed) % backends.len()];
        tokio::spawn(splice(conn, SocketAddr::from((backend, port)), source));
    }
}

/// Connects to `backend` from `source` (any port), or from the kernel's choice.
async fn connect(backend: SocketAddr, source: Option<Ipv4Addr>) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(source) = source {
        socket.bind(SocketAddr::from((source, 0)))?;
    }
    socket.connect(backend).await
}

async fn splice(mut conn: TcpStream, backend: SocketAddr, source: Option<Ipv4Addr>) {
    match connect(backend, source).await {
        Ok(mut upstream) => {
            let _ = conn.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
        }
        Err(e) => tracing::debug!(%backend, error = %e, "VIP backend refused"),
    }
}
