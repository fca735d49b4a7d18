//! DELETE of one object (finalizers, preconditions, propagation) and of a collection.

use serde_json::{json, Value};

use crate::registry::ResourceInfo;
use crate::store::metadata;
use crate::store::resource_store::Decision;
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{self as resp, Response};

use super::Req;

/// The parts of DeleteOptions we honour (body or query).
#[derive(Default)]
struct DeleteOptions {
    propagation: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    dry_run: bool,
}

fn options(req: &Req) -> Result<DeleteOptions> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        crate::admission::parse_body(&req.body, false)?
    };
    Ok(DeleteOptions {
        propagation: body["propagationPolicy"]
            .as_str()
            .map(String::from)
            .or_else(|| req.query.propagation_policy.clone()),
        uid: body["preconditions"]["uid"].as_str().map(String::from),
        resource_version: body["preconditions"]["resourceVersion"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from),
        dry_run: req.query.dry_run
            || body["dryRun"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "All")),
    })
}

pub async fn delete(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    crate::store::namespaces::check_deletable(info, req.name())?;
    crate::admission::network_in_use::check(server, info, req.ns(), req.name()).await?;
    let opts = options(req)?;
    let obj = delete_one(server, info, req.ns(), req.name(), &opts).await?;
    Ok(resp::json(200, &obj))
}

async fn delete_one(
    server: &ApiServer,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value> {
    let now = server.now_string();
    server
        .update(info, ns, name, opts.dry_run, |current| {
            // As kube-apiserver: compared as an opaque string, so one that is not a number
            // (never any object's) fails instead of being ignored.
            if let Some(rv) = &opts.resource_version {
                let have = current["metadata"]["resourceVersion"].as_str().unwrap_or("");
                if rv != have {
                    return Err(ApiError::Conflict {
                        resource: info.group_resource(),
                        name: name.to_string(),
                        message: format!(
                            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}"
                        ),
                    });
                }
            }
            if let Some(uid) = &opts.uid {
                if current["metadata"]["uid"].as_str() != Some(uid) {
                    return Err(ApiError::Conflict {
                        resource: info.group_resource(),
                        name: name.to_string(),
                        message: format!(
                            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                            current["metadata"]["uid"].as_str().unwrap_or("")
                        ),
                    });
                }
            }
            Ok(decide_delete(current, opts.propagation.as_deref(), &now))
        })
        .await
        .map(|stored| stored.into_value())
}

/// Finalizers (and Foreground/Orphan propagation, which add one) turn a delete into setting
/// deletionTimestamp; repeated deletes of a deleting object change nothing.
fn decide_delete(current: &Value, propagation: Option<&str>, now: &str) -> Decision {
    if metadata::is_deleting(current) {
        return Decision::Keep(current.clone());
    }
    let extra = match propagation {
        Some("Foreground") => Some("foregroundDeletion"),
        Some("Orphan") => Some("orphan"),
        _ => None,
    };
    if !metadata::has_finalizers(current) && extra.is_none() {
        return Decision::Delete(current.clone());
    }
    let mut new = current.clone();
    if let Some(f) = extra {
        let fins = new["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !fins.iter().any(|v| v == f) {
            let mut fins = fins;
            fins.push(json!(f));
            new["metadata"]["finalizers"] = Value::Array(fins);
        }
    }
    let m = metadata::meta_mut(&mut new);
    m.insert("deletionTimestamp".into(), json!(now));
    m.insert("deletionGracePeriodSeconds".into(), json!(0));
    Decision::Write(new)
}

pub async fn delete_collection(
    server: &ApiServer,
    info: &ResourceInfo,
    req: &Req,
) -> Result<Response> {
    let opts = options(req)?;
    let (items, revision) = super::list::select(server, info, req, 0).await?;
    let mut deleted = Vec::new();
    for item in items {
        if crate::store::namespaces::check_deletable(info, metadata::name_of(&item)).is_err() {
            continue;
        }
        let ns = item["metadata"]["namespace"].as_str().map(String::from);
        match delete_one(server, info, ns.as_deref(), metadata::name_of(&item), &opts).await {
            Ok(obj) => deleted.push(obj),
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(resp::json(
        200,
        &json!({"apiVersion": info.api_version(), "kind": info.list_kind,
                "metadata": {"resourceVersion": revision.to_string()}, "items": deleted}),
    ))
}
