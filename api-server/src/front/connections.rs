//! What a connection may cost the server before it has proven anything: how long it may take to
//! send its request headers, how long it may sit idle, how many may be open at once, and how the
//! accept loop behaves when the process runs out of file descriptors.
//!
//! Go's net/http, which kube-apiserver serves with, has the same knobs (`ReadHeaderTimeout`,
//! `IdleTimeout`, the accept loop's 5 ms…1 s backoff on temporary errors); hyper has none of them
//! on unless a timer is given, so they are set here explicitly.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Open connections accepted at once (further clients wait in the listen backlog).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// HTTP/2 keep-alive pings: a peer that stops answering them is dropped.
pub const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
pub const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// File descriptors kept out of the connection cap: etcd, the data dir, logs.
const FD_RESERVE: u64 = 256;

/// How long the accept loop waits after a failed accept, and when it may log: EMFILE returns
/// at once, so without a pause the loop spins, and without a rate limit it floods the log.
#[derive(Debug)]
pub struct AcceptBackoff {
    delay: Duration,
    last_log: Option<Instant>,
    suppressed: u64,
}

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            delay: Duration::ZERO,
            last_log: None,
            suppressed: 0,
        }
    }
}

/// What to do about one failed accept.
#[derive(Debug, PartialEq, Eq)]
pub struct AcceptFailure {
    pub wait: Duration,
    /// Log now, saying how many failures went unlogged since the last line.
    pub log: Option<u64>,
}

impl AcceptBackoff {
    pub fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
    }

    pub fn failed(&mut self, now: Instant) -> AcceptFailure {
        self.delay = (self.delay * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        let log = match self.last_log {
            Some(at) if now.duration_since(at) < LOG_EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_log = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        };
        AcceptFailure {
            wait: self.delay,
            log,
        }
    }
}

/// The connection cap actually used: the configured one, but never more than the process's
/// file-descriptor limit allows (past it accept fails with EMFILE instead of waiting).
pub fn effective_max_connections(configured: usize) -> usize {
    let fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let allowed = fds.saturating_sub(FD_RESERVE).max(1);
    configured.clamp(1, usize::try_from(allowed).unwrap_or(usize::MAX))
}

/// Raises the soft file-descriptor limit to the hard one, as Go's runtime does for every Go
/// program (kube-apiserver included); returns the limit now in force.
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "could not raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Requests in flight on one connection and when it last did anything, for the idle timeout.
#[derive(Debug)]
pub struct Activity {
    active: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            active: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        })
    }

    fn touch(&self) {
        *self.last.lock().expect("activity lock") = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.last.lock().expect("activity lock")
    }

    /// A request starts; it ends when the guard (held by its response body) is dropped.
    pub fn begin(self: &Arc<Self>) -> ActiveRequest {
        self.active.fetch_add(1, Ordering::SeqCst);
        self.touch();
        ActiveRequest(self.clone())
    }

    /// Resolves once the connection has had no request in flight for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        loop {
            if self.active.load(Ordering::SeqCst) > 0 {
                // Busy (a watch may stream for an hour): look again later.
                tokio::time::sleep(idle).await;
                continue;
            }
            let deadline = self.last() + idle;
            if Instant::now() >= deadline && self.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// One request in flight; dropped when its response has been sent (or abandoned).
#[derive(Debug)]
pub struct ActiveRequest(Arc<Activity>);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.touch();
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_logs_at_most_every_ten_seconds() {
        let t0 = Instant::now();
        let mut b = AcceptBackoff::default();
        let first = b.failed(t0);
        assert_eq!(first.wait, BACKOFF_MIN);
        assert_eq!(first.log, Some(0));
        let waits: Vec<Duration> = (0..12).map(|_| b.failed(t0).wait).collect();
        assert_eq!(waits[0], Duration::from_millis(10));
        assert_eq!(*waits.last().unwrap(), BACKOFF_MAX);
        // 12 failures within the same second went unlogged; the next line says so.
        assert_eq!(b.failed(t0 + Duration::from_secs(9)).log, None);
        assert_eq!(b.failed(t0 + LOG_EVERY).log, Some(13));
        b.succeeded();
        assert_eq!(b.failed(t0 + LOG_EVERY).wait, BACKOFF_MIN);
    }

    #[test]
    fn cap_stays_under_the_fd_limit() {
        let fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        let cap = effective_max_connections(usize::MAX) as u64;
        assert!(cap < fds || fds <= FD_RESERVE, "{cap} vs {fds}");
        assert_eq!(effective_max_connections(10), 10.min(cap as usize));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_requests_to_end() {
        let a = Activity::new();
        let idle = Duration::from_secs(90);
        let req = a.begin();
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.idle_for(idle).await }
        });
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!waiter.is_finished(), "a request in flight is not idle");
        drop(req);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!waiter.is_finished(), "60 s after the last request");
        tokio::time::sleep(Duration::from_secs(200)).await;
        assert!(waiter.is_finished());
    }
}
