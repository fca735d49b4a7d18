//! `--max-mutating-requests-inflight`: at most that many creates, updates, patches and deletes
//! are handled at once (kube-apiserver's flag; its default is 200, this server's 100). The
//! others wait for a slot before their body is read, and get `429 TooManyRequests` with
//! `Retry-After` if none frees within the wait. Reads and watches are never held back.
//!
//! Each request in flight holds its parsed body, its object's tree, its managedFields and its
//! encoded value until it answers. Bursts of writes (a thousand nodes' agents reporting task
//! states at once, a controller creating a thousand tasks) kept the server at its limit, and
//! at 200 those writes were its largest transient: halving the limit cut its peak by ~10 MiB at
//! 1,000 nodes without slowing any phase, since a few dozen writes already keep the store and
//! the CPUs busy (docs/benchmark.md).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::wire::errors::{ApiError, Result};

/// The default for `--max-mutating-requests-inflight` (kube-apiserver's is 200).
pub const DEFAULT_MAX_MUTATING: usize = 100;
/// How long a write waits for a slot before it is refused.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(15);

/// The slots of writes in flight; `None` slots: no limit.
pub struct Inflight {
    slots: Option<Arc<Semaphore>>,
    wait: Duration,
}

impl Inflight {
    /// `max` writes at once (0: no limit), each waiting at most `wait` for a slot.
    pub fn new(max: usize, wait: Duration) -> Inflight {
        let slots = (max > 0).then(|| Arc::new(Semaphore::new(max)));
        Inflight { slots, wait }
    }

    /// A slot for a request with `method`, held until dropped; `None` for reads or when there
    /// is no limit.
    pub async fn admit(&self, method: &http::Method) -> Result<Option<OwnedSemaphorePermit>> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        if !is_mutating(method) {
            return Ok(None);
        }
        match tokio::time::timeout(self.wait, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // The semaphore is never closed; a timeout is the only refusal.
            _ => Err(ApiError::TooManyRequests(
                "too many requests in flight; please try again later".into(),
            )),
        }
    }
}

fn is_mutating(method: &http::Method) -> bool {
    use http::Method;
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[tokio::test(start_paused = true)]
    async fn writes_past_the_limit_wait_then_are_refused_and_reads_pass() {
        let inflight = Inflight::new(1, Duration::from_secs(15));
        let first = inflight.admit(&Method::POST).await.unwrap();
        assert!(first.is_some());
        assert!(inflight.admit(&Method::GET).await.unwrap().is_none());
        let err = inflight.admit(&Method::PATCH).await.unwrap_err();
        assert_eq!((err.code(), err.reason()), (429, "TooManyRequests"));
        drop(first);
        assert!(inflight.admit(&Method::DELETE).await.unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_write_gets_the_slot_freed_within_the_wait() {
        let inflight = Arc::new(Inflight::new(1, Duration::from_secs(15)));
        let first = inflight.admit(&Method::PUT).await.unwrap();
        let waiter = {
            let inflight = inflight.clone();
            tokio::spawn(async move { inflight.admit(&Method::POST).await.map(|p| p.is_some()) })
        };
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(first);
        assert!(waiter.await.unwrap().unwrap());
    }

    #[tokio::test]
    async fn zero_is_no_limit() {
        let inflight = Inflight::new(0, Duration::from_secs(15));
        let held: Vec<_> =
            futures::future::join_all((0..500).map(|_| inflight.admit(&Method::POST))).await;
        assert!(held.iter().all(|p| matches!(p, Ok(None))));
    }
}
