//! WATCH: newline-delimited JSON events from the watch cache, filtered per watcher, with
//! bookmarks, `timeoutSeconds`, and too-old resourceVersions answered as an in-stream 410.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};

use crate::describe::table::{self, CONTENT_TYPE as TABLE_CONTENT_TYPE};
use crate::registry::ResourceInfo;
use crate::store::decoded::{json_line, LineKind};
use crate::store::state::{ApiServer, Decoded};
use crate::watchcache::{CachedEvent, EventKind, Snapshot, Subscription, WatchCacheError};
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::Response;
use crate::wire::produced::{Out, Produced};
use crate::wire::request::Output;

fn too_old(e: WatchCacheError) -> ApiError {
    match e {
        WatchCacheError::TooOld { requested, oldest } => {
            ApiError::Expired(format!("too old resource version: {requested} ({oldest})"))
        }
        other => ApiError::Internal(other.to_string()),
    }
}

use super::list::Selection;
use super::Req;

/// Most events sent to one watcher in one write.
const MAX_BATCH: usize = 64;

type SubItem = std::result::Result<Arc<CachedEvent<Decoded>>, WatchCacheError>;

/// Bytes of initial events gathered into one write (16 KiB TLS records, a few of them).
const INITIAL_CHUNK: usize = 64 * 1024;

/// When a client gives no timeoutSeconds (kube-apiserver picks 30–60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Everything the per-watcher task needs.
struct Watcher {
    /// `(group, version, plural)`: the resource, looked up in the registry when needed (a
    /// clone of its ResourceInfo, schema included, would cost every watch).
    resource: (String, String, String),
    selection: Selection,
    ns_prefix: String,
    output: Output,
    bookmarks: bool,
    headers_sent: bool,
    server: Arc<ApiServer>,
    include_object: Option<String>,
}

pub async fn watch(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let selection = Selection::from_req(info, req)?;
    let q = &req.query;
    if q.send_initial_events == Some(true)
        && (!q.allow_bookmarks || q.resource_version_match.as_deref() != Some("NotOlderThan"))
    {
        return Err(ApiError::BadRequest(
            "sendInitialEvents=true requires allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan".into(),
        ));
    }
    let rv = q.resource_version.as_deref().filter(|rv| *rv != "0");
    let initial = match (q.send_initial_events, rv) {
        (Some(explicit), _) => explicit,
        (None, rv) => rv.is_none(),
    };
    let mut w = Watcher {
        resource: (
            info.group.clone(),
            info.version.clone(),
            info.plural.clone(),
        ),
        selection,
        ns_prefix: server.rs.collection_prefix(info, req.ns()),
        output: req.output(),
        bookmarks: q.allow_bookmarks,
        headers_sent: false,
        server: server.self_arc(),
        include_object: q.include_object.clone(),
    };
    let timeout = q
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let after = match (initial, rv) {
        (false, Some(rv)) => Some(
            rv.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv}")))?,
        ),
        _ => None,
    };
    let mark_end = q.send_initial_events == Some(true);
    // Polled by the connection itself (see `produced`): no task or channel per watcher.
    let body = Produced::new(move |out| async move {
        if let Err(e) = w.run(&out, after, mark_end, timeout).await {
            out.send(error_line(&e)).await;
        }
    });
    let content_type = match req.output() {
        Output::Table => TABLE_CONTENT_TYPE,
        Output::Json => "application/json",
    };
    Ok(crate::wire::http::stream(body, content_type))
}

fn error_line(e: &ApiError) -> Bytes {
    json_line("ERROR", &e.to_status())
}

