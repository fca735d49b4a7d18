//! Connections that cost the server without ever sending a request: a thousand clients that
//! complete TLS and then send their headers a byte at a time must neither lock the admin out
//! nor stay open; silent and idle connections are closed too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::kubectl::{kubectl_path, Kubectl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const SLOW: usize = 1000;

/// A TLS client of `server` offering `alpn`. One config shared by many connections resumes
/// TLS sessions, so a thousand handshakes cost little CPU.
fn tls_client(server: &TestApiServer, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    let ca = server.pki.client_ca_pem().expect("bootstrapped CA");
    let config = flotilla_api_server::security::tls::client_config(ca, None).unwrap();
    let mut config = (*config).clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

async fn tls_connect_with(
    server: &TestApiServer,
    config: Arc<rustls::ClientConfig>,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let addr = server.url.trim_start_matches("https://").to_string();
    let tcp = TcpStream::connect(&addr).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?.to_owned();
    Ok(tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?)
}

async fn tls_connect(
    server: &TestApiServer,
    alpn: &[u8],
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    tls_connect_with(server, tls_client(server, alpn)).await
}

/// Reads until the server closes the connection (EOF or error); returns when that was.
async fn closed_at(mut s: impl tokio::io::AsyncRead + Unpin) -> Instant {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

/// A connected client that sends a request line and then one header byte per second, never
/// finishing; returns when the server closes the connection.
async fn slow_headers(s: tokio_rustls::client::TlsStream<TcpStream>) -> anyhow::Result<Instant> {
    let (r, mut w) = tokio::io::split(s);
    let trickle = async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if w.write_all(b"a").await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        at = closed_at(r) => Ok(at),
        _ = trickle => unreachable!(),
    }
}

/// The test opens two sockets per slow client (its end and the server's): make room.
fn ensure_fd_limit(need: u64) {
    let limit = flotilla_api_server::app::raise_fd_limit().unwrap_or(u64::MAX);
    assert!(
        limit >= need,
        "this test needs {need} open files; `ulimit -n` allows {limit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_header_clients_are_closed_and_do_not_lock_the_admin_out() {
    let Some(_) = kubectl_path(33) else {
        return eprintln!("kubectl 1.33 is not installed: skipped");
    };
    ensure_fd_limit(2 * SLOW as u64 + 512);
    let header_timeout = Duration::from_secs(20);
    let server = Arc::new(
        TestApiServer::embedded_and(|o| o.config.read_header_timeout = header_timeout)
            .await
            .unwrap(),
    );
    // Open them all, a few dozen handshakes at a time (the listen backlog is finite).
    let opening = Arc::new(tokio::sync::Semaphore::new(48));
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(SLOW);
    let mut clients = tokio::task::JoinSet::new();
    let closed = Arc::new(AtomicUsize::new(0));
    let config = tls_client(&server, b"http/1.1");
    let start = Instant::now();
    for _ in 0..SLOW {
        let (server, opening, open_tx) = (server.clone(), opening.clone(), open_tx.clone());
        let closed_early = closed.clone();
        let config = config.clone();
        clients.spawn(async move {
            let permit = opening.acquire_owned().await;
            let mut s = tls_connect_with(&server, config).await?;
            drop(permit);
            s.write_all(b"GET /version HTTP/1.1\r\nHost: flotilla\r\nX-Slow: ")
                .await?;
            let _ = open_tx.send(()).await;
            let at = slow_headers(s).await;
            closed_early.fetch_add(1, Ordering::SeqCst);
            at
        });
    }
    drop(open_tx);
    let all_open = tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..SLOW {
            open_rx.recv().await;
        }
    })
    .await;
    assert!(all_open.is_ok(), "{SLOW} TLS handshakes within 60s");
    let opened_in = start.elapsed();
    eprintln!("{SLOW} slow clients connected in {opened_in:?}");

    // The admin is answered promptly while they hang on.
    let still_open = SLOW - closed.load(Ordering::SeqCst);
    assert!(
        still_open > SLOW / 2,
        "only {still_open} still open: opening was too slow"
    );
    let k = Kubectl::new(33, &server.kubeconfig).unwrap();
    let asked = Instant::now();
    let out = tokio::task::spawn_blocking(move || k.run(&["get", "ssvc"]))
        .await
        .unwrap();
    let answered_in = asked.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("No resources found") || out.stdout.is_empty(),
        "{out:?}"
    );
    assert!(
        answered_in < Duration::from_secs(10),
        "kubectl get ssvc took {answered_in:?} with {SLOW} slow clients open"
    );
    eprintln!("kubectl get ssvc answered in {answered_in:?} with {still_open} slow clients open");

    // Every slow client is closed by the server, about one header timeout after it connected.
    let deadline = header_timeout + opened_in + Duration::from_secs(30);
    let waited = tokio::time::timeout(deadline, async {
        while let Some(r) = clients.join_next().await {
            r.unwrap().expect("the slow client connected");
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "only {} of {SLOW} slow-header connections were closed by the server within {deadline:?}",
        closed.load(Ordering::SeqCst)
    );
    let elapsed = start.elapsed();
    assert!(
        elapsed >= header_timeout,
        "closed after {elapsed:?}, before the header timeout"
    );
    eprintln!("all {SLOW} closed {elapsed:?} after the first connected");
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_idle_connections_are_closed() {
    let idle = Duration::from_secs(3);
    let server = Arc::new(
        TestApiServer::embedded_and(|o| {
            o.config.idle_timeout = idle;
            o.config.read_header_timeout = Duration::from_secs(60);
        })
        .await
        .unwrap(),
    );
    let start = Instant::now();
    // HTTP/2 negotiated, then not even the connection preface.
    let h2_silent = tls_connect(&server, b"h2").await.unwrap();
    // HTTP/1.1: one request answered, then nothing.
    let mut h1 = tls_connect(&server, b"http/1.1").await.unwrap();
    h1.write_all(b"GET /healthz HTTP/1.1\r\nHost: flotilla\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = h1.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Handshake-less: TCP only, no TLS ClientHello (bounded by the header timeout, 60s here,
    // so it must still be open when the others are closed).
    let tcp = TcpStream::connect(server.url.trim_start_matches("https://"))
        .await
        .unwrap();
    let bound = idle + Duration::from_secs(10);
    for (what, s) in [
        ("h2 silent", tokio::spawn(closed_at(h2_silent))),
        ("h1 idle", tokio::spawn(closed_at(h1))),
    ] {
        let at = tokio::time::timeout(bound, s)
            .await
            .unwrap_or_else(|_| panic!("{what} connection still open after {bound:?}"))
            .unwrap();
        let after = at - start;
        assert!(
            after >= idle - Duration::from_millis(500),
            "{what}: {after:?}"
        );
    }
    let tcp_closed = tokio::time::timeout(Duration::from_millis(200), closed_at(tcp)).await;
    assert!(
        tcp_closed.is_err(),
        "the TCP-only connection is under the 60s handshake timeout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_wait_until_one_closes() {
    let server = TestApiServer::embedded_and(|o| o.config.max_connections = 4)
        .await
        .unwrap();
    let addr = server.url.trim_start_matches("https://").to_string();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    let client = server.client().await.unwrap();
    let version = || async { client.apiserver_version().await };
    let blocked = tokio::time::timeout(Duration::from_secs(2), version()).await;
    assert!(
        blocked.is_err(),
        "a fifth connection is not served while four are open"
    );
    drop(held);
    let served = tokio::time::timeout(Duration::from_secs(10), version()).await;
    served
        .expect("served once the held connections close")
        .unwrap();
}
