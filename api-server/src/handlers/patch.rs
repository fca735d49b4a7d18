//! PATCH: JSON merge patch, JSON patch, server-side apply. Strategic merge is answered with 415,
//! as Kubernetes does for custom resources.

use serde_json::Value;

use crate::admission;
use crate::patch::{self as ssa, json as json_patch, merge};
use crate::registry::ResourceInfo;
use crate::store::metadata;
use crate::store::resource_store::Decision;
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Cause, Result};
use crate::wire::http::{with_warnings, Response};
use crate::wire::request::{body_type, BodyType, PATCH_TYPES};

use super::update::{check_precondition, finish_update, into_update, request_update};
use super::{create, stored_response, Req};

pub async fn patch(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let kind = body_type(req.content_type.as_deref());
    match kind {
        BodyType::MergePatch | BodyType::JsonPatch => {}
        BodyType::ApplyPatch => return apply(server, info, req).await,
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                accepted: PATCH_TYPES.into(),
            })
        }
    }
    let (doc, duplicates) = admission::parse_object_body(info, &req.query, &req.body, false)?;
    let mut warnings = Vec::new();
    let obj = server
        .update(info, req.ns(), req.name(), req.query.dry_run, |current| {
            let mut patched = current.clone();
            if kind == BodyType::MergePatch {
                merge::apply_merge_patch(&mut patched, &doc);
            } else {
                json_patch::apply_json_patch(&mut patched, &doc).map_err(|e| {
                    if e.is_too_large() {
                        ApiError::TooLarge(e.to_string())
                    } else {
                        invalid_patch(info, req.name(), e.to_string())
                    }
                })?;
            }
            check_precondition(info, req.name(), &patched, current)?;
            metadata::check_identity(info, req.ns(), &mut patched)?;
            let unknown = admission::field_validation(info, &req.query, &mut patched)?;
            warnings = [duplicates.clone(), unknown].concat();
            request_update(server, info, req, current, patched)
        })
        .await?;
    Ok(with_warnings(
        stored_response(info, req, 200, &obj),
        &warnings,
    ))
}

fn invalid_patch(info: &ResourceInfo, name: &str, message: String) -> ApiError {
    ApiError::Invalid {
        kind: info.kind.clone(),
        group: info.group.clone(),
        name: name.to_string(),
        causes: vec![Cause {
            reason: "FieldValueInvalid".into(),
            field: String::new(),
            message,
        }],
    }
}

/// Server-side apply: the applied object is the manager's whole intent; creates when missing.
async fn apply(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let manager = req.query.field_manager.clone().ok_or_else(|| {
        ApiError::BadRequest(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
        )
    })?;
    if req.body.len() > admission::MAX_BODY {
        return Err(ApiError::TooLarge(format!(
            "limit is {} bytes",
            admission::MAX_BODY
        )));
    }
    let mut applied = ssa::parse_apply_body(&req.body).map_err(apply_error)?;
    metadata::check_identity(info, req.ns(), &mut applied)?;
    super::update::check_url_name(req, &applied)?;
    metadata::meta_mut(&mut applied).insert("name".into(), Value::String(req.name().into()));
    let warnings = admission::field_validation(info, &req.query, &mut applied)?;
    let sub = req.path.subresource.clone();
    let api_version = info.api_version();
    for _ in 0..3 {
        match server.rs.get(info, req.ns(), req.name()).await {
            Err(ApiError::NotFound { .. }) if sub.is_none() => {
                let now = server.now_string();
                let schema = server.field_schema(info);
                let ctx = write_ctx(&manager, &api_version, &now, None, &schema);
                let (obj, entries) = ssa::apply_with(None, &applied, req.query.force, &[], &ctx)
                    .map_err(apply_error)?;
                let (mut obj, _) = create::admit_new(server, info, req, obj, &manager, "Apply")?;
                set_managed_fields(&mut obj, &entries);
                match server.create(info, obj, req.query.dry_run).await {
                    Ok(stored) => {
                        return Ok(with_warnings(
                            stored_response(info, req, 201, &stored),
                            &warnings,
                        ))
                    }
                    Err(ApiError::AlreadyExists { .. }) => continue, // raced with a create: apply as update
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    let obj = server
        .update(info, req.ns(), req.name(), req.query.dry_run, |current| {
            let now = server.now_string();
            let entries = ssa::managed_fields_of(current).unwrap_or_default();
            let schema = server.field_schema(info);
            let ctx = write_ctx(&manager, &api_version, &now, sub.as_deref(), &schema);
            let (merged, entries) =
                ssa::apply_with(Some(current), &applied, req.query.force, &entries, &ctx)
                    .map_err(apply_error)?;
            let mut new = into_update(info, current, merged, sub.as_deref())?;
            set_managed_fields(&mut new, &entries);
            let decision = finish_update(server, info, req, current, new, None, sub.as_deref())?;
            Ok::<Decision, ApiError>(decision)
        })
        .await?;
    Ok(with_warnings(
        stored_response(info, req, 200, &obj),
        &warnings,
    ))
}

fn apply_error(e: ssa::ApplyError) -> ApiError {
    match e {
        ssa::ApplyError::Conflicts(conflicts) => ApiError::ApplyConflict {
            message: ssa::ApplyError::Conflicts(conflicts.clone()).to_string(),
            causes: conflicts
                .iter()
                .map(|c| Cause {
                    reason: ssa::CONFLICT_CAUSE_REASON.into(),
                    field: c.field.clone(),
                    message: c.message(),
                })
                .collect(),
        },
        other => ApiError::BadRequest(other.to_string()),
    }
}

fn write_ctx<'a>(
    manager: &'a str,
    api_version: &'a str,
    now: &'a str,
    subresource: Option<&'a str>,
    schema: &'a ssa::FieldSchema,
) -> ssa::WriteContext<'a> {
    ssa::WriteContext {
        manager,
        api_version,
        now,
        subresource,
        schema,
    }
}

fn set_managed_fields(obj: &mut Value, entries: &[ssa::ManagedFieldsEntry]) {
    ssa::set_managed_fields(obj, entries);
}
