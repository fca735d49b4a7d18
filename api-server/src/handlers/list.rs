//! LIST: selectors, resourceVersion semantics, limit/continue from one snapshot, Tables.

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::describe::table::{self, CONTENT_TYPE as TABLE_CONTENT_TYPE};
use crate::registry::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::state::{ApiServer, Decoded};
use crate::watchcache::Snapshot;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{self as resp, Response};
use crate::wire::request::Output;

use super::Req;

/// Label and field selectors of a request.
pub struct Selection {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Selection {
    pub fn from_req(info: &ResourceInfo, req: &Req) -> Result<Selection> {
        let labels = match &req.query.label_selector {
            Some(s) => {
                Some(LabelSelector::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))?)
            }
            None => None,
        };
        let fields = match &req.query.field_selector {
            Some(s) => {
                let f = FieldSelector::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))?;
                f.check_supported(&info.kind)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                Some(f)
            }
            None => None,
        };
        Ok(Selection { labels, fields })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.labels {
            if !l.matches(&crate::selectors::labels_of(obj)) {
                return false;
            }
        }
        match &self.fields {
            Some(f) => f.matches_object(obj),
            None => true,
        }
    }

    /// Objects with labels matching `selector`.
    #[cfg(test)]
    pub fn by_labels(selector: &str) -> Selection {
        Selection {
            labels: Some(LabelSelector::parse(selector).expect("a valid selector")),
            fields: None,
        }
    }

    /// Whether a list of the collection under `prefix` holds the cached object at `key`.
    pub fn lists(&self, prefix: &str, key: &str, obj: &Decoded) -> bool {
        key.starts_with(prefix) && self.matches_cached(obj)
    }

    /// The value a `field=value` term of the field selector requires, if there is one.
    pub fn required_field(&self, field: &str) -> Option<&str> {
        self.fields.as_ref()?.required_value(field)
    }

    /// Whether every object is selected, so none need be read.
    pub fn is_everything(&self) -> bool {
        self.labels.as_ref().is_none_or(LabelSelector::is_empty)
            && self.fields.as_ref().is_none_or(FieldSelector::is_empty)
    }

    /// [`Selection::matches`] on a cached object, reading only what selectors read (decoded
    /// once per object, only if a selector reads it).
    pub fn matches_cached(&self, obj: &Decoded) -> bool {
        if self.is_everything() {
            return true;
        }
        let s = obj.selectable();
        self.labels.as_ref().is_none_or(|l| l.matches(&s.labels))
            && self
                .fields
                .as_ref()
                .is_none_or(|f| f.matches(|path| s.field(path)))
    }
}

/// The continue token: base64url JSON, as kube-apiserver writes it.
fn encode_continue(rev: i64, start: &str) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rev, "start": start}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<(i64, String)> {
    let bad = || ApiError::BadRequest(format!("continue key is not valid: {token}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((
        v["rv"].as_i64().ok_or_else(bad)?,
        v["start"].as_str().ok_or_else(bad)?.to_string(),
    ))
}

/// Which revision to read, and where to start, from resourceVersion/continue parameters.
fn read_point(req: &Req) -> Result<(i64, String)> {
    let q = &req.query;
    if q.resource_version_match.is_some() && q.resource_version.is_none() {
        return Err(ApiError::BadRequest(
            "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
        ));
    }
    if let Some(token) = &q.continue_token {
        if q.resource_version.as_deref().is_some_and(|rv| rv != "0") {
            return Err(ApiError::BadRequest(
                "specifying resource version is not allowed when using continue".into(),
            ));
        }
        return decode_continue(token);
    }
    let exact = q.resource_version_match.as_deref() == Some("Exact");
    let rev = match &q.resource_version {
        Some(rv) if exact => rv
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv}")))?,
        _ => 0,
    };
    Ok((rev, String::new()))
}

/// `resourceVersion=0` ("any version") without a continue token is served from the watch cache,
/// whole, as kube-apiserver does: what informers (`ListSemantic::Any`) start from, without a
/// read and a decode of every object in etcd.
fn serves_from_cache(req: &Req) -> bool {
    let q = &req.query;
    q.resource_version.as_deref() == Some("0")
        && q.continue_token.is_none()
        && q.resource_version_match.as_deref() != Some("Exact")
}

/// The cache's matching objects of the request's namespace (all of them when cluster-wide) and
/// the revision they are at.
fn from_cache(
    server: &ApiServer,
    info: &ResourceInfo,
    req: &Req,
    selection: &Selection,
) -> (Vec<Value>, i64) {
    let snapshot = server.cache(info).snapshot();
    let prefix = server.rs.collection_prefix(info, req.ns());
    let items = matching(&snapshot, &prefix, selection)
        .map(|cached| cached.obj().into_owned())
        .collect();
    (items, snapshot.revision)
}

/// The snapshot's objects under `prefix` that `selection` matches.
fn matching<'s>(
    snapshot: &'s Snapshot<Decoded>,
    prefix: &'s str,
    selection: &'s Selection,
) -> impl Iterator<Item = &'s Decoded> {
    snapshot
        .items
        .iter()
        .filter(move |(key, cached)| selection.lists(prefix, key, cached))
        .map(|(_, cached)| &**cached)
}

/// Reads up to `limit` matching objects (0 = all). Returns them, the snapshot revision and
/// the next start key when more remain.
pub async fn select_page(
    server: &ApiServer,
    info: &ResourceInfo,
    req: &Req,
    limit: i64,
) -> Result<(Vec<Value>, i64, Option<String>)> {
    let selection = Selection::from_req(info, req)?;
    if serves_from_cache(req) {
        let (items, rev) = from_cache(server, info, req, &selection);
        return Ok((items, rev, None));
    }
    let mut out = Vec::new();
    let (rev, next) = each_stored(server, info, req, &selection, limit, |o| out.push(o)).await?;
    Ok((out, rev, next))
}

