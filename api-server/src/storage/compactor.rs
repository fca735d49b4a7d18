//! Periodic compaction (kube-apiserver's `--etcd-compaction-interval`, default 5 minutes): each tick
//! compacts up to the revision seen at the previous tick, so history is kept for at least one
//! interval. That interval is how long continue tokens and watch resourceVersions stay valid
//! before they answer 410 Gone. Several api-servers may run it at once: compacting at or below the
//! already compacted revision is a no-op.

use std::sync::Arc;
use std::time::Duration;

use super::Store;

/// The default `--etcd-compaction-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// The revision to compact to at a tick, given the revision remembered from the previous tick.
/// Pure: `None` means "nothing to compact yet" (first tick, or no writes since the last one).
pub fn compaction_target(previous_tick: Option<i64>, last_compacted: i64) -> Option<i64> {
    previous_tick.filter(|&rev| rev > last_compacted)
}

/// Compacts `store` every `interval`, forever; spawn it and abort the task to stop. A zero
/// interval disables compaction (returns at once). Failures are logged and retried next tick.
pub async fn run(store: Arc<dyn Store>, interval: Duration) {
    if interval.is_zero() {
        tracing::info!("storage compaction disabled");
        return;
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous_tick = None;
    let mut last_compacted = 0;
    loop {
        ticker.tick().await;
        if let Some(target) = compaction_target(previous_tick, last_compacted) {
            match store.compact(target).await {
                Ok(()) => {
                    tracing::info!(revision = target, "storage compacted");
                    last_compacted = target;
                }
                Err(e) => {
                    tracing::warn!(revision = target, error = %e, "storage compaction failed")
                }
            }
        }
        match store.current_revision().await {
            Ok(rev) => previous_tick = Some(rev),
            Err(e) => tracing::warn!(error = %e, "compactor: cannot read the current revision"),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::storage::{MemoryStore, StoreError};

    #[test]
    fn compacts_to_the_previous_tick_only_when_it_moved() {
        assert_eq!(compaction_target(None, 0), None);
        assert_eq!(compaction_target(Some(7), 0), Some(7));
        assert_eq!(compaction_target(Some(7), 7), None);
    }

    #[tokio::test(start_paused = true)]
    async fn history_older_than_one_interval_expires() {
        let store = Arc::new(MemoryStore::new());
        let old = store
            .create("/k/a", Bytes::from_static(b"1"))
            .await
            .unwrap();
        let task = tokio::spawn(run(store.clone(), Duration::from_secs(60)));
        tokio::time::sleep(Duration::from_secs(1)).await; // first tick: remembers `old`
        let newer = store
            .create("/k/b", Bytes::from_static(b"2"))
            .await
            .unwrap();
        assert!(
            store.list("/k/", "", old - 1, 0).await.is_ok(),
            "kept within one interval"
        );
        tokio::time::sleep(Duration::from_secs(60)).await; // second tick: compacts to `old`
        match store.list("/k/", "", old - 1, 0).await {
            Err(StoreError::Compacted { compacted, .. }) => assert_eq!(compacted, old),
            other => panic!("expected Compacted, got {other:?}"),
        }
        assert!(store.list("/k/", "", newer, 0).await.is_ok());
        task.abort();
    }
}
