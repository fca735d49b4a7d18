//! WATCH: newline-delimited JSON events from the watch cache, filtered per watcher, with
//! bookmarks, `timeoutSeconds`, and too-old resourceVersions answered as an in-stream 410.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::errors::{ApiError, Result};
use crate::http::Response;
use crate::registry::ResourceInfo;
use crate::request::Output;
use crate::state::{ApiServer, Decoded, TABLE_CONTENT_TYPE};
use crate::watchcache::{CachedEvent, EventKind};

use super::list::Selection;
use super::Req;

/// When a client gives no timeoutSeconds (kube-apiserver picks 30–60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Everything the per-watcher task needs.
struct Watcher {
    info: ResourceInfo,
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
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut w = Watcher {
        info: info.clone(),
        selection,
        ns_prefix: server.rs.collection_prefix(info, req.ns()),
        output: req.output(),
        bookmarks: q.allow_bookmarks,
        headers_sent: false,
        server: server.self_arc(),
        include_object: q.include_object.clone(),
    };
    let timeout = q.timeout_seconds.map(Duration::from_secs).unwrap_or(DEFAULT_TIMEOUT);
    let after = match (initial, rv) {
        (false, Some(rv)) => Some(rv.parse::<i64>().map_err(|_| {
            ApiError::BadRequest(format!("invalid resource version: {rv}"))
        })?),
        _ => None,
    };
    let mark_end = q.send_initial_events == Some(true);
    let sub_req = Req {
        body: Bytes::new(),
        ..req.clone_head()
    };
    tokio::spawn(async move {
        if let Err(e) = w.run(&tx, &sub_req, after, mark_end, timeout).await {
            let _ = tx.send(error_line(&e)).await;
        }
    });
    let content_type = match req.output() {
        Output::Table => TABLE_CONTENT_TYPE,
        Output::Json => "application/json",
    };
    Ok(crate::http::stream(rx, content_type))
}

fn error_line(e: &ApiError) -> Bytes {
    line("ERROR", &e.to_status().to_string())
}

fn line(kind: &str, object_json: &str) -> Bytes {
    Bytes::from(format!("{{\"type\":\"{kind}\",\"object\":{object_json}}}\n"))
}

impl Watcher {
    async fn run(
        &mut self,
        tx: &mpsc::Sender<Bytes>,
        req: &Req,
        after: Option<i64>,
        mark_end: bool,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let cache = self.server.cache(&self.info);
        let after = match after {
            Some(rev) => rev,
            None => {
                let (items, rev) = super::list::select(&self.server, &self.info, req, 0).await?;
                for obj in &items {
                    let line = self.encode("ADDED", obj);
                    if tx.send(line).await.is_err() {
                        return Ok(());
                    }
                }
                rev
            }
        };
        let mut sub = cache.subscribe(after).map_err(|e| {
            ApiError::Expired(format!("too old resource version: {} ({})", e.requested, e.oldest))
        })?;
        if mark_end && self.bookmarks {
            let _ = tx.send(self.bookmark(after.max(cache.current_revision()), true)).await;
        }
        let mut ticker = tokio::time::interval(self.server.config.bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                ev = sub.recv() => match ev {
                    Some(ev) => {
                        if let Some(line) = self.event_line(&ev) {
                            if tx.send(line).await.is_err() { return Ok(()); }
                        }
                    }
                    None => return Ok(()), // cache restarted or we fell behind: the client re-watches
                },
                _ = ticker.tick(), if self.bookmarks => {
                    if tx.send(self.bookmark(cache.current_revision(), false)).await.is_err() { return Ok(()); }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if self.bookmarks {
                        let _ = tx.send(self.bookmark(cache.current_revision(), false)).await;
                    }
                    return Ok(());
                }
                _ = tx.closed() => return Ok(()),
            }
        }
    }

    /// Filters by namespace and selectors; an object moving out of (into) the selection is
    /// sent as DELETED (ADDED), as kube-apiserver does.
    fn event_line(&mut self, ev: &CachedEvent<Decoded>) -> Option<Bytes> {
        if !ev.key.starts_with(&self.ns_prefix) {
            return None;
        }
        let now = self.selection.matches(&ev.object.obj);
        let before = ev.prev.as_ref().is_some_and(|p| self.selection.matches(&p.obj));
        let kind = match ev.kind {
            EventKind::Deleted if before || now => "DELETED",
            EventKind::Deleted => return None,
            _ if now && before => "MODIFIED",
            _ if now => "ADDED",
            _ if before => "DELETED",
            _ => return None,
        };
        Some(match self.output {
            Output::Json => line(kind, std::str::from_utf8(&ev.object.json).unwrap_or("{}")),
            Output::Table => self.encode(kind, &ev.object.obj),
        })
    }

    fn encode(&mut self, kind: &str, obj: &Value) -> Bytes {
        match self.output {
            Output::Json => line(kind, &obj.to_string()),
            Output::Table => {
                let headers = !self.headers_sent;
                self.headers_sent = true;
                let t = self.server.table_with(&self.info, std::slice::from_ref(obj), self.include_object.as_deref(), headers);
                line(kind, &t.to_string())
            }
        }
    }

    fn bookmark(&self, rev: i64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rev.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": meta});
        line("BOOKMARK", &obj.to_string())
    }
}
