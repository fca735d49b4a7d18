//! HTTPS serving: accept, TLS handshake, HTTP/1.1 (chunked watches), authentication,
//! authorization, and routing to handlers. The listener and shutdown signal are arguments so
//! tests run the real server in-process on port 0.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::admission::MAX_BODY;
use crate::errors::{ApiError, Result};
use crate::handlers::{self, Req};
use crate::http::{self as resp, Response};
use crate::request::Query;
use crate::route::Route;
use crate::security::authn::{certificate_identity, AuthnError, Identity};
use crate::state::ApiServer;

/// Aborts the task when dropped (however `serve` returns).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a connection's client certificate says (`None`: no certificate presented).
type PeerIdentity = std::result::Result<Identity, AuthnError>;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then stops accepting and lets open requests finish
/// (watches end at their timeout or when the grace period runs out).
pub async fn serve(
    listener: TcpListener,
    server: Arc<ApiServer>,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    // As kube-apiserver does: without it etcd's history (every Lease renewal, every status
    // write) grows until etcd's space quota stops all writes. Stops when serving stops.
    let _compactor = AbortOnDrop(tokio::spawn(crate::storage::compactor::run(
        server.rs.store.clone(),
        server.config.compaction_interval,
    )));
    loop {
        let (tcp, peer) = tokio::select! {
            conn = listener.accept() => match conn {
                Ok(c) => c,
                Err(e) => { tracing::warn!(error = %e, "accept failed"); continue; }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            // The client certificate is read once per connection, not per request.
            let client = Arc::new(certificate_identity(tls.get_ref().1.peer_certificates()));
            let svc = hyper::service::service_fn(move |req| {
                let (server, client) = (server.clone(), client.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(
                        handle(&server, client.as_ref().as_ref(), req).await,
                    )
                }
            });
            // HTTP/2 when the client's ALPN picks it (kubectl does), else HTTP/1.1.
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => tracing::info!("shutdown grace period over"),
    }
    Ok(())
}

async fn handle(
    server: &ApiServer,
    peer: Option<&PeerIdentity>,
    req: http::Request<Incoming>,
) -> Response {
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), user = tracing::field::Empty);
    let start = tokio::time::Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let resp = async {
        match handle_inner(server, peer, req).await {
            Ok(r) => r,
            Err(e) => resp::error(&e),
        }
    }
    .instrument(span.clone())
    .await;
    let code = resp.status().as_u16();
    crate::metrics::observe(&method, &path, code, start.elapsed());
    span.in_scope(|| {
        tracing::debug!(
            code,
            elapsed_ms = start.elapsed().as_millis() as u64,
            "done"
        )
    });
    resp
}

async fn handle_inner(
    server: &ApiServer,
    peer: Option<&PeerIdentity>,
    req: http::Request<Incoming>,
) -> Result<Response> {
    let route = Route::parse(req.uri().path());
    let header = |name: http::header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let auth = header(http::header::AUTHORIZATION);
    let identity = match server.authn.authenticate_peer(peer, auth.as_deref()) {
        Ok(id) => Some(id),
        // Joining nodes have no identity yet: the join endpoints check their token.
        Err(_) if matches!(route, Route::Health(_) | Route::Join(_)) => None,
        Err(_) => return Err(ApiError::Unauthorized),
    };
    if let Some(id) = &identity {
        tracing::Span::current().record("user", id.user.as_str());
    }
    let accept = header(http::header::ACCEPT);
    let query = Query::parse(req.uri().query())?;
    let (parts, body) = req.into_parts();
    let Route::Resource(path) = route else {
        let body = read_body(body).await?;
        return crate::nonresource::handle(
            server,
            identity.as_ref(),
            &parts,
            route,
            accept.as_deref(),
            body,
        )
        .await;
    };
    let identity = identity.ok_or(ApiError::Unauthorized)?;
    let info = server
        .registry
        .get(&path.group, &path.version, &path.plural)
        .ok_or(ApiError::NoRoute)?;
    let req = Req {
        method: parts.method.clone(),
        path,
        query,
        accept,
        content_type: parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        body: read_body(body).await?,
        identity,
    };
    crate::authorize::check(server, &req.identity, info, &req)?;
    handlers::dispatch(server, info, req).await
}

/// How much of an oversized body is read and thrown away, and for how long, so the client
/// gets to read the 413 instead of a broken pipe while it is still writing (Go's net/http
/// does the same for unread bodies); past either bound the connection is simply closed.
const DISCARD_LIMIT: usize = 64 * 1024 * 1024;
const DISCARD_TIMEOUT: Duration = Duration::from_secs(5);

async fn read_body(mut body: Incoming) -> Result<Bytes> {
    let hint = hyper::body::Body::size_hint(&body).lower() as usize;
    let mut buf = bytes::BytesMut::with_capacity(hint.min(MAX_BODY));
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::BadRequest(format!("reading the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > MAX_BODY {
            discard_rest(body, buf.len() + data.len()).await;
            return Err(ApiError::TooLarge(format!(
                "request body exceeds {MAX_BODY} bytes"
            )));
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

async fn discard_rest(mut body: Incoming, mut seen: usize) {
    let drain = async {
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DISCARD_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIMEOUT, drain).await;
}
