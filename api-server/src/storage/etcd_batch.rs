//! Group commit of concurrent writes (SwarmKit's `store.Batch`, a database's group commit). etcd
//! spends most of a write on the Txn itself (raft entry, WAL, apply), not on its size, so while a
//! Txn is out, the creates and updates that arrive wait and then go together as one Txn: each
//! write a nested `Txn(If compare Then put Else get)` that succeeds or fails on its own. A write
//! that finds no Txn out sends its own at once, from its own task, exactly as kube-apiserver
//! does: an idle server adds no hop and no wait. Positions inside a Txn become the store
//! revision's low digits ([`super::etcd_revision`]). Deletes are never batched.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use etcd_client::{Compare, CompareOp, KvClient, Txn, TxnOp, TxnOpResponse, TxnResponse};
use tokio::sync::oneshot;

use super::etcd::{header_revision, timed, to_kv};
use super::etcd_revision::{frame, store_revision};
use super::{CasOutcome, StoreError};

/// Writes per Txn (etcd's `--max-txn-ops` defaults to 128).
const MAX_WRITES: usize = 100;
/// Bytes of values per Txn (etcd's `--max-request-bytes` defaults to 1.5 MiB).
const MAX_BYTES: usize = 1024 * 1024;

/// What a write requires of its key.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The key does not exist.
    Absent,
    /// The key was last written at this etcd revision (> 0).
    ModRevision(i64),
}

struct Write {
    key: String,
    value: Bytes,
    expect: Expect,
    reply: Option<oneshot::Sender<Result<CasOutcome, StoreError>>>,
}

#[derive(Default)]
struct Queue {
    /// A Txn is out: new writes wait in `waiting`.
    busy: bool,
    waiting: VecDeque<Write>,
}

/// The write path of one etcd client.
#[derive(Clone)]
pub struct Batcher {
    kv: KvClient,
    queue: Arc<Mutex<Queue>>,
}

