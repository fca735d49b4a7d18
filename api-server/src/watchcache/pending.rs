//! Writes in flight from this server. The feed usually receives a write's store event before
//! the handler that made the write gets its answer and primes the cache with the object (a
//! batched Txn answers many handlers at once), and would then decode the value the handler is
//! about to hand over. A handler marks its key before writing; the feed, meeting an event for a
//! marked key with nothing primed, waits (at most `prime_wait`, 5 ms by default: every subscriber
//! waits with it) until the handler primes or gives up, and decodes only then. The wait cannot
//! deadlock: handlers prime right after the store answers and never wait on the feed between.

use std::sync::Arc;

use super::{Shared, WatchCache};

/// Above this many subscribers the feed never waits (a watch fan-out to 1,000 watchers, whose
/// creates' handlers compete with the fan-out for the CPU, rose from ~100 to ~150 ms p99).
const MAX_WAITING_SUBSCRIBERS: usize = 16;

/// A write to `key` in flight; dropping it (after priming, or on failure) ends the mark.
pub struct PendingWrite<T: Send + Sync + 'static> {
    shared: Arc<Shared<T>>,
    key: String,
}

impl<T: Send + Sync + 'static> WatchCache<T> {
    /// Marks a write to `key` as in flight until the guard is dropped; prime the cache with the
    /// written object before dropping it.
    pub fn pending_write(&self, key: &str) -> PendingWrite<T> {
        *self.shared.pending().entry(key.to_string()).or_insert(0) += 1;
        PendingWrite {
            shared: self.shared.clone(),
            key: key.to_string(),
        }
    }
}

impl<T: Send + Sync + 'static> Drop for PendingWrite<T> {
    fn drop(&mut self) {
        let mut pending = self.shared.pending();
        if let Some(count) = pending.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                pending.remove(&self.key);
            }
        }
        drop(pending);
        self.shared.primed_or_done.notify_waiters();
    }
}

impl<T: Send + Sync + 'static> Shared<T> {
    /// The object primed for `key` at `revision`, waiting for it while a write to `key` from this
    /// server is in flight; `None` means decode the store's value.
    pub(super) async fn primed_object(&self, key: &str, revision: i64) -> Option<Arc<T>> {
        // Every subscriber waits with the feed: with many, decoding at once is cheaper.
        let wait = self.lock().subscribers() <= MAX_WAITING_SUBSCRIBERS;
        let deadline = tokio::time::Instant::now() + self.config.prime_wait;
        loop {
            // Registered before the checks, so a prime or drop between them still wakes us.
            let notified = self.primed_or_done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(obj) = self.take_primed(key, revision) {
                return Some(obj);
            }
            if !wait || !self.pending().contains_key(key) {
                return None;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::debug!(
                    key,
                    revision,
                    "watch cache: no primed object in time; decoding"
                );
                return None;
            }
        }
    }
}
