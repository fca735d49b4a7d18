//! What every Flotilla binary does first and last: log setup and waiting for the signal to stop.

/// Logs to stdout (tracing-subscriber's default) at `RUST_LOG`'s levels, or `default_filter`
/// (e.g. `info`) when it is unset.
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what `docker stop`, systemd and `kill` send), so a
/// component can stop cleanly, e.g. give up its Lease. Should the SIGTERM handler not install,
/// Ctrl-C alone still stops it.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; only Ctrl-C stops this process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("stop signal received; shutting down");
}
