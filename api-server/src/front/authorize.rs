//! Turning a request into authorization attributes, asking the authorizer, and answering a
//! node's list or watch of SwarmServices in the routing view ([`node_view`]).

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::handlers::Req;
use crate::registry::ResourceInfo;
use crate::security::authn::Identity;
use crate::security::authz::{self, Decision, RequestAttributes, Verb};
use crate::security::node_view;
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};
use crate::wire::http::{Body, Response};

/// How an allowed request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Whole,
    /// A node's list of SwarmServices: each item in the routing view.
    RoutingList,
    /// A node's watch of SwarmServices: each event's object in the routing view.
    RoutingWatch,
}

/// The Kubernetes verb of a request.
pub fn verb(req: &Req) -> Verb {
    use http::Method;
    let named = req.path.name.is_some();
    match (&req.method, named) {
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if req.query.watch => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Update,
        (&Method::PATCH, _) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        _ => Verb::DeleteCollection,
    }
}

/// Authorizes a resource request; the answer says whether the response must be viewed.
pub async fn check(
    server: &ApiServer,
    identity: &Identity,
    info: &ResourceInfo,
    req: &Req,
) -> Result<Answer> {
    let mut attrs = RequestAttributes::resource(verb(req), &info.group, &info.plural);
    attrs.subresource = req.path.subresource.clone();
    attrs.namespace = req.path.namespace.clone();
    attrs.field_selector = req.query.field_selector.clone();
    // For create the name is in the body: node rules (own SwarmNode, own Lease) need it.
    attrs.name = req.path.name.clone().or_else(|| body_name(&req.body));
    decide(server, identity, &attrs).await?;
    Ok(match (node_view::applies(identity, &attrs), attrs.verb) {
        (true, Verb::Watch) => Answer::RoutingWatch,
        (true, _) => Answer::RoutingList,
        (false, _) => Answer::Whole,
    })
}

/// Authorizes a request outside the resource tree: `attrs` is a non-resource path, or a self
/// review. An anonymous caller that is denied gets 401, as kube-apiserver answers when anonymous
/// requests are enabled only for the public paths; anyone else gets 403.
pub async fn check_other(
    server: &ApiServer,
    identity: &Identity,
    attrs: &RequestAttributes,
) -> Result<()> {
    match decide(server, identity, attrs).await {
        Err(ApiError::Forbidden(_)) if identity.is_anonymous() => Err(ApiError::Unauthorized),
        other => other,
    }
}

/// The verb of a request for a non-resource path (kube-apiserver uses the lower-cased method).
pub fn path_verb(method: &http::Method) -> Verb {
    match *method {
        http::Method::GET | http::Method::HEAD => Verb::Get,
        http::Method::PUT => Verb::Update,
        http::Method::PATCH => Verb::Patch,
        http::Method::DELETE => Verb::Delete,
        _ => Verb::Create,
    }
}

async fn decide(server: &ApiServer, identity: &Identity, attrs: &RequestAttributes) -> Result<()> {
    match decision(server, identity, attrs).await? {
        Decision::Allow => Ok(()),
        Decision::Deny(reason) => Err(ApiError::Forbidden(authz::forbidden_message(
            identity, attrs, &reason,
        ))),
    }
}

/// The authorization chain's decision ([`crate::security::chain`]: always-allowed paths,
/// Flotilla's own rules, the host cluster's SubjectAccessReview); a host cluster that cannot
/// answer is a 500, as in Kubernetes.
pub async fn decision(
    server: &ApiServer,
    identity: &Identity,
    attrs: &RequestAttributes,
) -> Result<Decision> {
    let relations = server.node_index.as_ref();
    server
        .authz_chain
        .authorize(&server.authz, identity, attrs, relations)
        .await
        .map_err(|e| ApiError::Internal(format!("delegated authorization: {e}")))
}

impl Answer {
    /// The response as the caller may see it.
    pub async fn apply(self, resp: Response) -> Response {
        let (parts, body) = resp.into_parts();
        let body = match self {
            Answer::Whole => body,
            Answer::RoutingWatch => viewed_lines(body),
            Answer::RoutingList => {
                let bytes = match body.collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(never) => match never {},
                };
                let viewed = match serde_json::from_slice::<Value>(&bytes) {
                    Ok(list) => serde_json::to_vec(&node_view::list(list))
                        .expect("JSON values always serialize"),
                    Err(_) => Vec::new(),
                };
                crate::wire::http::full(viewed)
            }
        };
        http::Response::from_parts(parts, body)
    }
}

