//! `flotilla-node-agent (--kubeconfig … | --server https://… --join-token[-file] … --cert-dir …)
//! --node-name … --runtime docker|cri|simulated
//! [--cri-endpoint unix:///run/containerd/containerd.sock] [--simulate-nodes N]
//! [--node-address 127.0.0.2]`: a thin shell over the library ([`flotilla_node_agent::launch`]).

// jemalloc instead of glibc malloc: allocation is a large, spread-out share of the CPU under
// load (docs/benchmark.md#global-allocator-jemalloc-in-the-binaries).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::process::ExitCode;

use clap::Parser;
use flotilla_node_agent::launch::run_agent;
use flotilla_node_agent::options::AgentArgs;

/// Flotilla's node agent: registers a SwarmNode, runs the Tasks bound to it, serves the routing mesh.
#[derive(Parser, Debug)]
#[command(name = "flotilla-node-agent", version)]
struct Args {
    #[command(flatten)]
    agent: AgentArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    flotilla_component::init_tracing("info");
    #[cfg(feature = "jemalloc")]
    flotilla_component::alloc::tune(flotilla_component::alloc::AGENT_DECAY_MS);
    let Args { agent } = Args::parse();
    match run_agent(agent, flotilla_component::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
