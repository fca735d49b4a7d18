//! The api-server benchmark: one run starts a real etcd and the api-server in-process over
//! it, then measures
//! 1. create throughput and p50/p99 latency at 1, 16 and 64 concurrent clients through the
//!    api-server (HTTPS, admin client certificate, kube-rs `Api<SwarmService>::create`), once
//!    over kube-rs's own HTTP/1.1 stack (one connection per request in flight) and once over
//!    HTTP/2 (every client on one connection, as client-go and kubectl do),
//! 2. the same number of raw etcd puts of values of the stored object's size, and the ratio,
//! 3. watch fan-out: 1,000 watchers on swarmservices, deliveries per second and p99 delivery
//!    latency, at a steady create rate and in a burst.
//!
//! `cargo run --release -p flotilla-api-server --example bench -- --help`

// The shipped `flotilla-api-server` binary's allocator, so these figures are the binary's.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cpu;
mod creates;
mod stats;
mod watch;

use std::time::Duration;

use clap::Parser;
use flotilla_api::SwarmService;
use flotilla_tests::apiserver::TestApiServer;
use kube::api::{Api, PostParams};

use cpu::Cpu;
use stats::{ms, Run};
use watch::{FanOut, Pace};

#[derive(Parser, Debug)]
#[command(about = "Benchmark the api-server against raw etcd (creates, watch fan-out)")]
struct Args {
    /// Creates per concurrency level (through the api-server, and as raw etcd puts).
    #[arg(long, default_value_t = 2000)]
    creates: usize,
    /// Rounds per level: each side runs `creates / rounds` per round, the sides alternating,
    /// so a change in the machine's speed during the run falls on all of them alike.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Concurrent clients, one level per value.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    concurrency: Vec<usize>,
    /// Watchers in the fan-out test.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Creates each fan-out phase sends (every watcher receives all of them).
    #[arg(long, default_value_t = 200)]
    watch_events: usize,
    /// Creates per second in the steady fan-out phase.
    #[arg(long, default_value_t = 20)]
    watch_rate: u64,
}

fn main() -> anyhow::Result<()> {
    flotilla_component::init_tracing("warn");
    let args = Args::parse();
    // The api-server (with its etcd client and watch cache) runs on its own runtime, the
    // clients on another, so each side's CPU time can be read per thread name.
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
    };
    let server_rt = runtime(cpu::SERVER_THREADS)?;
    let client_rt = runtime("bench-client")?;
    let server = server_rt.block_on(TestApiServer::with_etcd())?;
    let result = client_rt.block_on(run(&args, &server));
    server_rt.block_on(server.stop());
    result
}

async fn run(args: &Args, server: &TestApiServer) -> anyhow::Result<()> {
    let etcd_server = server.etcd.as_ref().expect("etcd-backed");
    let (endpoint, etcd_pid) = (etcd_server.endpoint(), etcd_server.pid());
    let etcd = etcd_client::Client::connect([endpoint], None).await?;
    let client = server.client().await?;
    let api: Api<SwarmService> = Api::namespaced(client.clone(), "default");
    let h2_client =
        flotilla_component::http2_client_from_kubeconfig(Some(&server.kubeconfig)).await?;
    let h2_api: Api<SwarmService> = Api::namespaced(h2_client, "default");

    api.create(&PostParams::default(), &creates::service("warmup"))
        .await?;
    let key = "/registry/flotilla.dev/swarmservices/default/warmup";
    let value_len = creates::stored_value_len(&etcd, key).await?;
    println!(
        "flotilla api-server benchmark: etcd {endpoint}, api-server {}, {} cores",
        server.url,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("stored SwarmService: {value_len} bytes; raw etcd puts use values of that size\n");

    println!("create      clients   creates   per second       p50        p99        max");
    let sides = Sides {
        h1: &api,
        h2: &h2_api,
        etcd: &etcd,
        etcd_pid,
        value_len,
    };
    for &c in &args.concurrency {
        let [via_api, via_h2, raw, txn, watched] =
            sides.level(c, args.creates, args.rounds).await?;
        row("api HTTP/1", c, &via_api.0);
        println!("            {}", via_api.1.per_op(via_api.0.ops, "create"));
        row("api HTTP/2", c, &via_h2.0);
        println!("            {}", via_h2.1.per_op(via_h2.0.ops, "create"));
        row("raw etcd", c, &raw.0);
        println!("            {}", raw.1.per_op(raw.0.ops, "put"));
        println!(
            "            ratio api-server/etcd: {:.2} over HTTP/1.1, {:.2} over HTTP/2",
            via_api.0.per_second() / raw.0.per_second(),
            via_h2.0.per_second() / raw.0.per_second()
        );
        // Not yardsticks: which part of etcd's cost per create is the Txn, and its watch event.
        row("etcd txn", c, &txn.0);
        println!("            {}", txn.1.per_op(txn.0.ops, "txn"));
        row("etcd txn+w", c, &watched.0);
        println!("            {}\n", watched.1.per_op(watched.0.ops, "txn"));
    }

    if args.watchers == 0 {
        println!("watch fan-out: skipped (--watchers 0)");
        return Ok(());
    }
    let patience = Duration::from_secs(120);
    let every = Duration::from_secs_f64(1.0 / args.watch_rate.max(1) as f64);
    let phases = [
        (
            format!("steady {}/s", args.watch_rate),
            "steady",
            Pace::Steady(every),
        ),
        ("burst (16 clients)".to_string(), "burst", Pace::Burst(16)),
    ];
    for (label, prefix, pace) in phases {
        let fan_out = watch::run(
            etcd_pid,
            &client,
            "default",
            prefix,
            args.watchers,
            args.watch_events,
            pace,
            patience,
        )
        .await?;
        fan_out_row(&label, &fan_out);
        let cpu = fan_out.cpu.per_op(fan_out.deliveries.ops, "delivery");
        println!("            {cpu}");
    }
    Ok(())
}

/// What one level of the create benchmark runs against.
struct Sides<'a> {
    h1: &'a Api<SwarmService>,
    h2: &'a Api<SwarmService>,
    etcd: &'a etcd_client::Client,
    etcd_pid: u32,
    value_len: usize,
}