/// Hands `visit` each stored object that `selection` matches, up to `limit` (0 = all), decoding
/// one at a time; returns the snapshot revision and the next start key when more remain.
async fn each_stored(
    server: &ApiServer,
    info: &ResourceInfo,
    req: &Req,
    selection: &Selection,
    limit: i64,
    mut visit: impl FnMut(Value),
) -> Result<(i64, Option<String>)> {
    let (mut rev, mut start) = read_point(req)?;
    let mut visited = 0;
    loop {
        let want = if limit > 0 { limit - visited } else { 0 };
        let res = server
            .rs
            .list_stored(info, req.ns(), &start, rev, want)
            .await
            .map_err(|e| match e {
                ApiError::Expired(m) if req.query.continue_token.is_some() => ApiError::Expired(format!(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter. ({m})"
                )),
                e => e,
            })?;
        rev = res.revision;
        for kv in &res.items {
            let obj = server.rs.decode(info, kv)?;
            if selection.matches(&obj) {
                visit(obj);
                visited += 1;
            }
        }
        match res.items.last() {
            Some(last) if res.more => {
                start = crate::storage::next_start(&last.key);
                if limit > 0 && visited >= limit {
                    return Ok((rev, Some(start)));
                }
            }
            _ => return Ok((rev, None)),
        }
    }
}

pub async fn select(
    server: &ApiServer,
    info: &ResourceInfo,
    req: &Req,
    limit: i64,
) -> Result<(Vec<Value>, i64)> {
    let (items, rev, _) = select_page(server, info, req, limit).await?;
    Ok((items, rev))
}

pub async fn list(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    if serves_from_cache(req) && req.output() == Output::Json {
        return cached_json_list(server, info, req);
    }
    let limit = req.query.limit.unwrap_or(0);
    if req.output() == Output::Json && !serves_from_cache(req) {
        return stored_json_list(server, info, req, limit).await;
    }
    let (items, rev, next) = select_page(server, info, req, limit).await?;
    let mut metadata = json!({"resourceVersion": rev.to_string()});
    if let Some(start) = next {
        metadata["continue"] = json!(encode_continue(rev, &start));
    }
    if req.output() == Output::Table {
        let include = req.query.include_object.as_deref();
        let mut table = table::render_now(info, &items, include, true);
        table["metadata"] = metadata;
        return Ok(resp::json_with_type(200, &table, TABLE_CONTENT_TYPE));
    }
    Ok(resp::json(
        200,
        &json!({"apiVersion": info.api_version(), "kind": info.list_kind, "metadata": metadata, "items": items}),
    ))
}

/// A JSON list's object up to its items: `{"apiVersion":…,"kind":…,"metadata":…` without the
/// closing brace, which the streamed items and their end follow.
fn list_head(info: &ResourceInfo, metadata: Value) -> Vec<u8> {
    let head =
        json!({"apiVersion": info.api_version(), "kind": info.list_kind, "metadata": metadata});
    let mut head = serde_json::to_vec(&head).expect("JSON values always serialize");
    head.pop();
    head
}

/// A JSON list read from the store, each object written out as soon as it is decoded: a page
/// of 500 tasks held as trees was tens of MiB (a node-agent's relist; docs/benchmark.md).
async fn stored_json_list(
    server: &ApiServer,
    info: &ResourceInfo,
    req: &Req,
    limit: i64,
) -> Result<Response> {
    let selection = Selection::from_req(info, req)?;
    let mut items = b"[".to_vec();
    let write = |obj: Value| {
        if items.len() > 1 {
            items.push(b',');
        }
        serde_json::to_writer(&mut items, &obj).expect("JSON values always serialize");
    };
    let (rev, next) = each_stored(server, info, req, &selection, limit, write).await?;
    items.extend_from_slice(b"]}");
    let mut metadata = json!({"resourceVersion": rev.to_string()});
    if let Some(start) = next {
        metadata["continue"] = json!(encode_continue(rev, &start));
    }
    let mut head = list_head(info, metadata);
    head.extend_from_slice(b",\"items\":");
    let parts = [Bytes::from(head), Bytes::from(items)];
    Ok(resp::chunks(parts.into_iter(), "application/json"))
}

/// A JSON list from the watch cache, written from each object's cached JSON as the connection
/// takes it ([`super::cached_list`]): no copy of the objects, no encoding but the first, and no
/// buffer of the whole answer (informers' relists, the scheduler's start).
fn cached_json_list(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let selection = Selection::from_req(info, req)?;
    let snapshot = server.cache(info).snapshot();
    let prefix = server.rs.collection_prefix(info, req.ns());
    let head = list_head(
        info,
        json!({"resourceVersion": snapshot.revision.to_string()}),
    );
    let chunks = super::cached_list::Chunks::new(head, snapshot.items, prefix, selection);
    Ok(resp::chunks(chunks, "application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_token_round_trips() {
        let t = encode_continue(42, "/registry/flotilla.dev/tasks/default/web.1\u{0}");
        assert_eq!(
            decode_continue(&t).unwrap(),
            (42, "/registry/flotilla.dev/tasks/default/web.1\u{0}".into())
        );
        assert_eq!(decode_continue("garbage!").unwrap_err().code(), 400);
    }
}