impl Watcher {
    fn info<'s>(&self, server: &'s ApiServer) -> &'s ResourceInfo {
        let (group, version, plural) = &self.resource;
        server
            .registry
            .get(group, version, plural)
            .expect("a watched resource stays registered")
    }

    async fn run(
        &mut self,
        out: &Out,
        after: Option<i64>,
        mark_end: bool,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let server = self.server.clone();
        let cache = server.cache(self.info(&server));
        // A watch of one node's tasks is handed only their events, not every task's.
        let indexed = cache
            .index_field()
            .and_then(|f| self.selection.required_field(f));
        let indexed = indexed.map(str::to_string);
        let (sub, start) = match after {
            Some(rev) => {
                let sub = cache.subscribe_where(rev, indexed.as_deref());
                (sub.map_err(too_old)?, rev)
            }
            None => {
                // No resourceVersion: the current state as ADDED events, then changes.
                let (snapshot, sub) = cache.snapshot_and_subscribe_where(indexed.as_deref());
                self.send_initial(out, &snapshot).await;
                (sub, snapshot.revision)
            }
        };
        if mark_end && self.bookmarks {
            out.send(self.bookmark(start, true)).await;
        }
        let ticks = server.config.bookmark_interval;
        self.follow(out, sub, start, deadline, ticks).await
    }

    /// Sends the snapshot's objects this watcher selects as ADDED lines, in writes of about
    /// INITIAL_CHUNK bytes, not one per object: 10,000 tasks are 15 MB, and a channel send, an
    /// HTTP/2 DATA frame and a TLS record per object cost more than the copy.
    async fn send_initial(&mut self, out: &Out, snapshot: &Snapshot<Decoded>) {
        let mut chunk = BytesMut::new();
        for (key, obj) in &snapshot.items {
            if key.starts_with(&self.ns_prefix) && self.selection.matches_cached(obj) {
                match self.output {
                    // Not cached: most objects were last modified, and an ADDED line kept for
                    // each would double what the cache holds.
                    Output::Json => obj.write_line(LineKind::Added, &mut chunk),
                    Output::Table => {
                        chunk.extend_from_slice(&self.encode_cached(LineKind::Added, obj))
                    }
                }
                if chunk.len() >= INITIAL_CHUNK {
                    out.send(chunk.split().freeze()).await;
                }
            }
        }
        if !chunk.is_empty() {
            out.send(chunk.freeze()).await;
        }
    }

    /// Live events after `start`, with bookmarks every `ticks`, until `deadline` (the watch's
    /// timeout) or the subscription ends. (When the client goes, the connection drops the body,
    /// and this future with it.)
    async fn follow(
        &mut self,
        out: &Out,
        sub: Subscription<Decoded>,
        start: i64,
        deadline: tokio::time::Instant,
        ticks: Duration,
    ) -> Result<()> {
        let mut ticker = tokio::time::interval(ticks);
        ticker.tick().await;
        let deadline = tokio::time::sleep_until(deadline);
        tokio::pin!(deadline);
        // Events already queued for this watcher go out as one write (one chunk, one TLS
        // record): a watcher that fell behind in a burst catches up in fewer, larger writes.
        let mut events = sub.ready_chunks(MAX_BATCH);
        loop {
            tokio::select! {
                batch = events.next() => {
                    let Some(batch) = batch else { return Ok(()) };
                    let (lines, end) = self.batch_lines(batch);
                    if let Some(lines) = lines {
                        out.send(lines).await;
                    }
                    match end {
                        None => {}
                        // The cache lost history: the client must relist.
                        Some(WatchCacheError::Reset { revision }) => return Err(too_old(WatchCacheError::TooOld { requested: start, oldest: revision })),
                        // Fell behind, or the cache stopped: end the stream; the client
                        // re-watches from its last resourceVersion.
                        Some(_) => return Ok(()),
                    }
                },
                _ = ticker.tick(), if self.bookmarks => {
                    let rev = events.get_ref().revision().max(start);
                    out.send(self.bookmark(rev, false)).await;
                }
                _ = &mut deadline => {
                    if self.bookmarks {
                        let rev = events.get_ref().revision().max(start);
                        out.send(self.bookmark(rev, false)).await;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// The lines of a batch of events (one shared line when there is one, else their
    /// concatenation), and the error that ended the subscription inside it, if any.
    fn batch_lines(&mut self, batch: Vec<SubItem>) -> (Option<Bytes>, Option<WatchCacheError>) {
        let mut lines = Vec::with_capacity(batch.len());
        let mut end = None;
        for item in batch {
            match item {
                Ok(ev) => lines.extend(self.event_line(&ev)),
                Err(e) => {
                    end = Some(e);
                    break;
                }
            }
        }
        let joined = match lines.len() {
            0 => None,
            1 => lines.pop(),
            _ => {
                let mut all = BytesMut::with_capacity(lines.iter().map(Bytes::len).sum());
                lines.iter().for_each(|l| all.extend_from_slice(l));
                Some(all.freeze())
            }
        };
        (joined, end)
    }

    /// Filters by namespace and selectors; an object moving out of (into) the selection is
    /// sent as DELETED (ADDED), as kube-apiserver does.
    fn event_line(&mut self, ev: &CachedEvent<Decoded>) -> Option<Bytes> {
        if !ev.key.starts_with(&self.ns_prefix) {
            return None;
        }
        let now = self.selection.matches_cached(&ev.object);
        let before = ev
            .prev
            .as_ref()
            .is_some_and(|p| self.selection.matches_cached(p));
        let kind = match ev.kind {
            EventKind::Deleted if before || now => LineKind::Deleted,
            EventKind::Deleted => return None,
            _ if now && before => LineKind::Modified,
            _ if now => LineKind::Added,
            _ if before => LineKind::Deleted,
            _ => return None,
        };
        if ev.kind == EventKind::Deleted {
            // The last state, stamped with the deletion revision (what clients resume from).
            return Some(match self.output {
                Output::Json => ev.object.tombstone_line(ev.revision),
                Output::Table => {
                    let obj =
                        crate::store::metadata::with_rv(ev.object.obj().into_owned(), ev.revision);
                    self.table_line(kind.as_str(), &obj)
                }
            });
        }
        Some(self.encode_cached(kind, &ev.object))
    }

    /// A cached object's line: JSON lines are encoded once and shared by every watcher.
    fn encode_cached(&mut self, kind: LineKind, obj: &Decoded) -> Bytes {
        match self.output {
            Output::Json => obj.line(kind),
            Output::Table => self.table_line(kind.as_str(), &obj.obj()),
        }
    }

    /// A Table line (per watcher: only its first carries the column definitions).
    fn table_line(&mut self, kind: &str, obj: &Value) -> Bytes {
        let headers = !self.headers_sent;
        self.headers_sent = true;
        let server = self.server.clone();
        let t = table::render_now(
            self.info(&server),
            std::slice::from_ref(obj),
            self.include_object.as_deref(),
            headers,
        );
        json_line(kind, &t)
    }

    fn bookmark(&self, rev: i64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rev.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let info = self.info(&self.server);
        let obj = json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": meta});
        json_line("BOOKMARK", &obj)
    }
}
