//! `flotilla-controller-manager --kubeconfig PATH [--leader-elect] [--controllers=*]`

// jemalloc instead of glibc malloc: allocation is a large, spread-out share of the CPU under
// load; jemalloc cut the api-server's CPU per request by ~20% (docs/benchmark.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;

use clap::Parser;
use flotilla_controller_manager::{run, Options, Selection};
use flotilla_runtime::leader::{unique_identity, LeaderElectionConfig, LeaderElector, Outcome};

/// Lease `kube-system/flotilla-controller-manager` decides which replica acts.
const LEASE_NAMESPACE: &str = "kube-system";
const LEASE_NAME: &str = "flotilla-controller-manager";

#[derive(Parser, Debug)]
#[command(
    name = "flotilla-controller-manager",
    about = "Runs Flotilla's orchestration controllers"
)]
struct Args {
    /// Kubeconfig of the controller-manager identity (default: KUBECONFIG / in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Run the controllers only while holding the Lease kube-system/flotilla-controller-manager.
    #[arg(long, default_value_t = false)]
    leader_elect: bool,
    /// Controllers to run: `*`, names, `-name` to exclude (e.g. `*,-reaper`).
    #[arg(long, default_value = "*")]
    controllers: String,
    /// Terminal tasks kept per slot (negative: never delete).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    task_history_limit: i64,
    /// A node whose heartbeat Lease `flotilla-node-lease/<node>` is not renewed for this long is
    /// marked down ("heartbeat failure"). Swarm: 3 missed 5 s heartbeats.
    #[arg(long, default_value = "15s", value_parser = flotilla_api::duration::parse_duration)]
    node_monitor_grace_period: std::time::Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    flotilla_runtime::init_tracing("info");
    let args = Args::parse();
    let opts = Options {
        controllers: Selection::parse(&args.controllers)?,
        history_limit: args.task_history_limit,
        node_monitor_grace_period: args.node_monitor_grace_period,
        ..Options::default()
    };
    // HTTP/2, as kube-controller-manager speaks it: its many watches share one connection.
    let client = flotilla_runtime::http2_client_from_kubeconfig(args.kubeconfig.as_deref()).await?;
    let shutdown = flotilla_runtime::shutdown_signal();
    if !args.leader_elect {
        run(client, opts, shutdown).await?;
        return Ok(());
    }
    let elector = LeaderElector::new(
        client.clone(),
        LEASE_NAMESPACE,
        LEASE_NAME,
        &unique_identity(),
        LeaderElectionConfig::default(),
    );
    let work = || run(client, opts, std::future::pending());
    match elector.run_when_leader(work, shutdown).await {
        Outcome::Shutdown => Ok(()),
        Outcome::Finished(result) => Ok(result?),
        Outcome::Lost => {
            anyhow::bail!("lost leadership of {LEASE_NAMESPACE}/{LEASE_NAME}; exiting")
        }
    }
}
