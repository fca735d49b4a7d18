//! GET of one object (main resource or `/status`).

use crate::registry::ResourceInfo;
use crate::store::resource_store::not_found;
use crate::store::state::ApiServer;
use crate::wire::errors::Result;
use crate::wire::http::Response;

use super::{encoded_response, object_response, Req};

/// Without `resourceVersion` a GET is a quorum read of etcd (the newest state, as kubectl
/// expects). With `resourceVersion=0` ("any version") it is the watch cache's copy, as
/// kube-apiserver serves it: no etcd round trip, and its JSON encoded at most once.
pub async fn get(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let describe = crate::describe::secret_data::redacts(info)
        && crate::describe::secret_data::is_describe(req.kubectl_command.as_deref());
    if req.query.resource_version.as_deref() == Some("0") && !describe {
        return from_cache(server, info, req);
    }
    let mut obj = server.rs.get(info, req.ns(), req.name()).await?;
    if describe {
        crate::describe::secret_data::redact_secret(&mut obj);
    }
    Ok(object_response(info, req, 200, &obj))
}

fn from_cache(server: &ApiServer, info: &ResourceInfo, req: &Req) -> Result<Response> {
    let key = server.rs.key(info, req.ns(), req.name());
    let Some((_, cached)) = server.cache(info).get(&key) else {
        return Err(not_found(info, req.name()));
    };
    Ok(encoded_response(info, req, 200, &cached))
}
