//! Subscribers by one field's value (kube-apiserver's "indexed triggers": a pod watch with
//! `spec.nodeName=<node>` is handed only the events of that node's pods).
//!
//! Without it every subscriber wakes for every event and drops the ones its selector rejects:
//! with one watch per node, each write costs a wake-up per node. An indexed subscriber has a
//! mailbox of its own, and an event goes only to the mailboxes of the values its object had
//! before and after it (so a watcher still sees an object leave or enter its selection).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use super::state::Message;
use super::{CachedEvent, WatchCacheError};

/// The value an object is indexed under ("" when the field is missing, as selectors compare).
pub type IndexFn<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

/// Full sweeps of dropped mailboxes, once per this many subscriptions.
const SWEEP_EVERY: u64 = 256;

/// One indexed subscriber's queue of messages, in revision order.
pub(super) struct Mailbox<T> {
    queue: Mutex<Queue<T>>,
}

struct Queue<T> {
    messages: VecDeque<Message<T>>,
    /// No message follows the queued ones (the cache is gone, or this subscriber ended).
    closed: bool,
    waker: Option<Waker>,
}

impl<T> Mailbox<T> {
    fn new() -> Self {
        Mailbox {
            queue: Mutex::new(Queue {
                messages: VecDeque::new(),
                closed: false,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next message; `None` once closed and drained.
    pub(super) fn poll(&self, cx: &mut Context<'_>) -> Poll<Option<Message<T>>> {
        let mut queue = self.lock();
        if let Some(message) = queue.messages.pop_front() {
            return Poll::Ready(Some(message));
        }
        if queue.closed {
            return Poll::Ready(None);
        }
        // Registered under the lock that `post` takes: a message posted after this is woken for.
        queue.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Queues `message`, or ends the subscriber with `Lagged` when `max_lag` are already queued;
    /// `last` closes the mailbox after it.
    fn post(&self, message: Message<T>, max_lag: usize, last: bool) {
        let mut queue = self.lock();
        if queue.closed {
            return;
        }
        if queue.messages.len() >= max_lag {
            let missed = queue.messages.len() as u64;
            queue.messages.clear();
            queue
                .messages
                .push_back(Message::End(WatchCacheError::Lagged { missed }));
            queue.closed = true;
        } else {
            queue.messages.push_back(message);
            queue.closed = last;
        }
        Self::wake(queue);
    }

    /// No message follows the queued ones.
    fn close(&self) {
        let mut queue = self.lock();
        queue.closed = true;
        Self::wake(queue);
    }

    /// Wakes the subscriber after releasing the queue's lock.
    fn wake(mut queue: MutexGuard<'_, Queue<T>>) {
        let waker = queue.waker.take();
        drop(queue);
        waker.into_iter().for_each(Waker::wake);
    }
}

/// The indexed subscribers of one cache.
pub(super) struct Indexed<T> {
    /// The selector field the index answers (`spec.nodeName`).
    pub(super) field: &'static str,
    by: IndexFn<T>,
    mailboxes: HashMap<String, Vec<Weak<Mailbox<T>>>>,
    max_lag: usize,
    /// Every event up to this revision has been posted: an indexed subscriber with an empty
    /// mailbox has seen everything meant for it up to here (its bookmarks' revision).
    pub(super) published: Arc<AtomicI64>,
    subscribed: u64,
}

impl<T> Indexed<T> {
    pub(super) fn new(field: &'static str, by: IndexFn<T>, max_lag: usize, revision: i64) -> Self {
        Indexed {
            field,
            by,
            mailboxes: HashMap::new(),
            max_lag: max_lag.max(1),
            published: Arc::new(AtomicI64::new(revision)),
            subscribed: 0,
        }
    }

    /// A mailbox for the events of objects indexed under `value`.
    pub(super) fn subscribe(&mut self, value: &str) -> Arc<Mailbox<T>> {
        self.subscribed += 1;
        if self.subscribed.is_multiple_of(SWEEP_EVERY) {
            self.mailboxes.retain(|_, boxes| {
                boxes.retain(|b| b.strong_count() > 0);
                !boxes.is_empty()
            });
        }
        let mailbox = Arc::new(Mailbox::new());
        let boxes = self.mailboxes.entry(value.to_string()).or_default();
        boxes.retain(|b| b.strong_count() > 0);
        boxes.push(Arc::downgrade(&mailbox));
        mailbox
    }

    /// Posts `events` (one applied batch, in revision order) to the mailboxes of the values
    /// their objects had before and after, each mailbox its events as one message.
    pub(super) fn post(&mut self, events: &[Arc<CachedEvent<T>>], revision: i64) {
        if !self.mailboxes.is_empty() {
            let mut by_value: HashMap<String, Vec<Arc<CachedEvent<T>>>> = HashMap::new();
            for event in events {
                let now = (self.by)(&event.object);
                let before = event.prev.as_ref().map(|p| (self.by)(p));
                if let Some(before) = before.filter(|b| *b != now) {
                    self.queue_for(&mut by_value, before, event);
                }
                self.queue_for(&mut by_value, now, event);
            }
            for (value, events) in by_value {
                let message = Message::Events(events.into());
                self.deliver(&value, message, false);
            }
        }
        self.published.store(revision, Ordering::Release);
    }

    fn queue_for(
        &self,
        by_value: &mut HashMap<String, Vec<Arc<CachedEvent<T>>>>,
        value: String,
        event: &Arc<CachedEvent<T>>,
    ) {
        if self.mailboxes.contains_key(&value) {
            by_value.entry(value).or_default().push(event.clone());
        }
    }

    fn deliver(&mut self, value: &str, message: Message<T>, last: bool) {
        let Some(boxes) = self.mailboxes.get_mut(value) else {
            return;
        };
        boxes.retain(|b| match b.upgrade() {
            Some(mailbox) => {
                mailbox.post(message.clone(), self.max_lag, last);
                true
            }
            None => false,
        });
        if boxes.is_empty() {
            self.mailboxes.remove(value);
        }
    }

    /// Ends every indexed subscriber with `error` (they must relist) and forgets them.
    pub(super) fn end(&mut self, error: WatchCacheError) {
        for boxes in std::mem::take(&mut self.mailboxes).into_values() {
            for mailbox in boxes.iter().filter_map(Weak::upgrade) {
                mailbox.post(Message::End(error.clone()), usize::MAX, true);
            }
        }
    }
}

impl<T> Drop for Indexed<T> {
    /// The cache is gone: every indexed subscription ends after what it was sent.
    fn drop(&mut self) {
        for boxes in self.mailboxes.values() {
            for mailbox in boxes.iter().filter_map(Weak::upgrade) {
                mailbox.close();
            }
        }
    }
}
