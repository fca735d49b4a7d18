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

/// jemalloc keeps freed pages for 10 s by default before returning them to the kernel; the
/// api-server frees in bursts (watch lines, list answers, decoded bodies), and what it kept was
/// a sixth of its peak RSS at 200 nodes (docs/benchmark.md, "Where the memory is").
#[cfg(feature = "jemalloc")]
const DECAY_MS: isize = 0;

/// Sets [`DECAY_MS`] for dirty and muzzy pages: the default for arenas made later (one per
/// worker thread, on first use) and each arena that exists already (the main thread's).
#[cfg(feature = "jemalloc")]
fn return_freed_pages() -> tikv_jemalloc_ctl::Result<()> {
    use tikv_jemalloc_ctl::{Access, AsName};
    for kind in ["dirty", "muzzy"] {
        format!("arenas.{kind}_decay_ms\0").name().write(DECAY_MS)?;
        for arena in 0..tikv_jemalloc_ctl::arenas::narenas::read()? {
            // An arena not made yet refuses the write; it gets the default above when made.
            let _ = format!("arena.{arena}.{kind}_decay_ms\0")
                .name()
                .write(DECAY_MS);
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    flotilla_component::init_tracing("info");
    #[cfg(feature = "jemalloc")]
    if let Err(e) = return_freed_pages() {
        tracing::warn!(error = %e, "could not set jemalloc's decay; freed pages stay for 10 s");
    }
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

#[cfg(all(test, feature = "jemalloc"))]
mod tests {
    use tikv_jemalloc_ctl::{Access, AsName};

    fn read(name: &str) -> isize {
        format!("{name}\0")
            .name()
            .read()
            .expect("a jemalloc setting")
    }

    #[test]
    fn freed_pages_go_back_at_once_in_existing_and_later_arenas() {
        super::return_freed_pages().unwrap();
        for name in ["arenas.dirty_decay_ms", "arenas.muzzy_decay_ms"] {
            assert_eq!(read(name), super::DECAY_MS, "{name}");
        }
        assert_eq!(read("arena.0.dirty_decay_ms"), super::DECAY_MS);
        // A thread's first allocation may make a new arena: it starts from the default.
        let later = std::thread::spawn(|| {
            let _ = vec![0u8; 1 << 20];
            let arena: u32 = "thread.arena\0".name().read().unwrap();
            read(&format!("arena.{arena}.dirty_decay_ms"))
        });
        assert_eq!(later.join().unwrap(), super::DECAY_MS);
    }
}
