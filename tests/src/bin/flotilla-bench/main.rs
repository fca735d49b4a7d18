//! `flotilla-bench e2e`: the whole pipeline at scale, as separate release processes — a real
//! etcd, the api-server, the scheduler and the controller-manager (`flotilla_cli::up::Cluster`),
//! and simulated nodes in a few `flotilla-node-agent --simulate-nodes` processes. Phases:
//! apply (replicas → all Running, against the store's floor), update (new image, parallelism
//! 100), node loss (kill the agent of a tenth of the nodes), global (one task per node). Prints
//! one table with each process's CPU seconds and peak RSS. See docs/benchmark.md.
//!
//! `cargo build --release -p flotilla-tests --bin flotilla-bench` and the four component
//! binaries, then `target/release/flotilla-bench e2e [--nodes 1000] [--replicas 10000] …`.
//! `flotilla-bench aio` measures the one-daemon mode instead (see aio.rs).

mod agents;
mod aio;
mod etcd;
mod phases;
mod procstat;
mod table;
mod tracker;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

// The bench's own watch and etcd clients run here; same allocator as the binaries.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(name = "flotilla-bench", about = "Flotilla's end-to-end benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// apply / update / node loss / global through real processes; one table.
    E2e(E2eArgs),
    /// `flotilla all-in-one`: idle RSS, creates vs its raw store, RSS with nodes and tasks.
    Aio(aio::AioArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct E2eArgs {
    /// Simulated nodes in all.
    #[arg(long, default_value_t = 1_000)]
    pub nodes: usize,
    /// Replicas of the replicated service.
    #[arg(long, default_value_t = 10_000)]
    pub replicas: usize,
    /// Node-agent processes the nodes are spread over: the first holds `--lost-nodes` (node
    /// loss kills it), the others share the rest. Each process watches every Task (a real node
    /// watches only its own), so each one more sends the api-server's whole task stream again.
    #[arg(long, default_value_t = 2)]
    pub agents: usize,
    /// Nodes the node-loss phase stops (the first agent process's).
    #[arg(long, default_value_t = 100)]
    pub lost_nodes: usize,
    /// Time each simulated container operation takes (the agent's default).
    #[arg(long, default_value = "50ms", value_parser = flotilla_api::duration::parse_duration)]
    pub latency: Duration,
    /// Raw etcd puts in flight at once (the scheduler's binding concurrency).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The controller-manager's --node-monitor-grace-period.
    #[arg(long, default_value = "15s", value_parser = flotilla_api::duration::parse_duration)]
    pub grace: Duration,
    /// Where the release binaries are (default: next to this one).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Run only these phases (comma-separated: apply,update,loss,global).
    #[arg(long, default_value = "apply,update,loss,global")]
    pub phases: String,
    /// Keep the data dir and the processes' logs (`logs/`; `RUST_LOG` reaches every process).
    #[arg(long)]
    pub keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::E2e(args) => {
            let report = phases::run(args).await?;
            table::print(&report);
        }
        Command::Aio(args) => aio::run(args).await?,
    }
    Ok(())
}
