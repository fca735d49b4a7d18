//! HTTPS serving: accept (with the limits of [`crate::front::connections`]), TLS handshake, HTTP/1.1
//! (chunked watches) or HTTP/2, authentication,
//! authorization, and routing to handlers. The listener and shutdown signal are arguments so
//! tests run the real server in-process on port 0.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::admission::MAX_BODY;
use crate::front::connections;
use crate::handlers::{self, Req};
use crate::registry::ResourceInfo;
use crate::security::authn::{AuthnError, Identity, Peer};
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{self as resp, Response};
use crate::wire::request::Query;
use crate::wire::route::Route;

/// Aborts the task when dropped (however `serve` returns).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long open requests may finish once serving stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// HTTP/2 streams one connection may have open at once: kube-apiserver's value for servers
/// reached through one multiplexed connection (hyper's default is 200). A client past it waits
/// for a free stream, and long watches free none, so every later request of that connection
/// waits too; clients keep their watches per connection well below it.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 1_000;

/// Serves until `shutdown` resolves, then stops accepting and lets open requests finish
/// (watches end at their timeout or when the grace period runs out).
pub async fn serve(
    listener: TcpListener,
    server: Arc<ApiServer>,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let max = connections::effective_max_connections(server.config.max_connections);
    let slots = Arc::new(tokio::sync::Semaphore::new(max));
    tokio::pin!(shutdown);
    // As kube-apiserver does: without it etcd's history (every Lease renewal, every status
    // write) grows until etcd's space quota stops all writes. Stops when serving stops.
    let _compactor = AbortOnDrop(tokio::spawn(crate::storage::compactor::run(
        server.rs.store.clone(),
        server.config.compaction_interval,
    )));
    let _event_ttl = AbortOnDrop(tokio::spawn(crate::storage::event_ttl::run(
        server.rs.store.clone(),
        format!("{}/events/", server.config.etcd_prefix),
        server.config.event_ttl,
    )));
    let mut backoff = connections::AcceptBackoff::default();
    loop {
        // At the cap no more connections are accepted: clients wait in the listen backlog.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            conn = listener.accept() => match conn {
                Ok(c) => { backoff.succeeded(); c }
                Err(e) => {
                    let failure = backoff.failed(tokio::time::Instant::now());
                    if let Some(suppressed) = failure.log {
                        tracing::warn!(error = %e, suppressed, retry_in_ms = failure.wait.as_millis() as u64, "accept failed");
                    }
                    tokio::time::sleep(failure.wait).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let conn = Conn {
            server: server.clone(),
            acceptor: acceptor.clone(),
            stop: stop_rx.clone(),
        };
        tokio::spawn(async move {
            conn.run(tcp, peer).await;
            drop(slot);
        });
    }
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it ends: all slots back means all connections done.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::info!("shutdown grace period over");
    }
    Ok(())
}

/// One accepted connection and what it needs.
struct Conn {
    server: Arc<ApiServer>,
    acceptor: tokio_rustls::TlsAcceptor,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Conn {
    async fn run(mut self, tcp: tokio::net::TcpStream, peer: std::net::SocketAddr) {
        let config = &self.server.config;
        // Go's net/http counts the TLS handshake against its header timeout too.
        let handshake = tokio::time::timeout(config.read_header_timeout, self.acceptor.accept(tcp));
        let tls = match handshake.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
        };
        // The client certificate is read once per connection, not per request.
        let client = Arc::new(self.server.authn.peer(tls.get_ref().1.peer_certificates()));
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let activity = connections::Activity::new();
        let server = self.server.clone();
        let act = activity.clone();
        let svc = hyper::service::service_fn(move |req| {
            let (server, client, active) = (server.clone(), client.clone(), act.begin());
            async move {
                let resp = handle_guarded(&server, &client, req).await;
                Ok::<_, std::convert::Infallible>(resp.map(|b| resp::tracked(b, active)))
            }
        });
        let builder = builder(config, h2);
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
        tokio::pin!(conn);
        let idle = config.idle_timeout;
        let closing = tokio::select! {
            r = conn.as_mut() => return log_end(peer, r),
            _ = activity.idle_for(idle) => "idle",
            _ = self.stop.wait_for(|s| *s) => "shutdown",
        };
        tracing::debug!(%peer, why = closing, "closing connection");
        conn.as_mut().graceful_shutdown();
        if let Ok(r) = tokio::time::timeout(SHUTDOWN_GRACE, conn).await {
            log_end(peer, r);
        }
    }
}

/// HTTP/2 when the client's ALPN picks it (kubectl does), else HTTP/1.1: chosen from ALPN, not
/// by reading the first bytes, which would wait on a silent client with no timeout.
fn builder(config: &crate::store::state::ServerConfig, h2: bool) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        // hyper arms this whenever it waits for a request head, so it also ends a silent
        // keep-alive connection between requests.
        .header_read_timeout(config.read_header_timeout);
    let mut h2b = b.http2();
    h2b.timer(TokioTimer::new())
        .keep_alive_interval(connections::H2_PING_INTERVAL)
        .keep_alive_timeout(connections::H2_PING_TIMEOUT);
    if config.http2_max_streams > 0 {
        h2b.max_concurrent_streams(config.http2_max_streams);
    }
    if h2 {
        b.http2_only()
    } else {
        b.http1_only()
    }
}

