//! The `scale` subresource: an `autoscaling/v1` Scale view of the replicas field, so
//! `kubectl scale ssvc/web --replicas=5` works.

use serde_json::{json, Value};

use crate::admission;
use crate::patch::{json as json_patch, merge};
use crate::registry::{ResourceInfo, ScaleInfo};
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{self as resp, Response};
use crate::wire::request::{body_type, BodyType, PATCH_TYPES};

use super::update::{check_precondition, finish_update};
use super::Req;

/// Reads a dotted JSON path such as `.spec.mode.replicated.replicas`.
fn get_path<'a>(obj: &'a Value, path: &str) -> &'a Value {
    path.trim_start_matches('.')
        .split('.')
        .fold(obj, |v, seg| v.get(seg).unwrap_or(&Value::Null))
}

fn set_path(obj: &mut Value, path: &str, value: Value) {
    let segs: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let mut cur = obj;
    for seg in &segs[..segs.len() - 1] {
        if !cur[*seg].is_object() {
            cur[*seg] = json!({});
        }
        cur = &mut cur[*seg];
    }
    cur[segs[segs.len() - 1]] = value;
}

pub fn to_scale(scale: &ScaleInfo, obj: &Value) -> Value {
    let m = &obj["metadata"];
    let mut status =
        json!({"replicas": get_path(obj, &scale.status_replicas_path).as_i64().unwrap_or(0)});
    if let Some(sel) = scale
        .label_selector_path
        .as_deref()
        .map(|p| get_path(obj, p))
        .and_then(Value::as_str)
    {
        status["selector"] = json!(sel);
    }
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                      "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": get_path(obj, &scale.spec_replicas_path).as_i64().unwrap_or(0)},
        "status": status,
    })
}

pub async fn scale(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let scale_info = info.scale.clone().ok_or(ApiError::NoRoute)?;
    let kind = body_type(req.content_type.as_deref());
    let body = match req.method {
        http::Method::GET => {
            let obj = server.rs.get(info, req.ns(), req.name()).await?;
            return Ok(resp::json(200, &to_scale(&scale_info, &obj)));
        }
        http::Method::PUT | http::Method::PATCH => admission::parse_body(&req.body, false)?,
        _ => return Err(ApiError::MethodNotAllowed),
    };
    if req.method == http::Method::PATCH
        && !matches!(kind, BodyType::MergePatch | BodyType::JsonPatch)
    {
        return Err(ApiError::UnsupportedMediaType {
            accepted: PATCH_TYPES.into(),
        });
    }
    let manager = admission::manager_name(&req.query, req.user_agent.as_deref());
    let obj = server
        .update(info, req.ns(), req.name(), req.query.dry_run, |current| {
            let mut scale = to_scale(&scale_info, current);
            match (&req.method, kind) {
                (&http::Method::PUT, _) => scale = body.clone(),
                (_, BodyType::MergePatch) => merge::apply_merge_patch(&mut scale, &body),
                _ => json_patch::apply_json_patch(&mut scale, &body)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?,
            }
            check_precondition(info, req.name(), &scale, current)?;
            let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
                ApiError::BadRequest("Scale spec.replicas must be an integer".into())
            })?;
            let mut new = current.clone();
            set_path(&mut new, &scale_info.spec_replicas_path, json!(replicas));
            crate::store::metadata::prepare_update(info, current, &mut new)?;
            finish_update(server, info, req, current, new, Some(&manager), None)
        })
        .await?;
    Ok(resp::json(
        200,
        &to_scale(&scale_info, &obj.decoded().obj()),
    ))
}