/// A watch stream with each event line's object in the routing view. Lines are cut at `\n`, so
/// a line split across chunks is viewed whole.
fn viewed_lines(body: Body) -> Body {
    let mut pending = BytesMut::new();
    body.map_frame(move |frame| {
        frame.map_data(|data| {
            pending.extend_from_slice(&data);
            let mut out = BytesMut::new();
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line = pending.split_to(end + 1);
                if let Ok(event) = serde_json::from_slice::<Value>(&line) {
                    let viewed = node_view::event(event);
                    out.extend_from_slice(&serde_json::to_vec(&viewed).expect("JSON serializes"));
                    out.extend_from_slice(b"\n");
                }
            }
            Bytes::from(out)
        })
    })
    .boxed()
}

/// `metadata.name` of a JSON body, read without building the whole document.
fn body_name(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        metadata: Meta,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        name: Option<String>,
    }
    serde_json::from_slice::<Named>(body).ok()?.metadata.name
}

/// A (Self)SubjectAccessReview: `spec.resourceAttributes` or `spec.nonResourceAttributes`.
pub async fn review(server: &ApiServer, identity: &Identity, spec: &Value) -> (bool, String) {
    let attrs = match attributes(spec) {
        Ok(attrs) => attrs,
        Err(reason) => return (false, reason),
    };
    match decision(server, identity, &attrs).await {
        Ok(Decision::Allow) => (true, String::new()),
        Ok(Decision::Deny(reason)) => (false, reason),
        Err(e) => (false, e.to_string()),
    }
}

/// The attributes a review's spec asks about.
fn attributes(spec: &Value) -> std::result::Result<RequestAttributes, String> {
    let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(String::from);
    let ra = &spec["resourceAttributes"];
    let attrs = if ra.is_object() {
        let Some(verb) = s(&ra["verb"]).and_then(|v| Verb::parse(&v)) else {
            return Err("unknown verb".into());
        };
        let mut a = RequestAttributes::resource(
            verb,
            &s(&ra["group"]).unwrap_or_default(),
            &s(&ra["resource"]).unwrap_or_default(),
        );
        a.subresource = s(&ra["subresource"]);
        a.namespace = s(&ra["namespace"]);
        a.name = s(&ra["name"]);
        a
    } else {
        let nra = &spec["nonResourceAttributes"];
        let Some(verb) = s(&nra["verb"]).and_then(|v| Verb::parse(&v)) else {
            return Err("unknown verb".into());
        };
        RequestAttributes::non_resource(verb, &s(&nra["path"]).unwrap_or_default())
    };
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::{body_name, viewed_lines, Answer};
    use bytes::Bytes;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn watch_lines_split_across_chunks_are_viewed_whole() {
        let event = br#"{"type":"ADDED","object":{"kind":"SwarmService","metadata":{"name":"web"},"spec":{"taskTemplate":{"containerSpec":{"image":"nginx","env":["PASSWORD=x"]}}}}}"#;
        let mut line = event.to_vec();
        line.push(b'\n');
        let (a, b) = line.split_at(40);
        let chunks: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(hyper::body::Frame::data(Bytes::copy_from_slice(a))),
            Ok(hyper::body::Frame::data(Bytes::copy_from_slice(b))),
        ];
        let body = http_body_util::StreamBody::new(futures::stream::iter(chunks)).boxed();
        let out = viewed_lines(body).collect().await.unwrap().to_bytes();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.ends_with('\n') && text.contains("nginx"), "{text}");
        assert!(!text.contains("PASSWORD"), "{text}");
    }

    #[tokio::test]
    async fn a_list_is_viewed_item_by_item() {
        let list = serde_json::json!({"kind": "SwarmServiceList", "items": [{"metadata": {"name": "web",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "PASSWORD"}}}]});
        let resp = Answer::RoutingList
            .apply(crate::wire::http::json(200, &list))
            .await;
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains("\"web\"") && !text.contains("PASSWORD"),
            "{text}"
        );
    }

    #[test]
    fn body_name_reads_metadata_name_only() {
        let body = br#"{"apiVersion":"v1","metadata":{"labels":{"a":"b"},"name":"web"},"spec":{"x":[1,{"name":"no"}]}}"#;
        assert_eq!(body_name(body).as_deref(), Some("web"));
        assert_eq!(body_name(br#"{"metadata":{"generateName":"w-"}}"#), None);
        assert_eq!(body_name(b"kind: Pod\nmetadata: {name: yaml}"), None);
    }
}
