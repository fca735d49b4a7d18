//! POST: create an object.

use serde_json::Value;

use crate::admission;
use crate::registry::ResourceInfo;
use crate::store::metadata;
use crate::store::state::ApiServer;
use crate::wire::errors::Result;
use crate::wire::http::{with_warnings, Response};

use super::{stored_response, Req};

pub async fn create(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let yaml = admission::object_body_is_yaml(req.content_type.as_deref())?;
    let (obj, mut warnings) = admission::parse_object_body(info, &req.query, &req.body, yaml)?;
    let manager = admission::manager_name(&req.query, req.user_agent.as_deref());
    let (obj, unknown) = admit_new(server, info, req, obj, &manager, "Update")?;
    warnings.extend(unknown);
    let stored = server.create(info, obj, req.query.dry_run).await?;
    Ok(with_warnings(
        stored_response(info, req, 201, &stored),
        &warnings,
    ))
}

/// Everything a new object goes through before storage; shared with server-side apply's
/// create path. Returns the object and field-validation warnings.
pub fn admit_new(
    server: &ApiServer,
    info: &ResourceInfo,
    req: &Req,
    mut obj: Value,
    manager: &str,
    operation: &str,
) -> Result<(Value, Vec<String>)> {
    metadata::check_identity(info, req.ns(), &mut obj)?;
    metadata::generate_name(&mut obj);
    let warnings = admission::field_validation(info, &req.query, &mut obj)?;
    metadata::check_name(info, &obj)?;
    admission::node_restriction(info, &req.identity, None, &obj)?;
    let now = server.now_string();
    metadata::prepare_create(info, &mut obj, &now);
    admission::default_and_validate(info, None, &mut obj)?;
    if operation == "Update" {
        server.record_update(info, None, &mut obj, manager, None, &now);
    }
    Ok((obj, warnings))
}
