//! What both benchmarks (`flotilla-bench`, `flotilla-scheduler-bench`) measure their figures
//! against: raw etcd puts on the same etcd, at the same concurrency.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use tokio::time::Instant;

/// Keys the raw puts write, outside `/registry/` (so not counted as the pipeline's writes).
pub const RAW_PREFIX: &str = "/bench-raw/";

/// How long `n` puts of task-sized values (1,500 bytes) under `<RAW_PREFIX><tag>/` take at
/// `concurrency` on the etcd at `endpoint`.
pub async fn raw_etcd_puts(
    endpoint: &str,
    tag: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let client = etcd_client::Client::connect([endpoint], None).await?;
    let value = vec![b'x'; 1500];
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let mut kv = client.kv_client();
            let value = value.clone();
            async move { kv.put(format!("{RAW_PREFIX}{tag}/{i}"), value, None).await }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(started.elapsed())
}
