//! A streaming response body written by an async producer that the connection polls itself.
//!
//! A watch used to run as its own task, sending each chunk through a channel to the connection.
//! Every event then woke two tasks per watcher (the watcher's, then the connection's); at 1,000
//! watchers that is 2,000 wake-ups per event. Here the producer is a future inside the body:
//! the connection polls it when it wants data, and an event wakes only the connection.
//! kube-apiserver's watch goroutine writes to its response the same way. When the client goes,
//! the connection drops the body, and with it the producer.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

/// Where a producer puts its next chunk: one slot, which the body empties every time it is
/// polled.
#[derive(Clone, Default)]
pub struct Out {
    slot: Arc<Mutex<Option<Bytes>>>,
}

impl Out {
    /// Hands `chunk` to the connection; resolves once the previous chunk has been taken.
    pub async fn send(&self, chunk: Bytes) {
        let mut chunk = Some(chunk);
        std::future::poll_fn(move |_| {
            let mut slot = self.lock();
            if slot.is_some() {
                // No waker needed: the body polls the producer again right after taking the
                // chunk that is in the slot.
                return Poll::Pending;
            }
            *slot = chunk.take();
            Poll::Ready(())
        })
        .await
    }

    fn take(&self) -> Option<Bytes> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Bytes>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Producer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The chunks `produce` sends to its [`Out`], in order, then the end of the stream.
pub struct Produced {
    out: Out,
    /// `None` once the producer has finished. (A Mutex only to make the body `Sync`; it is
    /// reached through `&mut self`, never locked.)
    producer: Option<Mutex<Producer>>,
}

impl Produced {
    pub fn new<F, Fut>(produce: F) -> Produced
    where
        F: FnOnce(Out) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let out = Out::default();
        let producer: Producer = Box::pin(produce(out.clone()));
        Produced {
            out,
            producer: Some(Mutex::new(producer)),
        }
    }
}

impl Stream for Produced {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if let Some(chunk) = this.out.take() {
            return Poll::Ready(Some(chunk));
        }
        let Some(producer) = this.producer.as_mut() else {
            return Poll::Ready(None);
        };
        let finished = producer
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .poll(cx)
            .is_ready();
        if finished {
            this.producer = None;
        }
        match this.out.take() {
            Some(chunk) => Poll::Ready(Some(chunk)),
            None if finished => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn chunks_arrive_in_order_across_waits_then_the_stream_ends() {
        let body = Produced::new(|out| async move {
            out.send(Bytes::from_static(b"a")).await;
            out.send(Bytes::from_static(b"b")).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            out.send(Bytes::from_static(b"c")).await;
        });
        let chunks: Vec<Bytes> = body.collect().await;
        let want: Vec<Bytes> = ["a", "b", "c"].iter().map(|s| Bytes::from(*s)).collect();
        assert_eq!(chunks, want);
    }

    #[tokio::test]
    async fn dropping_the_body_drops_the_producer() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut body = Produced::new(|out| async move {
            let _held = tx;
            out.send(Bytes::from_static(b"first")).await;
            std::future::pending::<()>().await;
        });
        assert_eq!(body.next().await, Some(Bytes::from_static(b"first")));
        drop(body);
        assert!(
            rx.await.is_err(),
            "the producer's state was dropped with the body"
        );
    }
}
