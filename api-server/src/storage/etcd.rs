//! [`Store`] over etcd v3 (the split deployment's system of record), following kube-apiserver's
//! conventions: create = `Txn(If(mod_revision == 0)).Then(Put)`, update/delete =
//! `Txn(If(mod_revision == expected)).Then(..).Else(Get)`, prefix lists pinned to a revision,
//! prefix watches starting after a revision. Two departures, both for throughput: concurrent
//! creates and updates are group-committed into one Txn ([`super::etcd_batch`]), and the store's
//! revisions are etcd revisions × 1000 plus the write's position in its Txn
//! ([`super::etcd_revision`]).

use std::time::Duration;

use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KvClient, Txn, TxnOp,
    TxnOpResponse, TxnResponse, WatchClient, WatchOptions,
};
use futures::StreamExt;

use super::etcd_batch::{Batcher, Expect};
use super::etcd_revision::{end_of, etcd_revision, store_revision, unframe, watch_start};
use super::etcd_tls::EtcdTls;
use super::{prefix_end, CasOutcome, Event, KeyValue, ListResult, Store, StoreError, WatchStream};

/// How long one unary request may take before it counts as Unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Reads are retried this many times on Unavailable (writes are not: a retried txn that was
/// applied would report a misleading conflict).
const READ_RETRIES: u32 = 3;

/// Largest response accepted from etcd (lists are unbounded without `limit`).
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

const MSG_COMPACTED: &str = "required revision has been compacted";
const MSG_FUTURE: &str = "required revision is a future revision";

/// A [`Store`] backed by an etcd cluster.
#[derive(Clone)]
pub struct EtcdStore {
    kv: KvClient,
    watch: WatchClient,
    writes: Batcher,
}

impl EtcdStore {
    /// Connects to `endpoints` (e.g. `http://127.0.0.1:2379`) and checks that etcd answers.
    pub async fn connect(endpoints: &[String]) -> Result<Self, StoreError> {
        Self::connect_with(endpoints, None).await
    }

    /// Like [`EtcdStore::connect`], over TLS when `tls` is given (`https://` endpoints).
    pub async fn connect_with(
        endpoints: &[String],
        tls: Option<&EtcdTls>,
    ) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        if let Some(tls) = tls {
            options = options.with_tls(tls.options());
        }
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(map_err)?;
        let store = Self::from_client(client);
        store.current_revision().await?;
        Ok(store)
    }

    /// Wraps an already configured client (e.g. one built with TLS options).
    pub fn from_client(client: Client) -> Self {
        // gRPC's default 4 MiB would fail lists of many objects; kube-apiserver lifts it too.
        let kv = client
            .kv_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        let watch = client
            .watch_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        let writes = Batcher::new(kv.clone());
        Self { kv, watch, writes }
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let mut kv = self.kv.clone();
        timed(kv.txn(txn)).await
    }

    /// A ranged read with bounded retries on Unavailable.
    async fn range(
        &self,
        key: &[u8],
        options: GetOptions,
    ) -> Result<etcd_client::GetResponse, StoreError> {
        let mut attempt = 0;
        loop {
            let mut kv = self.kv.clone();
            match timed(kv.get(key, Some(options.clone()))).await {
                Err(StoreError::Unavailable(msg)) if attempt < READ_RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %msg, "etcd read failed, retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// The revision etcd has compacted up to, learned from a watch at a revision known to be
    /// compacted (etcd has no direct query for it). Falls back to `requested + 1`.
    async fn compacted_revision(&self, requested: i64) -> i64 {
        let learn = async {
            let mut watch = self.watch.clone();
            let opts = WatchOptions::new().with_start_revision(watch_start(requested));
            let mut stream = watch.watch("\0", Some(opts)).await.ok()?;
            while let Ok(Some(resp)) = stream.message().await {
                if resp.compact_revision() > 0 {
                    return Some(store_revision(resp.compact_revision(), 0));
                }
            }
            None
        };
        match tokio::time::timeout(Duration::from_secs(5), learn).await {
            Ok(Some(rev)) => rev,
            _ => requested + 1,
        }
    }

    /// Maps etcd's revision errors for a read at `revision` to the typed ones.
    async fn revision_error(&self, err: StoreError, revision: i64) -> StoreError {
        match &err {
            StoreError::Internal(msg) if msg.contains(MSG_COMPACTED) => StoreError::Compacted {
                requested: revision,
                compacted: self.compacted_revision(revision).await,
            },
            StoreError::Internal(msg) if msg.contains(MSG_FUTURE) => StoreError::FutureRevision {
                requested: revision,
                current: self.current_revision().await.unwrap_or(0),
            },
            _ => err,
        }
    }

    /// A CAS delete: if `key` is at store revision `expected`, otherwise report the current value.
    async fn cas_delete(&self, key: &str, expected: i64) -> Result<CasOutcome, StoreError> {
        let Some(expected) = expected_etcd_revision(expected) else {
            return Ok(CasOutcome::Stale {
                current: self.get(key).await?,
            });
        };
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::delete(key, None)])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.txn(txn).await?;
        if resp.succeeded() {
            return Ok(CasOutcome::Done {
                revision: store_revision(header_revision(&resp)?, 0),
            });
        }
        let current = match resp.op_responses().into_iter().next() {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().map(to_kv).transpose()?,
            _ => {
                return Err(StoreError::Internal(
                    "txn else-branch returned no get".into(),
                ))
            }
        };
        Ok(CasOutcome::Stale { current })
    }
}

