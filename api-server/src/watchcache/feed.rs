//! The feed: the one store watch behind a cache, re-established from the last revision when it
//! breaks, with a relist when that revision has been compacted.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::state::State;
use super::Shared;
use crate::storage::{next_start, Event, ListResult, Store, StoreError};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Most store events applied and broadcast as one batch.
const FEED_BATCH: usize = 256;

/// Every key under `prefix` at one revision, read page by page from the same snapshot.
pub(super) async fn list_all(
    store: &dyn Store,
    prefix: &str,
    page_size: i64,
) -> Result<ListResult, StoreError> {
    let mut all = store.list(prefix, "", 0, page_size).await?;
    while all.more {
        let Some(last) = all.items.last() else { break };
        let start = next_start(&last.key);
        let page = store.list(prefix, &start, all.revision, page_size).await?;
        all.items.extend(page.items);
        all.more = page.more;
    }
    all.count = all.items.len() as i64;
    Ok(all)
}

/// How one store watch ended.
enum Ended {
    /// The stream failed or closed; `progressed` if it delivered events first.
    Broken {
        error: Option<StoreError>,
        progressed: bool,
    },
    /// The revision to resume from is compacted: only a relist can catch up.
    Compacted,
}

/// Follows the prefix forever (until the cache is dropped and this task aborted).
pub(super) async fn run<T: Send + Sync + 'static>(shared: Arc<Shared<T>>, store: Arc<dyn Store>) {
    let first_backoff = FIRST_BACKOFF.min(shared.config.max_backoff);
    let mut backoff = first_backoff;
    loop {
        let after = shared.lock().revision;
        match follow(&shared, store.as_ref(), after).await {
            Ended::Broken { error, progressed } => {
                if progressed {
                    backoff = first_backoff;
                }
                let error = error.map(|e| e.to_string());
                tracing::warn!(prefix = %shared.prefix, after, ?error, "watch cache: store watch ended; re-watching");
            }
            Ended::Compacted => match relist(&shared, store.as_ref()).await {
                Ok(()) => backoff = first_backoff,
                Err(e) => {
                    tracing::warn!(prefix = %shared.prefix, error = %e, "watch cache: relist failed")
                }
            },
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(shared.config.max_backoff);
    }
}

async fn follow<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    store: &dyn Store,
    after: i64,
) -> Ended {
    let stream = match store.watch(&shared.prefix, after, false).await {
        Ok(stream) => stream,
        Err(StoreError::Compacted { .. }) => return Ended::Compacted,
        Err(e) => {
            return Ended::Broken {
                error: Some(e),
                progressed: false,
            }
        }
    };
    // Every event already read from the store at once, applied and broadcast together.
    let mut stream = stream.ready_chunks(FEED_BATCH);
    let mut progressed = false;
    loop {
        let Some(items) = stream.next().await else {
            return Ended::Broken {
                error: None,
                progressed,
            };
        };
        let (batch, failed) = decode_batch(shared, items).await;
        if let Some(revision) = batch.last().map(|(e, _)| e.revision()) {
            shared.lock().apply_all(batch, &shared.decode);
            shared.forget_primed_upto(revision);
            progressed = true;
        }
        match failed {
            None => {}
            Some(StoreError::Compacted { .. }) => return Ended::Compacted,
            Some(e) => {
                return Ended::Broken {
                    error: Some(e),
                    progressed,
                }
            }
        }
    }
}

/// The events of `items` up to the first error, each with the object of a Put (the primed one
/// this server wrote, else decoded here, outside the lock: it may decrypt, and subscribers must
/// not wait on it), and that error.
async fn decode_batch<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    items: Vec<Result<Event, StoreError>>,
) -> (Vec<(Event, Option<Arc<T>>)>, Option<StoreError>) {
    let mut batch = Vec::with_capacity(items.len());
    for item in items {
        let event = match item {
            Ok(event) => event,
            Err(e) => return (batch, Some(e)),
        };
        let decoded = match &event {
            Event::Put { kv, .. } => {
                let primed = shared.primed_object(&kv.key, kv.mod_revision).await;
                primed.or_else(|| (shared.decode)(kv).map(Arc::new))
            }
            Event::Delete { .. } => None,
        };
        batch.push((event, decoded));
    }
    (batch, None)
}

/// Relists after the resume revision was compacted. Subscribers are reset only if the relisted
/// state differs from the cached one (a key created and deleted inside the gap goes unseen).
async fn relist<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    store: &dyn Store,
) -> Result<(), StoreError> {
    let listing = list_all(store, &shared.prefix, shared.config.page_size).await?;
    if shared.lock().same_as(&listing) {
        tracing::info!(prefix = %shared.prefix, revision = listing.revision, "watch cache: relisted after compaction, nothing missed");
        shared.lock().advance_to(listing.revision);
        return Ok(());
    }
    let fresh = State::from_listing(&listing, &shared.decode, &shared.config);
    tracing::warn!(prefix = %shared.prefix, revision = listing.revision, "watch cache: events lost to compaction; resetting subscribers");
    shared.lock().reset(fresh);
    Ok(())
}
