//! Group commit of concurrent writes (SwarmKit's `store.Batch`, a database's group commit). etcd
//! spends most of a write on the Txn itself (raft entry, WAL, apply), not on its size, so while
//! up to [`MAX_IN_FLIGHT`] Txns are out, the creates and updates that arrive meanwhile wait and go
//! together as one Txn: each write a nested `Txn(If compare Then put Else get)` that succeeds or
//! fails on its own. An idle server sends every write alone, exactly as kube-apiserver does;
//! under load a write waits at most for the Txns ahead of it. Positions inside a Txn become the
//! store revision's low digits ([`super::etcd_revision`]). Deletes are never batched.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use etcd_client::{Compare, CompareOp, KvClient, Txn, TxnOp, TxnOpResponse, TxnResponse};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::etcd::{timed, to_kv};
use super::etcd_revision::{frame, store_revision};
use super::{CasOutcome, StoreError};

/// Txns out at once; writes arriving meanwhile form the next one.
const MAX_IN_FLIGHT: usize = 1;
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
    reply: oneshot::Sender<Result<CasOutcome, StoreError>>,
}

/// The sending side; the batching task ends when every clone is dropped.
#[derive(Clone)]
pub struct Batcher {
    queue: mpsc::UnboundedSender<Write>,
}

impl Batcher {
    /// Starts the batching task on the current tokio runtime.
    pub fn start(kv: KvClient) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(kv, rx));
        Batcher { queue }
    }

    /// Writes `value` at `key` if `expect` holds: `Done` with the store revision, or `Stale`
    /// with the key's current value (`None` for a create that found the key present).
    pub async fn write(
        &self,
        key: &str,
        value: Bytes,
        expect: Expect,
    ) -> Result<CasOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let write = Write {
            key: key.to_string(),
            value,
            expect,
            reply,
        };
        let gone = || StoreError::Unavailable("etcd write queue stopped".into());
        self.queue.send(write).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(kv: KvClient, mut rx: mpsc::UnboundedReceiver<Write>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut held = VecDeque::new();
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let first = match held.pop_front() {
            Some(write) => write,
            None => match rx.recv().await {
                Some(write) => write,
                None => return,
            },
        };
        let batch = gather(first, &mut held, &mut rx);
        let kv = kv.clone();
        tokio::spawn(async move {
            send(&kv, batch).await;
            drop(permit);
        });
    }
}

/// Takes writes that are already waiting, within the limits; a second write of a key already in
/// the batch (etcd refuses a key twice in one Txn) is held for the next one, in order.
fn gather(
    first: Write,
    held: &mut VecDeque<Write>,
    rx: &mut mpsc::UnboundedReceiver<Write>,
) -> Vec<Write> {
    let mut keys = HashSet::from([first.key.clone()]);
    let mut bytes = first.value.len();
    let mut batch = vec![first];
    let mut later = VecDeque::new();
    let mut next = || held.pop_front().or_else(|| rx.try_recv().ok());
    while batch.len() < MAX_WRITES {
        let Some(write) = next() else { break };
        if bytes + write.value.len() > MAX_BYTES {
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
    later.extend(held.drain(..));
    *held = later;
    batch
}

/// Sends one batch and answers each write. A batch etcd refuses as a whole (a limit lower than
/// ours, say) is sent again one write per Txn.
async fn send(kv: &KvClient, batch: Vec<Write>) {
    if batch.len() == 1 {
        let write = batch.into_iter().next().expect("one write");
        let outcome = send_alone(kv, &write).await;
        let _ = write.reply.send(outcome);
        return;
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
            let each = batch.into_iter().map(|write| async move {
                let outcome = send_alone(kv, &write).await;
                let _ = write.reply.send(outcome);
            });
            futures::future::join_all(each).await;
        }
        Err(err) => {
            for write in batch {
                let _ = write.reply.send(Err(err.clone()));
            }
        }
    }
}

async fn send_alone(kv: &KvClient, write: &Write) -> Result<CasOutcome, StoreError> {
    let mut kv = kv.clone();
    let resp = timed(kv.txn(one_write(write, write.value.to_vec()))).await?;
    let revision = header_revision(&resp)?;
    outcome(&resp, revision, 0)
}

/// `If(compare) Then(put) Else(get)`: the write of kube-apiserver's GuaranteedUpdate.
fn one_write(write: &Write, stored: Vec<u8>) -> Txn {
    let compare = match write.expect {
        Expect::Absent => Compare::mod_revision(write.key.as_str(), CompareOp::Equal, 0),
        Expect::ModRevision(rev) => {
            Compare::mod_revision(write.key.as_str(), CompareOp::Equal, rev)
        }
    };
    let txn = Txn::new()
        .when([compare])
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
        let _ = write.reply.send(outcome);
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

fn header_revision(resp: &TxnResponse) -> Result<i64, StoreError> {
    resp.header()
        .map(|h| h.revision())
        .ok_or_else(|| StoreError::Internal("etcd response without header".into()))
}