/// The etcd mod_revision a store revision names, if it can name one: mod_revision == 0 would
/// match a missing key, and update and delete never create.
fn expected_etcd_revision(expected: i64) -> Option<i64> {
    Some(etcd_revision(expected)).filter(|&rev| rev > 0)
}

pub(super) async fn timed<T>(
    fut: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(result) => result.map_err(map_err),
        Err(_) => Err(StoreError::Unavailable(format!(
            "etcd request timed out after {REQUEST_TIMEOUT:?}"
        ))),
    }
}

/// etcd's "request is too large" (over `--max-request-bytes`), or gRPC's own message limit.
fn is_too_large(status: &tonic::Status) -> bool {
    let msg = status.message();
    msg.contains("request is too large") || msg.contains("larger than max")
}

fn map_err(err: etcd_client::Error) -> StoreError {
    use etcd_client::Error as E;
    match err {
        E::GRpcStatus(status) if is_too_large(&status) => {
            StoreError::TooLarge(status.message().to_string())
        }
        E::GRpcStatus(status) => match status.code() {
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Aborted
            | tonic::Code::ResourceExhausted
            // tonic reports a refused or broken connection as Unknown "transport error".
            | tonic::Code::Unknown => StoreError::Unavailable(status.message().to_string()),
            _ => StoreError::Internal(status.message().to_string()),
        },
        E::TransportError(e) => StoreError::Unavailable(format!("etcd transport: {e}")),
        E::IoError(e) => StoreError::Unavailable(format!("etcd io: {e}")),
        E::WatchError(e) => StoreError::Unavailable(format!("etcd watch: {e}")),
        other => StoreError::Internal(other.to_string()),
    }
}

pub(super) fn header_revision(resp: &TxnResponse) -> Result<i64, StoreError> {
    resp.header()
        .map(|h| h.revision())
        .ok_or_else(|| StoreError::Internal("etcd response without header".into()))
}

/// One etcd kv as the store's: frame removed, revisions in store terms. The create revision
/// carries the write's position only while the key is at its creating write (its one use is
/// telling a create from an update by `create_revision == mod_revision`).
pub(super) fn to_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
    let key = kv
        .key_str()
        .map_err(|e| StoreError::Internal(format!("non-UTF-8 key in etcd: {e}")))?;
    let (value, position) = unframe(kv.value());
    let created_here = kv.create_revision() == kv.mod_revision();
    Ok(KeyValue {
        key: key.to_string(),
        value: Bytes::copy_from_slice(value),
        create_revision: store_revision(kv.create_revision(), position * i64::from(created_here)),
        mod_revision: store_revision(kv.mod_revision(), position),
    })
}

fn range_end(prefix: &str) -> Vec<u8> {
    // `\0` as range end means "every key >= start" (an empty or all-0xff prefix).
    prefix_end(prefix.as_bytes()).unwrap_or_else(|| vec![0])
}

fn to_event(event: &etcd_client::Event) -> Result<Event, StoreError> {
    let kv = event
        .kv()
        .ok_or_else(|| StoreError::Internal("watch event without kv".into()))?;
    let prev = event.prev_kv().map(to_kv).transpose()?;
    Ok(match event.event_type() {
        EventType::Put => Event::Put {
            kv: to_kv(kv)?,
            prev,
        },
        EventType::Delete => Event::Delete {
            key: to_kv(kv)?.key,
            revision: store_revision(kv.mod_revision(), 0),
            prev,
        },
    })
}

