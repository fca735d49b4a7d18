//! `flotilla-scheduler --kubeconfig PATH [--leader-elect]`: a thin shell over the library.

// jemalloc instead of glibc malloc: allocation is a large, spread-out share of the CPU under
// load; jemalloc cut the api-server's CPU per request by ~20% (docs/benchmark.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use flotilla_api::duration::parse_duration;
use flotilla_runtime::leader::{unique_identity, LeaderElectionConfig};
use flotilla_scheduler::{LeaderElection, Options};

#[derive(Parser, Debug)]
#[command(
    name = "flotilla-scheduler",
    about = "Places Pending Tasks on SwarmNodes (Swarm's scheduler)."
)]
struct Args {
    /// kubeconfig to reach the api-server (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Act only while holding the Lease, so several replicas can run for failover.
    #[arg(long, default_value_t = false)]
    leader_elect: bool,
    #[arg(long, default_value = "kube-system")]
    leader_elect_resource_namespace: String,
    #[arg(long, default_value = "flotilla-scheduler")]
    leader_elect_resource_name: String,
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    leader_elect_lease_duration: Duration,
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    leader_elect_renew_deadline: Duration,
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    leader_elect_retry_period: Duration,
    /// Bindings and status writes in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Initial state through streaming lists (sendInitialEvents; needs kube-apiserver ≥ 1.32 or
    /// its WatchList feature gate). `--watch-list=false` uses paged lists.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    watch_list: bool,
}

// One thread: the scheduler is one event loop (a pass over 10,000 tasks takes ~5 ms) and its
// writes are I/O. A second worker only adds cross-thread wake-ups: on the scheduler bench the
// multi-threaded runtime spent ~25% more CPU per binding (0.72 s against 0.54 s for 10,000).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    flotilla_runtime::init_tracing("info");
    let args = Args::parse();
    let client =
        match flotilla_runtime::http2_client_from_kubeconfig(args.kubeconfig.as_deref()).await {
            Ok(client) => client,
            Err(e) => {
                eprintln!("flotilla-scheduler: {e}");
                return ExitCode::from(2);
            }
        };
    let leader_election = args.leader_elect.then(|| LeaderElection {
        namespace: args.leader_elect_resource_namespace.clone(),
        lease_name: args.leader_elect_resource_name.clone(),
        identity: unique_identity(),
        config: LeaderElectionConfig {
            lease_duration: args.leader_elect_lease_duration,
            renew_deadline: args.leader_elect_renew_deadline,
            renew_period: args.leader_elect_retry_period,
            retry_period: args.leader_elect_retry_period,
        },
    });
    let options = Options {
        leader_election,
        concurrency: args.concurrency,
        watch_list: args.watch_list,
        ..Options::default()
    };
    match flotilla_scheduler::run(client, options, flotilla_runtime::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flotilla-scheduler: {e}");
            ExitCode::FAILURE
        }
    }
}
