//! GET of one object (main resource or `/status`).

use crate::errors::Result;
use crate::http::Response;
use crate::registry::ResourceInfo;
use crate::state::ApiServer;

use super::{object_response, Req};

pub async fn get(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let obj = server.rs.get(info, req.ns(), req.name()).await?;
    Ok(object_response(server, info, req, 200, &obj))
}
