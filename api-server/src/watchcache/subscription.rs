//! One subscriber's view: buffered events first, then live ones, ended by a clear signal.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::state::{Batch, Message};
use super::{CachedEvent, WatchCacheError};

/// A stream of the cache's events with revision `> after`, in revision order.
///
/// It ends with `Some(Err(Lagged))` when the subscriber fell too far behind, `Some(Err(Reset))`
/// when the cache lost events and relisted (both mean: relist), and `None` when the cache was
/// dropped. Nothing follows an error.
///
/// For bookmarks use [`Subscription::revision`], never the cache's `current_revision()`: events up
/// to the cache's revision may still be queued for this subscriber, and a client resuming from a
/// bookmark past them would miss them.
pub struct Subscription<T: Send + Sync + 'static> {
    after: i64,
    /// Every event up to this revision has been yielded to this subscriber.
    seen: i64,
    /// The cache's revision at subscribe time: reached once the replay is drained.
    replay_until: i64,
    replay: std::vec::IntoIter<Arc<CachedEvent<T>>>,
    live: BroadcastStream<Message<T>>,
    /// The live batch being yielded, and the index of its next event.
    batch: Option<(Batch<T>, usize)>,
    done: bool,
}

impl<T: Send + Sync + 'static> Subscription<T> {
    pub(super) fn new(
        after: i64,
        replay_until: i64,
        replay: Vec<Arc<CachedEvent<T>>>,
        live: broadcast::Receiver<Message<T>>,
    ) -> Self {
        Self {
            after,
            seen: after,
            replay_until,
            replay: replay.into_iter(),
            live: BroadcastStream::new(live),
            batch: None,
            done: false,
        }
    }

    /// The revision this subscription started after.
    pub fn after_revision(&self) -> i64 {
        self.after
    }

    /// The revision this subscriber has received everything up to: the resourceVersion for a
    /// BOOKMARK. It also advances on progress the cache makes without visible events, as the
    /// stream is polled.
    pub fn revision(&self) -> i64 {
        self.seen
    }

    /// The next event of the current live batch after `after` (a future `after`, ahead of the
    /// cache, skips events up to it).
    fn next_in_batch(&mut self) -> Option<Arc<CachedEvent<T>>> {
        let (events, next) = self.batch.as_mut()?;
        while let Some(event) = events.get(*next) {
            *next += 1;
            if event.revision > self.after {
                self.seen = self.seen.max(event.revision);
                return Some(event.clone());
            }
        }
        self.batch = None;
        None
    }
}

impl<T: Send + Sync + 'static> Stream for Subscription<T> {
    type Item = Result<Arc<CachedEvent<T>>, WatchCacheError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(event) = this.replay.next() {
            this.seen = this.seen.max(event.revision);
            return Poll::Ready(Some(Ok(event)));
        }
        this.seen = this.seen.max(this.replay_until);
        loop {
            if let Some(event) = this.next_in_batch() {
                return Poll::Ready(Some(Ok(event)));
            }
            let item = match ready!(Pin::new(&mut this.live).poll_next(cx)) {
                None => None,
                Some(Ok(Message::Events(events))) => {
                    this.batch = Some((events, 0));
                    continue;
                }
                Some(Ok(Message::Progress(revision))) => {
                    this.seen = this.seen.max(revision);
                    continue;
                }
                Some(Ok(Message::End(err))) => Some(Err(err)),
                Some(Err(BroadcastStreamRecvError::Lagged(missed))) => {
                    Some(Err(WatchCacheError::Lagged { missed }))
                }
            };
            this.done = true;
            return Poll::Ready(item);
        }
    }
}