fn log_end<E: std::fmt::Display>(peer: std::net::SocketAddr, r: std::result::Result<(), E>) {
    if let Err(e) = r {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// [`handle`], with a panic answered as a 500 for this request alone: unwinding through hyper
/// would end the connection and every HTTP/2 stream multiplexed on it.
async fn handle_guarded(server: &ApiServer, peer: &Peer, req: http::Request<Incoming>) -> Response {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(handle(server, peer, req))
        .catch_unwind()
        .await
    {
        Ok(resp) => resp,
        Err(_) => resp::error(&ApiError::Internal("the handler panicked".into())),
    }
}

async fn handle(server: &ApiServer, peer: &Peer, req: http::Request<Incoming>) -> Response {
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
    crate::front::metrics::observe(&method, &path, code, start.elapsed());
    span.in_scope(|| {
        tracing::debug!(
            code,
            elapsed_ms = start.elapsed().as_millis() as u64,
            "done"
        )
    });
    resp
}

/// A request's way through: authenticated and parsed, then (writes) its slot, then the rest.
/// The steps before and after the wait are boxed, so a write waiting for its slot holds only
/// its parsed request: at 1,000 nodes, hundreds of agents' writes wait at once, and this future
/// is as large as the largest state it passes through (docs/benchmark.md).
async fn handle_inner(
    server: &ApiServer,
    peer: &Peer,
    req: http::Request<Incoming>,
) -> Result<Response> {
    let (req, body, info) = match Box::pin(prepare(server, peer, req)).await? {
        Prepared::Done(resp) => return Ok(resp),
        Prepared::Resource { req, body, info } => (req, body, info),
    };
    // Held until the answer is made; taken before the body is read, which then stays unread
    // (in the client's flow-control window) while the write waits.
    let _slot = server.inflight.admit(&req.method).await?;
    Box::pin(finish(server, info, req, body)).await
}

/// A request after [`prepare`].
enum Prepared<'a> {
    /// Answered already (a non-resource path).
    Done(Response),
    /// A resource request, its body not yet read.
    Resource {
        req: Box<Req>,
        body: Incoming,
        info: &'a ResourceInfo,
    },
}

/// Authenticates and parses `req`; answers a non-resource path at once.
async fn prepare<'a>(
    server: &'a ApiServer,
    peer: &Peer,
    mut req: http::Request<Incoming>,
) -> Result<Prepared<'a>> {
    let route = Route::parse(req.uri().path());
    let auth = header(req.headers(), http::header::AUTHORIZATION);
    // No credentials is the anonymous caller, whom only public paths admit; wrong credentials
    // are a 401 everywhere, as in kube-apiserver.
    let identity = match server
        .authn
        .authenticate_request(peer, req.headers_mut())
        .await
    {
        Ok(id) => id,
        Err(AuthnError::Anonymous) => Identity::anonymous(),
        // A joining node has no identity yet: its join token is checked by the join endpoint,
        // which is public (as Kubernetes' bootstrap tokens authenticate only for bootstrapping).
        Err(AuthnError::InvalidToken)
            if crate::front::join_http::carries_join_token(&route, auth.as_deref()) =>
        {
            Identity::anonymous()
        }
        Err(_) => return Err(ApiError::Unauthorized),
    };
    tracing::Span::current().record("user", identity.user.as_str());
    if let Route::InvalidSegment(problem) = route {
        // A malformed path is described only to a caller who proved who they are.
        if identity.is_anonymous() {
            return Err(ApiError::Unauthorized);
        }
        return Err(ApiError::BadRequest(problem));
    }
    let accept = header(req.headers(), http::header::ACCEPT);
    let query = Query::parse(req.uri().query())?;
    let (parts, body) = req.into_parts();
    let Route::Resource(path) = route else {
        crate::front::nonresource::authorize(server, &identity, &route, &parts).await?;
        let body = read_body(body).await?;
        let resp = Box::pin(crate::front::nonresource::handle(
            server,
            &identity,
            &parts,
            route,
            accept.as_deref(),
            body,
        ))
        .await?;
        return Ok(Prepared::Done(resp));
    };
    if identity.is_anonymous() {
        return Err(ApiError::Unauthorized);
    }
    let info = server
        .registry
        .get(&path.group, &path.version, &path.plural)
        .ok_or(ApiError::NoRoute)?;
    let req = Box::new(Req {
        method: parts.method.clone(),
        path,
        query,
        accept,
        content_type: header(&parts.headers, http::header::CONTENT_TYPE),
        user_agent: header(&parts.headers, http::header::USER_AGENT),
        kubectl_command: header(&parts.headers, "kubectl-command"),
        body: Bytes::new(),
        identity,
    });
    Ok(Prepared::Resource { req, body, info })
}

/// Header `name` as text, if present and visible ASCII.
fn header(headers: &http::HeaderMap, name: impl http::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// Reads the body, authorizes and handles a resource request.
async fn finish(
    server: &ApiServer,
    info: &ResourceInfo,
    mut req: Box<Req>,
    body: Incoming,
) -> Result<Response> {
    req.body = read_body(body).await?;
    let answer = crate::front::authorize::check(server, &req.identity, info, &req).await?;
    if answer != crate::front::authorize::Answer::Whole {
        // The view is of JSON objects; a Table's rows would carry the whole objects.
        req.accept = None;
    }
    // Boxed: this future holds the largest handler's state from its start otherwise.
    let resp = Box::pin(handlers::dispatch(server, info, *req)).await?;
    Ok(answer.apply(resp).await)
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
