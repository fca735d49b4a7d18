//! Watch fan-out: W watchers on the swarmservices of one namespace, then creates; every
//! watcher records when each ADDED event arrived. Delivery latency is measured from the
//! moment the create's response arrived (zero when the event beat the response).

use std::sync::Arc;
use std::time::Duration;

use flotilla_api::SwarmService;
use futures::AsyncBufReadExt;
use kube::api::{Api, ListParams, PostParams};
use serde::Deserialize;
use tokio::time::Instant;

use crate::cpu::Cpu;
use crate::creates::service;
use crate::stats::Run;

/// How each phase sends its creates.
pub enum Pace {
    /// One create every `interval` from one client: latency under a steady load.
    Steady(Duration),
    /// As fast as `concurrency` clients go: the most events the server can push out.
    Burst(usize),
}

impl Pace {
    /// How many clients send the creates.
    fn clients(&self) -> usize {
        match self {
            Pace::Steady(_) => 1,
            Pace::Burst(c) => *c,
        }
    }
}

pub struct FanOut {
    pub watchers: usize,
    pub creates: usize,
    pub deliveries: Run,
    /// Deliveries that did not arrive before the deadline.
    pub missing: usize,
    /// CPU spent from the first create to the last delivery (not opening the watches).
    pub cpu: Cpu,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    object: Obj,
}
#[derive(Deserialize)]
struct Obj {
    metadata: Meta,
}
#[derive(Deserialize)]
struct Meta {
    name: String,
}

/// Opens `watchers` watches, sends `creates` creates named `<prefix>-<i>`, waits for every
/// watcher to see all of them (or `patience`), and summarises the deliveries.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    etcd_pid: u32,
    client: &kube::Client,
    ns: &str,
    prefix: &str,
    watchers: usize,
    creates: usize,
    pace: Pace,
    patience: Duration,
) -> anyhow::Result<FanOut> {
    let api: Api<SwarmService> = Api::namespaced(client.clone(), ns);
    let rv = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let path = format!(
        "/apis/flotilla.dev/v1alpha1/namespaces/{ns}/swarmservices?watch=true&resourceVersion={rv}&timeoutSeconds=600"
    );
    let mut streams = Vec::with_capacity(watchers);
    for chunk in (0..watchers).collect::<Vec<_>>().chunks(50) {
        let opened = chunk.iter().map(|_| {
            let req = http::Request::get(&path)
                .body(Vec::new())
                .expect("valid request");
            client.request_stream(req)
        });
        for s in futures::future::join_all(opened).await {
            streams.push(s?);
        }
    }
    let receivers: Vec<_> = streams
        .into_iter()
        .map(|s| tokio::spawn(receive(s, Received::with_room(creates), creates, patience)))
        .collect();
    open_connections(&api, &pace).await?;
    let before = Cpu::sample(etcd_pid);
    let sent = send(&api, prefix, creates, pace).await?;
    let mut latencies = Vec::with_capacity(watchers * creates);
    let mut last = sent.first;
    let mut missing = 0;
    let mut received = Vec::with_capacity(watchers);
    for r in receivers {
        received.push(r.await?);
    }
    let cpu = Cpu::sample(etcd_pid).since(&before);
    let prefix_dash = format!("{prefix}-");
    for got in received.iter().map(|r| r.added(&prefix_dash)) {
        missing += creates - got.len();
        for (i, at) in got {
            last = last.max(at);
            latencies.push(at.saturating_duration_since(sent.responded[i]));
        }
    }
    Ok(FanOut {
        watchers,
        creates,
        deliveries: Run::new(last - sent.first, latencies),
        missing,
        cpu,
    })
}

/// Opens the connections the creates will use before the clock starts (kube-rs's HTTP/1.1 pool
/// holds one per request in flight): 16 TLS handshakes are not part of a burst of events.
async fn open_connections(api: &Api<SwarmService>, pace: &Pace) -> anyhow::Result<()> {
    let one = ListParams::default().limit(1);
    let lists = (0..pace.clients()).map(|_| api.list(&one));
    for listed in futures::future::join_all(lists).await {
        listed?;
    }
    Ok(())
}