impl Sides<'_> {
    /// Every [`Side`] (in [`Side::ALL`]'s order) with its CPU, measured in interleaved rounds (in
    /// reverse order every other round).
    async fn level(
        &self,
        c: usize,
        creates: usize,
        rounds: usize,
    ) -> anyhow::Result<[(Run, Cpu); 5]> {
        let rounds = rounds.max(1);
        let per_round = creates.div_ceil(rounds);
        self.warm_up(c).await?;
        let mut runs: [(Vec<Run>, Cpu); 5] = Default::default();
        for r in 0..rounds {
            let mut order = Side::ALL;
            if r % 2 == 1 {
                order.reverse();
            }
            for side in order {
                let before = Cpu::sample(self.etcd_pid);
                let run = self.one(side, c, r, per_round).await?;
                let cpu = Cpu::sample(self.etcd_pid).since(&before);
                let slot = &mut runs[side as usize];
                slot.0.push(run);
                slot.1 = slot.1.plus(&cpu);
            }
        }
        Ok(runs.map(|(r, cpu)| (Run::merge(r), cpu)))
    }

    /// Opens the connections `c` clients need before the clock starts: kube-rs's HTTP/1.1 pool
    /// holds one per request in flight, and their TLS handshakes (client certificate checked,
    /// an ECDSA signature each) would otherwise be billed to the level's first round, ~15% of
    /// the api-server's CPU at 64 clients. Long-lived clients (controllers, kubelets) pay them
    /// once; raw etcd's one gRPC channel was opened at start.
    async fn warm_up(&self, c: usize) -> anyhow::Result<()> {
        creates::api_server(self.h1, &format!("warm-c{c}"), 2 * c, c).await?;
        creates::api_server(self.h2, &format!("warm-h{c}"), 2 * c, c).await?;
        Ok(())
    }

    async fn one(&self, side: Side, c: usize, round: usize, n: usize) -> anyhow::Result<Run> {
        use creates::Raw;
        let raw = |how, tag: &str| {
            let prefix = format!("/bench/{tag}/c{c}-r{round}");
            async move { creates::raw_etcd(self.etcd, &prefix, self.value_len, n, c, how).await }
        };
        match side {
            Side::Http1 => creates::api_server(self.h1, &format!("c{c}-r{round}"), n, c).await,
            Side::Http2 => creates::api_server(self.h2, &format!("h{c}-r{round}"), n, c).await,
            Side::Put => raw(Raw::Put, "raw").await,
            Side::Txn => raw(Raw::Txn, "txn").await,
            Side::TxnWatched => raw(Raw::TxnWatched, "txnw").await,
        }
    }
}

/// One series of a create level.
#[derive(Debug, Clone, Copy)]
enum Side {
    /// Through the api-server, kube-rs's HTTP/1.1 client.
    Http1,
    /// Through the api-server, one HTTP/2 connection.
    Http2,
    /// Raw etcd puts (the yardstick).
    Put,
    /// Raw etcd create Txns.
    Txn,
    /// Raw etcd create Txns with a watch draining their events.
    TxnWatched,
}

impl Side {
    const ALL: [Side; 5] = [
        Side::Http1,
        Side::Http2,
        Side::Put,
        Side::Txn,
        Side::TxnWatched,
    ];
}

fn row(what: &str, clients: usize, r: &Run) {
    println!(
        "{what:<11} {clients:>7} {:>9} {:>12.0} {:>10} {:>10} {:>10}",
        r.ops,
        r.per_second(),
        ms(r.p50()),
        ms(r.p99()),
        ms(r.max())
    );
}

fn fan_out_row(phase: &str, f: &FanOut) {
    let d = &f.deliveries;
    println!(
        "watch fan-out, {phase}: {} watchers x {} creates = {} deliveries ({} missing) in {:.2} s: \
         {:.0} events/s delivered, delivery latency p50 {} p99 {} max {}",
        f.watchers,
        f.creates,
        d.ops,
        f.missing,
        d.elapsed.as_secs_f64(),
        d.per_second(),
        ms(d.p50()),
        ms(d.p99()),
        ms(d.max())
    );
}
