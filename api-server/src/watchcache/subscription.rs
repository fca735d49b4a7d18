//! One subscriber's view: buffered events first, then live ones, ended by a clear signal.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::state::Message;
use super::{CachedEvent, WatchCacheError};

/// A stream of the cache's events with revision `> after`, in revision order.
///
/// It ends with `Some(Err(Lagged))` when the subscriber fell too far behind, `Some(Err(Reset))`
/// when the cache lost events and relisted (both mean: relist), and `None` when the cache was
/// dropped. Nothing follows an error.
pub struct Subscription<T: Send + Sync + 'static> {
    after: i64,
    replay: std::vec::IntoIter<Arc<CachedEvent<T>>>,
    live: BroadcastStream<Message<T>>,
    done: bool,
}

impl<T: Send + Sync + 'static> Subscription<T> {
    pub(super) fn new(
        after: i64,
        replay: Vec<Arc<CachedEvent<T>>>,
        live: broadcast::Receiver<Message<T>>,
    ) -> Self {
        Self {
            after,
            replay: replay.into_iter(),
            live: BroadcastStream::new(live),
            done: false,
        }
    }

    /// The revision this subscription started after.
    pub fn after_revision(&self) -> i64 {
        self.after
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
            return Poll::Ready(Some(Ok(event)));
        }
        loop {
            let item = match ready!(Pin::new(&mut this.live).poll_next(cx)) {
                None => None,
                // A future `after` (ahead of the cache) skips events up to it.
                Some(Ok(Ok(event))) if event.revision <= this.after => continue,
                Some(Ok(Ok(event))) => return Poll::Ready(Some(Ok(event))),
                Some(Ok(Err(err))) => Some(Err(err)),
                Some(Err(BroadcastStreamRecvError::Lagged(missed))) => {
                    Some(Err(WatchCacheError::Lagged { missed }))
                }
            };
            this.done = true;
            return Poll::Ready(item);
        }
    }
}
