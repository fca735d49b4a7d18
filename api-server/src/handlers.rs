//! Resource verbs. Each file is one verb; they share [`Req`] and the server state.

mod cached_list;
pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod list;
pub(crate) mod patch;
pub(crate) mod read;
pub(crate) mod scale;
pub(crate) mod update;
pub(crate) mod watch;

use bytes::Bytes;
use serde_json::Value;

use crate::describe::table;
use crate::registry::ResourceInfo;
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{self as resp, Response};
use crate::wire::request::{Output, Query};
use crate::wire::route::ResourcePath;

/// One request for a resource, parsed.
pub struct Req {
    pub method: http::Method,
    pub path: ResourcePath,
    pub query: Query,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    /// kubectl's `Kubectl-Command` header (`kubectl describe`), see [`crate::describe::secret_data`].
    pub kubectl_command: Option<String>,
    pub body: Bytes,
    /// Who is asking (for rules that look at the object, like NodeRestriction).
    pub identity: crate::security::authn::Identity,
}

impl Req {
    pub fn ns(&self) -> Option<&str> {
        self.path.namespace.as_deref()
    }

    pub fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or("")
    }

    pub fn output(&self) -> Output {
        crate::wire::request::wants_table(self.accept.as_deref())
    }
}

/// Routes a resource request to its verb.
pub async fn dispatch(server: &ApiServer, info: &ResourceInfo, req: Req) -> Result<Response> {
    use http::Method;
    let sub = req.path.subresource.clone();
    match (&req.method, req.path.name.is_some(), sub.as_deref()) {
        (&Method::GET, false, None) if req.query.watch => watch::watch(server, info, &req).await,
        (&Method::GET, false, None) => list::list(server, info, &req).await,
        (&Method::POST, false, None) => create::create(server, info, &req).await,
        (&Method::DELETE, false, None) => delete::delete_collection(server, info, &req).await,
        (_, true, Some("scale")) if info.scale.is_some() => scale::scale(server, info, &req).await,
        (&Method::GET, true, None | Some("status")) => read::get(server, info, &req).await,
        (&Method::PUT, true, None | Some("status")) => update::put(server, info, &req).await,
        (&Method::PATCH, true, None | Some("status")) => patch::patch(server, info, &req).await,
        (&Method::DELETE, true, None) => delete::delete(server, info, &req).await,
        (&Method::POST, true, Some("binding")) if info.binding_subresource => {
            update::bind(server, info, &req).await
        }
        (_, true, Some(s)) if s != "status" => Err(ApiError::NoRoute),
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// An object answer, as a Table when kubectl asks for one.
pub fn object_response(info: &ResourceInfo, req: &Req, code: u16, obj: &Value) -> Response {
    match req.output() {
        Output::Table => {
            let include = req.query.include_object.as_deref();
            let table = table::render_now(info, std::slice::from_ref(obj), include, true);
            resp::json_with_type(code, &table, table::CONTENT_TYPE)
        }
        Output::Json => resp::json(code, obj),
    }
}

/// A write's answer: its JSON was encoded with the write (see [`crate::store::encoded`]).
pub fn stored_response(
    info: &ResourceInfo,
    req: &Req,
    code: u16,
    stored: &crate::store::state::Stored,
) -> Response {
    encoded_response(info, req, code, stored.decoded())
}

/// `obj`'s answer from JSON already encoded (a write's, or the watch cache's): only a table
/// answer reads the object itself.
pub fn encoded_response(
    info: &ResourceInfo,
    req: &Req,
    code: u16,
    obj: &crate::store::state::Decoded,
) -> Response {
    match req.output() {
        Output::Table => object_response(info, req, code, &obj.obj()),
        Output::Json => resp::encoded_json(code, obj.json(), "application/json"),
    }
}
