//! Create throughput: N creates split over C concurrent clients, through the api-server (kube-rs
//! `Api<SwarmService>::create` over HTTPS with the admin certificate) and as raw etcd puts of
//! values of the same size.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flotilla_api::SwarmService;
use kube::api::{Api, PostParams};
use tokio::time::Instant;

use crate::stats::Run;

/// A SwarmService like `examples/web.yaml` with the given name (parsed once, so the client
/// side spends its CPU on requests, not on YAML).
pub fn service(name: &str) -> SwarmService {
    static TEMPLATE: std::sync::OnceLock<SwarmService> = std::sync::OnceLock::new();
    let mut svc = TEMPLATE
        .get_or_init(|| {
            let yaml = flotilla_tests::fixtures::web("template", 3);
            serde_yaml_ng::from_str(&yaml).expect("the web fixture is a valid SwarmService")
        })
        .clone();
    svc.metadata.name = Some(name.to_string());
    svc
}

/// Runs `total` creates of fresh services over `concurrency` workers sharing one client.
pub async fn api_server(
    api: &Api<SwarmService>,
    prefix: &str,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Run> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (api, next, prefix) = (api.clone(), next.clone(), prefix.to_string());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let pp = PostParams::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let svc = service(&format!("{prefix}-{i}"));
                let t = Instant::now();
                api.create(&pp, &svc).await?;
                lat.push(t.elapsed());
            }
        })
    });
    let lat = collect(workers).await?;
    Ok(Run::new(start.elapsed(), lat))
}

/// How a raw etcd write is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    /// A plain put (the goal's yardstick).
    Put,
    /// The api-server's create Txn, unwatched.
    Txn,
    /// The api-server's create: `Txn(If mod_revision == 0, Then Put)`, with a watch on the
    /// prefix that drains every event as the api-server's watch cache does. Not a yardstick:
    /// it tells which part of etcd's cost per create is the Txn and the watch, not the server.
    TxnWatched,
}

/// Runs `total` writes of `value_len`-byte values under fresh keys over `concurrency` workers
/// sharing one etcd client (one gRPC channel, as the api-server has).
pub async fn raw_etcd(
    etcd: &etcd_client::Client,
    prefix: &str,
    value_len: usize,
    total: usize,
    concurrency: usize,
    how: Raw,
) -> anyhow::Result<Run> {
    let drain = match how {
        Raw::Put | Raw::Txn => None,
        Raw::TxnWatched => Some(drain_watch(etcd, prefix).await?),
    };
    let next = Arc::new(AtomicUsize::new(0));
    let value = vec![b'x'; value_len];
    let start = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (mut kv, next) = (etcd.kv_client(), next.clone());
        let (prefix, value) = (prefix.to_string(), value.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let key = format!("{prefix}/{i}");
                let t = Instant::now();
                match how {
                    Raw::Put => drop(kv.put(key, value.clone(), None).await?),
                    Raw::Txn | Raw::TxnWatched => {
                        use etcd_client::{Compare, CompareOp, Txn, TxnOp};
                        let txn = Txn::new()
                            .when([Compare::mod_revision(key.clone(), CompareOp::Equal, 0)])
                            .and_then([TxnOp::put(key, value.clone(), None)]);
                        kv.txn(txn).await?;
                    }
                }
                lat.push(t.elapsed());
            }
        })
    });
    let lat = collect(workers).await?;
    let elapsed = start.elapsed();
    if let Some(drain) = drain {
        drain.abort();
    }
    Ok(Run::new(elapsed, lat))
}

/// A watch on `prefix` whose events are received and dropped.
async fn drain_watch(
    etcd: &etcd_client::Client,
    prefix: &str,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let options = etcd_client::WatchOptions::new().with_prefix();
    let mut stream = etcd.watch_client().watch(prefix, Some(options)).await?;
    Ok(tokio::spawn(async move {
        while let Ok(Some(_)) = stream.message().await {}
    }))
}

async fn collect(
    workers: impl Iterator<Item = tokio::task::JoinHandle<anyhow::Result<Vec<std::time::Duration>>>>,
) -> anyhow::Result<Vec<std::time::Duration>> {
    let mut all = Vec::new();
    for w in futures::future::join_all(workers).await {
        all.extend(w??);
    }
    Ok(all)
}

/// The size of one stored SwarmService in etcd, so raw puts write values of the same size.
pub async fn stored_value_len(etcd: &etcd_client::Client, key: &str) -> anyhow::Result<usize> {
    let resp = etcd.kv_client().get(key, None).await?;
    let kv = resp
        .kvs()
        .first()
        .ok_or_else(|| anyhow::anyhow!("no stored object at {key}"))?;
    Ok(kv.value().len())
}
