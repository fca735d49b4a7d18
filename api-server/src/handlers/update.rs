//! PUT (main resource and `/status`), the shared tail of every update, and Task binding.

use serde_json::{json, Value};

use crate::admission;
use crate::registry::ResourceInfo;
use crate::store::metadata;
use crate::store::resource_store::Decision;
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{with_warnings, Response};

use super::{stored_response, Req};

pub async fn put(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let yaml = admission::object_body_is_yaml(req.content_type.as_deref())?;
    let (mut body, mut warnings) = admission::parse_object_body(info, &req.query, &req.body, yaml)?;
    metadata::check_identity(info, req.ns(), &mut body)?;
    check_url_name(req, &body)?;
    warnings.extend(admission::field_validation(info, &req.query, &mut body)?);
    let obj = server
        .update(info, req.ns(), req.name(), req.query.dry_run, |current| {
            check_precondition(info, req.name(), &body, current)?;
            request_update(server, info, req, current, body.clone())
        })
        .await?;
    Ok(with_warnings(
        stored_response(info, req, 200, &obj),
        &warnings,
    ))
}

pub fn check_url_name(req: &Req, body: &Value) -> Result<()> {
    let body_name = metadata::name_of(body);
    if !body_name.is_empty() && body_name != req.name() {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            req.name()
        )));
    }
    Ok(())
}

/// A resourceVersion in the requested object is a precondition: a stale one is a 409, one that
/// is no resourceVersion at all a 422 (it can never match, and must not be ignored).
pub fn check_precondition(
    info: &ResourceInfo,
    name: &str,
    requested: &Value,
    current: &Value,
) -> Result<()> {
    let want = metadata::rv_precondition(requested).map_err(|bad| ApiError::Invalid {
        kind: info.kind.clone(),
        group: info.group.clone(),
        name: name.to_string(),
        causes: vec![crate::wire::errors::Cause {
            reason: "FieldValueInvalid".into(),
            field: "metadata.resourceVersion".into(),
            message: format!(
                "Invalid value: {bad}: must be a resourceVersion this server returned (a decimal integer)"
            ),
        }],
    })?;
    match want {
        Some(rv) if Some(rv) != metadata::resource_version(current) => Err(ApiError::Conflict {
            resource: info.group_resource(),
            name: name.to_string(),
            message: "the object has been modified; please apply your changes to the latest version and try again".into(),
        }),
        _ => Ok(()),
    }
}

/// Defaults, validation and (for non-apply writes, `manager` given) managedFields for a changed
/// object; an object being deleted whose
/// last finalizer was removed is deleted now.
pub fn finish_update(
    server: &ApiServer,
    info: &ResourceInfo,
    req: &Req,
    current: &Value,
    mut new: Value,
    manager: Option<&str>,
    subresource: Option<&str>,
) -> Result<Decision> {
    if subresource != Some("status") {
        admission::node_restriction(info, &req.identity, Some(current), &new)?;
    }
    admission::default_and_validate(info, Some(current), &mut new)?;
    metadata::settle_generation(current, &mut new);
    if metadata::same_except_managed_fields(current, &new) {
        return Ok(Decision::Keep(current.clone()));
    }
    if let Some(manager) = manager {
        let now = server.now_string();
        server.record_update(info, Some(current), &mut new, manager, subresource, &now);
    }
    metadata::drop_empty_collections(&mut new);
    if metadata::is_deleting(&new) && !metadata::has_finalizers(&new) {
        return Ok(Decision::Delete(new));
    }
    Ok(Decision::Write(new))
}

/// A PUT's or PATCH's requested object as the update of `current`: through the rules of the
/// URL's subresource, then [`finish_update`] as the request's field manager.
pub fn request_update(
    server: &ApiServer,
    info: &ResourceInfo,
    req: &Req,
    current: &Value,
    requested: Value,
) -> Result<Decision> {
    let sub = req.path.subresource.as_deref();
    let manager = admission::manager_name(&req.query, req.user_agent.as_deref());
    let new = into_update(info, current, requested, sub)?;
    finish_update(server, info, req, current, new, Some(&manager), sub)
}

/// POST `tasks/<name>/binding`: the scheduler's compare-and-swap placement. A task that is
/// already bound to another node, or is being deleted, is a conflict, so a lost race never
/// double-books. As kube-apiserver's pods/binding, it writes only the placement: no defaulting,
/// validation or managedFields pass over the whole object (the busiest write of a large rollout).
/// The answer is kube-apiserver's too: a `Status` of `Success`, not the Task (the scheduler learns
/// the stored Task from its watch; encoding and decoding it again per binding cost both sides).
pub async fn bind(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let body = admission::parse_body(&req.body, false)?;
    let node = body["target"]["name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("binding target.name is required".into()))?
        .to_string();
    let now = server.now_string();
    let conflict = |message: String| ApiError::Conflict {
        resource: info.group_resource(),
        name: req.name().to_string(),
        message,
    };
    server
        .update(info, req.ns(), req.name(), req.query.dry_run, |current| {
            if metadata::is_deleting(current) {
                return Err(conflict(
                    "task is being deleted, cannot be assigned to a node".into(),
                ));
            }
            // Binding a preassigned (global) task to its own node confirms it: PENDING → ASSIGNED.
            match current["spec"]["nodeName"].as_str() {
                Some(n) if !n.is_empty() && n != node => {
                    return Err(conflict(format!("task is already assigned to node {n}")))
                }
                _ => {}
            }
            Ok(Decision::Write(placed(current.clone(), &node, &now)))
        })
        .await?;
    let success = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(crate::wire::http::json(201, &success))
}

/// `task` bound to `node`; a task not yet further than PENDING becomes ASSIGNED.
fn placed(current: Value, node: &str, now: &str) -> Value {
    let mut new = current;
    new["spec"]["nodeName"] = json!(node);
    let state = new["status"]["state"].as_str().unwrap_or("");
    if state.is_empty()
        || state.eq_ignore_ascii_case("new")
        || state.eq_ignore_ascii_case("pending")
    {
        new["status"]["state"] = json!(flotilla_api::task::TaskState::Assigned);
        new["status"]["message"] = json!("scheduler assigned task to node");
        new["status"]["timestamp"] = json!(now);
        if let Some(s) = new["status"].as_object_mut() {
            s.remove("err");
        }
    }
    new
}

/// The object an update would store: through `/status` only the status changes; otherwise
/// server-owned metadata (and a status-subresource's status) is kept from `current`.
pub fn into_update(
    info: &ResourceInfo,
    current: &Value,
    mut patched: Value,
    sub: Option<&str>,
) -> Result<Value> {
    Ok(match sub {
        Some("status") => metadata::prepare_status_update(current, &patched),
        _ => {
            metadata::prepare_update(info, current, &mut patched)?;
            patched
        }
    })
}