struct Sent {
    first: Instant,
    responded: Vec<Instant>,
}

async fn send(
    api: &Api<SwarmService>,
    prefix: &str,
    creates: usize,
    pace: Pace,
) -> anyhow::Result<Sent> {
    let first = Instant::now();
    let responded = Arc::new(std::sync::Mutex::new(vec![first; creates]));
    let workers = pace.clients();
    let interval = match pace {
        Pace::Steady(every) => Some(every),
        Pace::Burst(_) => None,
    };
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks = (0..workers).map(|_| {
        let (api, next, responded) = (api.clone(), next.clone(), responded.clone());
        let prefix = prefix.to_string();
        tokio::spawn(async move {
            let mut tick = interval.map(tokio::time::interval);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= creates {
                    return Ok::<_, anyhow::Error>(());
                }
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                let svc = service(&format!("{prefix}-{i}"));
                api.create(&PostParams::default(), &svc).await?;
                responded.lock().expect("not poisoned")[i] = Instant::now();
            }
        })
    });
    for t in futures::future::join_all(tasks).await {
        t??;
    }
    let responded = responded.lock().expect("not poisoned").clone();
    Ok(Sent { first, responded })
}

/// What one watcher read: its bytes, and where each read ended with when it arrived.
struct Received {
    bytes: Vec<u8>,
    reads: Vec<(usize, Instant)>,
}

/// Bytes reserved per expected event (a watch line of the bench's service is ~1.6 KB).
const LINE_ROOM: usize = 2048;

/// Reads one watch until it has received `expected` lines, or `patience` ran out.
///
/// While the fan-out runs, a watcher only stamps each read and appends its bytes to a buffer
/// made ready before the creates began; the lines are decoded once every watcher is done
/// ([`Received::added`]). The 1,000 watchers share this 2-core machine with the api-server, and
/// decoding each event as it came spent more CPU than the server's fan-out did (4–6 µs against
/// 3–5 µs per delivery): CPU a watcher on its own machine would not take from the server.
async fn receive(
    mut stream: impl futures::AsyncBufRead + Unpin,
    mut got: Received,
    expected: usize,
    patience: Duration,
) -> Received {
    let read = async {
        let mut lines = 0;
        while lines < expected {
            let Ok(buf) = stream.fill_buf().await else {
                break;
            };
            if buf.is_empty() {
                break;
            }
            let at = Instant::now();
            lines += buf.iter().filter(|&&b| b == b'\n').count();
            got.bytes.extend_from_slice(buf);
            got.reads.push((got.bytes.len(), at));
            let n = buf.len();
            stream.consume_unpin(n);
        }
    };
    let _ = tokio::time::timeout(patience, read).await;
    got
}

impl Received {
    /// Room for `events` lines, written once so its pages are faulted in before the creates
    /// begin, not during the fan-out.
    fn with_room(events: usize) -> Received {
        let mut bytes = vec![1u8; events * LINE_ROOM];
        bytes.clear();
        Received {
            bytes,
            reads: Vec::with_capacity(events),
        }
    }

    /// The index and arrival of every ADDED event of a `prefix` object: a line arrived with the
    /// read that brought its newline.
    fn added(&self, prefix: &str) -> Vec<(usize, Instant)> {
        let mut got = Vec::new();
        let mut start = 0;
        let mut reads = self.reads.iter().peekable();
        for (pos, _) in self.bytes.iter().enumerate().filter(|(_, &b)| b == b'\n') {
            while reads.next_if(|(end, _)| *end <= pos).is_some() {}
            let Some(&&(_, at)) = reads.peek() else { break };
            let line = &self.bytes[start..pos];
            start = pos + 1;
            let Ok(ev) = serde_json::from_slice::<Event>(line) else {
                continue;
            };
            let idx = ev.object.metadata.name.strip_prefix(prefix);
            if let (true, Some(Ok(i))) = (ev.kind == "ADDED", idx.map(str::parse::<usize>)) {
                got.push((i, at));
            }
        }
        got
    }
}
