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
            serde_yaml::from_str(&yaml).expect("the web fixture is a valid SwarmService")
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

/// Runs `total` puts of `value_len`-byte values under fresh keys over `concurrency` workers
/// sharing one etcd client (one gRPC channel, as the api-server has).
pub async fn raw_etcd(
    etcd: &etcd_client::Client,
    prefix: &str,
    value_len: usize,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Run> {
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
                let t = Instant::now();
                kv.put(format!("{prefix}/{i}"), value.clone(), None).await?;
                lat.push(t.elapsed());
            }
        })
    });
    let lat = collect(workers).await?;
    Ok(Run::new(start.elapsed(), lat))
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
