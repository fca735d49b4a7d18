//! `flotilla-scheduler [--kubeconfig PATH] [--leader-elect] [--concurrency N]`: a thin shell
//! over the library.

// jemalloc instead of glibc malloc: allocation is a large, spread-out share of the CPU under
// load (docs/benchmark.md#global-allocator-jemalloc-in-the-binaries).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::process::ExitCode;

use clap::Parser;
use flotilla_component::args::ComponentArgs;
use flotilla_scheduler::{Options, COMPONENT};

#[derive(Parser, Debug)]
#[command(
    name = "flotilla-scheduler",
    about = "Places Pending Tasks on SwarmNodes (Swarm's scheduler)."
)]
struct Args {
    #[command(flatten)]
    component: ComponentArgs,
    #[command(flatten)]
    options: Options,
}

// One thread: the scheduler is one event loop and its writes are I/O; a second worker only adds
// cross-thread wake-ups, which cost CPU per binding (docs/benchmark.md#scheduler).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    flotilla_component::init_tracing("info");
    #[cfg(feature = "jemalloc")]
    flotilla_component::alloc::tune(flotilla_component::alloc::CONTROL_PLANE_DECAY_MS);
    let Args { component, options } = Args::parse();
    component
        .run(COMPONENT, |client, stop| {
            flotilla_scheduler::run(client, options, stop)
        })
        .await
}
