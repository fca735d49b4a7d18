//! `flotilla-api-server`: flags in, server out. Flags mirror kube-apiserver's.

// jemalloc instead of glibc malloc: allocation is a large, spread-out share of the CPU under
// load; jemalloc cut the api-server's CPU per request by ~20% (docs/benchmark.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::Parser;
use flotilla_api_server::app;

/// `flotilla-api-server`'s command line: the library's flags, nothing more.
#[derive(Parser, Debug)]
#[command(
    name = "flotilla-api-server",
    version,
    about = "Kubernetes-compatible API server for flotilla.dev"
)]
struct Cli {
    #[command(flatten)]
    args: app::Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    flotilla_component::init_tracing("info");
    #[cfg(feature = "jemalloc")]
    flotilla_component::alloc::tune(flotilla_component::alloc::CONTROL_PLANE_DECAY_MS);
    let args = Cli::parse().args;
    let addr = args.listen_address();
    let options = match args.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("flotilla-api-server: {e}");
            std::process::exit(64);
        }
    };
    let fds = app::raise_fd_limit();
    tracing::info!(open_file_limit = ?fds, "file descriptors");
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    app::run(listener, options, flotilla_component::shutdown_signal()).await
}
