//! TCP in the routing mesh: each accepted connection is spliced to one chosen task.

use std::sync::Arc;

use flotilla_api::endpoint::PortProtocol;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{bind_retrying, Backend, Mesh};

impl Mesh {
    /// Accepts on `<node address>:port` until the listener task is aborted.
    pub(super) async fn serve_tcp(self: Arc<Self>, port: u16) {
        let addr = format!("{}:{port}", self.address);
        let listener = match bind_retrying(|| TcpListener::bind(&addr)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(%addr, error = %e, "routing mesh cannot listen on tcp");
                return;
            }
        };
        tracing::info!(%addr, "routing mesh listening on tcp");
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let this = self.clone();
            tokio::spawn(async move { this.forward_tcp(port, conn).await });
        }
    }

    async fn forward_tcp(&self, port: u16, mut conn: TcpStream) {
        let Some(route) = self.route(PortProtocol::Tcp, port) else {
            return;
        };
        let Ok(client) = conn.peer_addr() else {
            return;
        };
        let Some(backend) = self.choose(port, &route, client.ip()) else {
            tracing::debug!(port, service = %route.service, "no running task to forward to");
            return;
        };
        match self.connect(backend).await {
            Ok(mut upstream) => {
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
            }
            Err(e) => tracing::debug!(backend = %backend.addr, error = %e, "mesh backend refused"),
        }
    }

    async fn connect(&self, backend: Backend) -> std::io::Result<TcpStream> {
        let socket = if backend.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(self.source_for(backend))?;
        socket.connect(backend.addr).await
    }
}
