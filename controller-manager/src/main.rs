//! `flotilla-controller-manager [--kubeconfig PATH] [--leader-elect] [--controllers=*]`: a thin
//! shell over the library.

// jemalloc instead of glibc malloc: allocation is a large, spread-out share of the CPU under
// load (docs/benchmark.md#global-allocator-jemalloc-in-the-binaries).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::process::ExitCode;

use clap::Parser;
use flotilla_component::args::ComponentArgs;
use flotilla_controller_manager::{run, Options, COMPONENT};

#[derive(Parser, Debug)]
#[command(
    name = "flotilla-controller-manager",
    about = "Runs Flotilla's orchestration controllers"
)]
struct Args {
    #[command(flatten)]
    component: ComponentArgs,
    #[command(flatten)]
    options: Options,
}

#[tokio::main]
async fn main() -> ExitCode {
    flotilla_component::init_tracing("info");
    #[cfg(feature = "jemalloc")]
    flotilla_component::alloc::tune(flotilla_component::alloc::CONTROL_PLANE_DECAY_MS);
    let Args { component, options } = Args::parse();
    // HTTP/2, as kube-controller-manager speaks it: its many watches share one connection.
    component
        .run(COMPONENT, |client, stop| run(client, options, stop))
        .await
}