impl Batcher {
    pub fn new(kv: KvClient) -> Self {
        Batcher {
            kv,
            queue: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `value` at `key` if `expect` holds: `Done` with the store revision, or `Stale`
    /// with the key's current value (`None` for a create that found the key present).
    pub async fn write(
        &self,
        key: &str,
        value: Bytes,
        expect: Expect,
    ) -> Result<CasOutcome, StoreError> {
        let mut write = Write {
            key: key.to_string(),
            value,
            expect,
            reply: None,
        };
        let queued = {
            let mut queue = self.lock();
            if queue.busy {
                let (reply, answer) = oneshot::channel();
                write.reply = Some(reply);
                queue.waiting.push_back(write);
                Err(answer)
            } else {
                queue.busy = true;
                Ok(write)
            }
        };
        match queued {
            // No Txn was out: this one goes alone, and whatever queued behind it goes next, even
            // if this future is dropped before its answer.
            Ok(write) => {
                let _next = HandOff(self.clone());
                send_alone(&self.kv, &write).await
            }
            Err(answer) => answer
                .await
                .map_err(|_| StoreError::Unavailable("etcd write abandoned".into()))?,
        }
    }

    /// Ends the Txn that was out: sends the writes that queued meanwhile as the next batches,
    /// from a task of their own, until none are waiting.
    fn hand_off(&self) {
        {
            // Under the lock a writer checks `busy`: none can queue unseen after this check.
            let mut queue = self.lock();
            if queue.waiting.is_empty() {
                queue.busy = false;
                return;
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let batch = {
                    let mut queue = this.lock();
                    if queue.waiting.is_empty() {
                        queue.busy = false;
                        return;
                    }
                    gather(&mut queue.waiting)
                };
                send(&this.kv, batch).await;
            }
        });
    }
}

/// Hands the write path on when dropped.
struct HandOff(Batcher);

impl Drop for HandOff {
    fn drop(&mut self) {
        self.0.hand_off();
    }
}

/// Takes waiting writes from the front, within the limits; a second write of a key already in
/// the batch (etcd refuses a key twice in one Txn) stays for the next one, in order.
fn gather(waiting: &mut VecDeque<Write>) -> Vec<Write> {
    let mut keys = HashSet::new();
    let mut bytes = 0;
    let mut batch = Vec::new();
    let mut later = VecDeque::new();
    while let Some(write) = waiting.pop_front() {
        if batch.len() == MAX_WRITES || (!batch.is_empty() && bytes + write.value.len() > MAX_BYTES)
        {
            later.push_back(write);
            break;
        }
        if keys.insert(write.key.clone()) {
            bytes += write.value.len();
            batch.push(write);
        } else {
            later.push_back(write);
        }
    }
    later.extend(waiting.drain(..));
    *waiting = later;
    batch
}

fn answer(write: Write, outcome: Result<CasOutcome, StoreError>) {
    if let Some(reply) = write.reply {
        let _ = reply.send(outcome);
    }
}

/// Sends one batch and answers each write. A batch etcd refuses as a whole (a limit lower than
/// ours, say) is sent again one write per Txn.
async fn send(kv: &KvClient, batch: Vec<Write>) {
    if batch.len() == 1 {
        let write = batch.into_iter().next().expect("one write");
        return send_and_answer(kv, write).await;
    }
    let txn = Txn::new().and_then(
        batch
            .iter()
            .enumerate()
            .map(|(i, w)| TxnOp::txn(one_write(w, frame(i, &w.value))))
            .collect::<Vec<_>>(),
    );
    let mut kv_client = kv.clone();
    match timed(kv_client.txn(txn)).await {
        Ok(resp) => answer_batch(resp, batch),
        Err(StoreError::Internal(msg)) => {
            tracing::warn!(writes = batch.len(), error = %msg, "etcd refused a batched Txn; writing one by one");
            let each = batch.into_iter().map(|write| send_and_answer(kv, write));
            futures::future::join_all(each).await;
        }
        Err(err) => {
            for write in batch {
                answer(write, Err(err.clone()));
            }
        }
    }
}

async fn send_and_answer(kv: &KvClient, write: Write) {
    let outcome = send_alone(kv, &write).await;
    answer(write, outcome);
}

async fn send_alone(kv: &KvClient, write: &Write) -> Result<CasOutcome, StoreError> {
    let mut kv = kv.clone();
    let resp = timed(kv.txn(one_write(write, write.value.to_vec()))).await?;
    let revision = header_revision(&resp)?;
    outcome(&resp, revision, 0)
}

/// `If(compare) Then(put) Else(get)`: the write of kube-apiserver's GuaranteedUpdate.
fn one_write(write: &Write, stored: Vec<u8>) -> Txn {
    let expected = match write.expect {
        Expect::Absent => 0,
        Expect::ModRevision(rev) => rev,
    };
    let txn = Txn::new()
        .when([Compare::mod_revision(
            write.key.as_str(),
            CompareOp::Equal,
            expected,
        )])
        .and_then([TxnOp::put(write.key.as_str(), stored, None)]);
    match write.expect {
        // A create that lost needs no value back: it answers AlreadyExists.
        Expect::Absent => txn,
        Expect::ModRevision(_) => txn.or_else([TxnOp::get(write.key.as_str(), None)]),
    }
}

fn answer_batch(resp: TxnResponse, batch: Vec<Write>) {
    let revision = header_revision(&resp);
    let mut responses = resp.op_responses().into_iter();
    for (i, write) in batch.into_iter().enumerate() {
        let outcome = match (&revision, responses.next()) {
            (Ok(rev), Some(TxnOpResponse::Txn(inner))) => outcome(&inner, *rev, i as i64),
            (Err(e), _) => Err(e.clone()),
            _ => Err(StoreError::Internal(
                "batched Txn answered without a nested Txn".into(),
            )),
        };
        answer(write, outcome);
    }
}

/// One write's result: `revision` is the etcd revision of the Txn it was part of.
fn outcome(resp: &TxnResponse, revision: i64, position: i64) -> Result<CasOutcome, StoreError> {
    if resp.succeeded() {
        return Ok(CasOutcome::Done {
            revision: store_revision(revision, position),
        });
    }
    let current = match resp.op_responses().into_iter().next() {
        Some(TxnOpResponse::Get(get)) => get.kvs().first().map(to_kv).transpose()?,
        _ => None,
    };
    Ok(CasOutcome::Stale { current })
}
