//! Probes the agent and e2e tests use to look at what a user would: an HTTP answer on a port,
//! the filesystem a secret lives on; and [`wait_for`], the bounded poll they wait with.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Polls `check` every 100 ms until it returns Some, failing after `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /` over HTTP/1.0; the whole response, or None when the connection fails.
pub async fn http_get(addr: &str) -> Option<String> {
    let connect = tokio::net::TcpStream::connect(addr);
    let mut conn = tokio::time::timeout(Duration::from_secs(2), connect)
        .await
        .ok()?
        .ok()?;
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").await.ok()?;
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(2), conn.read_to_string(&mut body))
        .await
        .ok()?
        .ok()?;
    Some(body)
}

/// The filesystem type holding `path` (longest mount point prefix in /proc/self/mounts).
pub fn fs_type_of(path: &str) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2).then(|| (f[1].to_string(), f[2].to_string()))
        })
        .filter(|(mp, _)| path.starts_with(mp.as_str()))
        .max_by_key(|(mp, _)| mp.len())
        .map(|(_, t)| t)
        .unwrap_or_default()
}