/// Turns one watch response into the items to yield, and whether the watch is over.
fn response_items(
    resp: &etcd_client::WatchResponse,
    after: i64,
) -> (Vec<Result<Event, StoreError>>, bool) {
    if resp.compact_revision() > 0 {
        let err = StoreError::Compacted {
            requested: after,
            compacted: store_revision(resp.compact_revision(), 0),
        };
        return (vec![Err(err)], true);
    }
    if resp.canceled() {
        let reason = format!("etcd canceled the watch: {}", resp.cancel_reason());
        return (vec![Err(StoreError::Unavailable(reason))], true);
    }
    // A watch resumed inside a batched Txn's etcd revision skips the positions already seen.
    let items: Vec<_> = resp
        .events()
        .iter()
        .map(to_event)
        .filter(|e| e.as_ref().map_or(true, |e| e.revision() > after))
        .collect();
    let failed = items.iter().any(Result::is_err);
    (items, failed)
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let resp = self.range(key.as_bytes(), GetOptions::new()).await?;
        resp.kvs().first().map(to_kv).transpose()
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        revision: i64,
        limit: i64,
    ) -> Result<ListResult, StoreError> {
        let from = if start > prefix { start } else { prefix };
        // Inside an etcd revision a list sees all of it (etcd reads whole revisions).
        let at = if revision > 0 {
            etcd_revision(revision).max(1)
        } else {
            0
        };
        let options = GetOptions::new()
            .with_range(range_end(prefix))
            .with_revision(at)
            .with_limit(limit.max(0));
        let resp = match self.range(from.as_bytes(), options).await {
            Ok(resp) => resp,
            Err(e) => return Err(self.revision_error(e, revision).await),
        };
        let items = resp
            .kvs()
            .iter()
            .map(to_kv)
            .collect::<Result<Vec<_>, _>>()?;
        let header = resp.header().map_or(0, |h| h.revision());
        Ok(ListResult {
            items,
            revision: if revision > 0 {
                revision
            } else {
                end_of(header)
            },
            more: resp.more(),
            count: resp.count(),
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<i64, StoreError> {
        match self.writes.write(key, value, Expect::Absent).await? {
            CasOutcome::Done { revision } => Ok(revision),
            CasOutcome::Stale { .. } => Err(StoreError::AlreadyExists {
                key: key.to_string(),
            }),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
    ) -> Result<CasOutcome, StoreError> {
        let Some(expected) = expected_etcd_revision(expected_mod_revision) else {
            return Ok(CasOutcome::Stale {
                current: self.get(key).await?,
            });
        };
        self.writes
            .write(key, value, Expect::ModRevision(expected))
            .await
    }

    async fn delete(
        &self,
        key: &str,
        expected_mod_revision: i64,
    ) -> Result<CasOutcome, StoreError> {
        self.cas_delete(key, expected_mod_revision).await
    }

    async fn watch(
        &self,
        prefix: &str,
        after_revision: i64,
        with_prev: bool,
    ) -> Result<WatchStream, StoreError> {
        let mut options = WatchOptions::new()
            .with_range(range_end(prefix))
            .with_start_revision(watch_start(after_revision));
        if with_prev {
            options = options.with_prev_key();
        }
        let mut client = self.watch.clone();
        let stream = timed(client.watch(prefix, Some(options))).await?;
        // The etcd stream is kept inside the unfold state: dropping its request sender early
        // could end the server side.
        let events = futures::stream::unfold(Some(stream), move |state| async move {
            let mut stream = state?;
            loop {
                match stream.message().await {
                    Ok(Some(resp)) => {
                        let (items, over) = response_items(&resp, after_revision);
                        if !items.is_empty() || over {
                            let next = if over { None } else { Some(stream) };
                            return Some((futures::stream::iter(items), next));
                        }
                    }
                    Ok(None) => return None,
                    Err(e) => {
                        let err = map_err(e);
                        return Some((futures::stream::iter(vec![Err(err)]), None));
                    }
                }
            }
        });
        Ok(events.flatten().boxed())
    }

    async fn current_revision(&self) -> Result<i64, StoreError> {
        let options = GetOptions::new().with_count_only();
        let resp = self.range(b"\0", options).await?;
        resp.header()
            .map(|h| end_of(h.revision()))
            .ok_or_else(|| StoreError::Internal("etcd response without header".into()))
    }

    async fn compact(&self, revision: i64) -> Result<(), StoreError> {
        let mut kv = self.kv.clone();
        match timed(kv.compact(etcd_revision(revision), None)).await {
            Ok(_) => Ok(()),
            // Already compacted at or beyond `revision`: nothing to do.
            Err(StoreError::Internal(msg)) if msg.contains(MSG_COMPACTED) => Ok(()),
            Err(e) => Err(self.revision_error(e, revision).await),
        }
    }
}
