//! One subscriber's view: buffered events first, then live ones, ended by a clear signal.

use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::index::Mailbox;
use super::state::{Batch, Message};
use super::{CachedEvent, WatchCacheError};

/// Where a subscription's live events come from.
pub(super) enum Live<T: Send + Sync + 'static> {
    /// Every event of the cache (the subscriber filters).
    All(BroadcastStream<Message<T>>),
    /// The events posted for one indexed value, and the revision up to which every event has
    /// been posted.
    Indexed(Arc<Mailbox<T>>, Arc<AtomicI64>),
}

impl<T: Send + Sync + 'static> From<broadcast::Receiver<Message<T>>> for Live<T> {
    fn from(receiver: broadcast::Receiver<Message<T>>) -> Self {
        Live::All(BroadcastStream::new(receiver))
    }
}

impl<T: Send + Sync + 'static> Live<T> {
    /// The next message; `seen` advances past events meant for others when there is none.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        seen: &mut i64,
    ) -> Poll<Option<Result<Message<T>, WatchCacheError>>> {
        match self {
            Live::All(stream) => Poll::Ready(ready!(Pin::new(stream).poll_next(cx)).map(|m| {
                m.map_err(
                    |BroadcastStreamRecvError::Lagged(missed)| WatchCacheError::Lagged { missed },
                )
            })),
            Live::Indexed(mailbox, published) => {
                // Read before the mailbox: whatever was posted up to it is in the mailbox now.
                let published = published.load(Ordering::Acquire);
                let polled = mailbox.poll(cx);
                if polled.is_pending() {
                    *seen = (*seen).max(published);
                }
                polled.map(|m| m.map(Ok))
            }
        }
    }
}

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
    live: Live<T>,
    /// The live batch being yielded, and the index of its next event.
    batch: Option<(Batch<T>, usize)>,
    done: bool,
}

impl<T: Send + Sync + 'static> Subscription<T> {
    pub(super) fn new(
        after: i64,
        replay_until: i64,
        replay: Vec<Arc<CachedEvent<T>>>,
        live: Live<T>,
    ) -> Self {
        Self {
            after,
            seen: after,
            replay_until,
            replay: replay.into_iter(),
            live,
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
            let item = match ready!(this.live.poll(cx, &mut this.seen)) {
                None => None,
                Some(Ok(Message::Events(events))) => {
                    this.batch = Some((events, 0));
                    continue;
                }
                Some(Ok(Message::Progress(revision))) => {
                    this.seen = this.seen.max(revision);
                    continue;
                }
                Some(Ok(Message::End(err))) | Some(Err(err)) => Some(Err(err)),
            };
            this.done = true;
            return Poll::Ready(item);
        }
    }
}
