//! UDP in the routing mesh (Swarm's ingress forwards `protocol=udp` ports too). A datagram from a
//! new client address opens a flow: a socket connected to one chosen task, or to the mesh of the
//! node running it (same choice as TCP), whose replies are relayed back to that client from the
//! published port. Later datagrams of the client follow its flow while the backend is still
//! chosen; a flow ends when idle for [`FLOW_IDLE`], when the backend refuses (ICMP port
//! unreachable) or stops being one, or to make room within [`MAX_FLOWS`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use flotilla_api::endpoint::PortProtocol;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::flows::FlowTable;
use super::{bind_retrying, Mesh, Route};

/// Idle time after which a flow is forgotten (IPVS' UDP timeout is of this order).
pub const FLOW_IDLE: Duration = Duration::from_secs(60);
/// Flows per published port; each holds a socket and a task, but no buffer while idle.
pub const MAX_FLOWS: usize = 4096;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// One client's flow; dropping it (expiry, eviction, replacement) stops relaying its replies.
struct Flow {
    id: u64,
    backend: SocketAddr,
    upstream: Arc<UdpSocket>,
    replies: JoinHandle<()>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.replies.abort();
    }
}

type Flows = Arc<Mutex<FlowTable<Flow>>>;

fn lock(flows: &Flows) -> MutexGuard<'_, FlowTable<Flow>> {
    flows.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one published UDP port shares between its receive loop and its flows' reply relays.
struct Port {
    number: u16,
    socket: Arc<UdpSocket>,
    flows: Flows,
}

/// The port stops being served (its listener task ends or is aborted): the relays hold the
/// socket and the table, so they are stopped here, or they would keep the port bound.
impl Drop for Port {
    fn drop(&mut self) {
        let flows = lock(&self.flows).drain();
        drop(flows);
    }
}

impl Mesh {
    /// Receives on `<node address>:port` until the listener task is aborted.
    pub(super) async fn serve_udp(self: Arc<Self>, port: u16) {
        let addr = format!("{}:{port}", self.address);
        let socket = match bind_retrying(|| UdpSocket::bind(&addr)).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::error!(%addr, error = %e, "routing mesh cannot listen on udp");
                return;
            }
        };
        tracing::info!(%addr, "routing mesh listening on udp");
        let port = Port {
            number: port,
            socket,
            flows: Arc::new(Mutex::new(FlowTable::new(FLOW_IDLE, MAX_FLOWS))),
        };
        let mut sweep = tokio::time::interval(FLOW_IDLE / 4);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut next_id = 0u64;
        loop {
            let received = tokio::select! {
                _ = sweep.tick() => {
                    let expired = lock(&port.flows).expire(Instant::now());
                    drop(expired);
                    continue;
                }
                r = port.socket.recv_from(&mut buf) => r,
            };
            let Ok((len, client)) = received else {
                continue;
            };
            next_id += 1;
            self.relay(&port, client, &buf[..len], next_id).await;
        }
    }

    /// Sends one client datagram along the client's flow, opening one (flow `id`) if needed.
    async fn relay(&self, port: &Port, client: SocketAddr, datagram: &[u8], id: u64) {
        let Some(route) = self.route(PortProtocol::Udp, port.number) else {
            return;
        };
        let (local, remote) = self.backends(port.number, &route, client.ip());
        let current = {
            let mut flows = lock(&port.flows);
            flows
                .get(&client, Instant::now())
                .filter(|f| local.contains(&f.backend) || remote.contains(&f.backend))
                .map(|f| f.upstream.clone())
        };
        let upstream = match current {
            Some(u) => u,
            None => match self.open_flow(port, client, &route, id).await {
                Some(u) => u,
                None => return,
            },
        };
        if let Err(e) = upstream.send(datagram).await {
            tracing::debug!(%client, error = %e, "mesh udp backend unreachable");
        }
    }

    async fn open_flow(
        &self,
        port: &Port,
        client: SocketAddr,
        route: &Route,
        id: u64,
    ) -> Option<Arc<UdpSocket>> {
        let Some(chosen) = self.choose(port.number, route, client.ip()) else {
            tracing::debug!(port = port.number, service = %route.service, "no running task to forward to");
            return None;
        };
        let backend = chosen.addr;
        let upstream = match UdpSocket::bind(self.source_for(chosen)).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "mesh cannot open a udp flow");
                return None;
            }
        };
        upstream.connect(backend).await.ok()?;
        let upstream = Arc::new(upstream);
        // The relay is spawned under the lock so that it cannot end (and remove its flow) before
        // the flow is in the table.
        let mut flows = lock(&port.flows);
        let replies = tokio::spawn(replies(
            upstream.clone(),
            port.socket.clone(),
            port.flows.clone(),
            client,
            id,
        ));
        let flow = Flow {
            id,
            backend,
            upstream: upstream.clone(),
            replies,
        };
        let displaced = flows.insert(client, flow, Instant::now());
        drop(flows);
        drop(displaced);
        Some(upstream)
    }
}

/// Relays the task's replies to the client until the task refuses or the flow is dropped.
async fn replies(
    upstream: Arc<UdpSocket>,
    socket: Arc<UdpSocket>,
    flows: Flows,
    client: SocketAddr,
    id: u64,
) {
    loop {
        if upstream.readable().await.is_err() {
            break;
        }
        // Allocated per reply so that an idle flow holds no buffer.
        let mut buf = vec![0u8; MAX_DATAGRAM];
        match upstream.try_recv(&mut buf) {
            Ok(len) => {
                lock(&flows).touch(&client, Instant::now());
                let _ = socket.send_to(&buf[..len], client).await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                tracing::debug!(%client, error = %e, "mesh udp flow ended");
                break;
            }
        }
    }
    let ended = lock(&flows).remove_if(&client, |f| f.id == id);
    drop(ended);
}
