//! The `flotilla` command.

// jemalloc instead of glibc malloc: allocation is a large, spread-out share of the CPU under
// load (docs/benchmark.md#global-allocator-jemalloc-in-the-binaries).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flotilla_cli::{all_in_one, certs, crdgen, images, join_token, lab, up};

#[derive(Parser)]
#[command(
    name = "flotilla",
    version,
    about = "Swarm's service model on Kubernetes' split control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions of flotilla.dev/v1alpha1 as YAML.
    Crdgen {
        /// Write one file per CRD (`<plural>.flotilla.dev.yaml`) into this directory instead.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Start etcd, the control plane and node agents as separate processes, apply the example.
    Up(up::UpOptions),
    /// Run the control plane as tasks of one process over the embedded store.
    AllInOne(all_in_one::AllInOneOptions),
    /// Build one container image per binary (`flotilla/<name>:<tag>`, FROM scratch + ldd's libraries).
    Images(images::ImagesOptions),
    /// Write the CA, certificates and kubeconfigs of a cluster whose components run apart
    /// (the compose topology's init job).
    Certs(certs::CertsOptions),
    /// Print the token node agents join with (`docker swarm join-token worker`); administrators only.
    JoinToken(join_token::JoinTokenOptions),
    /// Run an experiment on Docker Swarm (this engine in swarm mode) and on Flotilla, side by
    /// side: converge N, replace, drain, update N, leader, quorum, footprint, or all.
    Lab(lab::LabOptions),
}

#[tokio::main]
async fn main() -> ExitCode {
    flotilla_component::init_tracing("warn");
    #[cfg(feature = "jemalloc")]
    flotilla_component::alloc::tune(flotilla_component::alloc::CONTROL_PLANE_DECAY_MS);
    let result = match Cli::parse().command {
        Command::Crdgen { out_dir } => crdgen::crdgen(out_dir),
        Command::Up(opts) => up::up(opts).await,
        Command::AllInOne(opts) => all_in_one::all_in_one(opts).await,
        Command::Images(opts) => images::images(opts),
        Command::Certs(opts) => certs::certs(opts),
        Command::JoinToken(opts) => join_token::join_token(opts).await,
        Command::Lab(opts) => lab::lab(opts).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("flotilla: {err:#}");
            ExitCode::FAILURE
        }
    }
}
