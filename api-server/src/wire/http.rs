//! Response building: JSON bodies, Status errors, streaming bodies for watches.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use serde_json::Value;

use crate::wire::errors::ApiError;

pub type Body = BoxBody<Bytes, Infallible>;
pub type Response = http::Response<Body>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub fn json(code: u16, value: &Value) -> Response {
    json_with_type(code, value, "application/json")
}

pub fn json_with_type(code: u16, value: &Value, content_type: &str) -> Response {
    let body = serde_json::to_vec(value).expect("JSON values always serialize");
    encoded_json(code, body, content_type)
}

/// A JSON answer already encoded.
pub fn encoded_json(code: u16, body: impl Into<Bytes>, content_type: &str) -> Response {
    http::Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(full(body))
        .expect("static response parts are valid")
}

pub fn bytes(code: u16, body: Vec<u8>, content_type: &str) -> Response {
    http::Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(full(body))
        .expect("static response parts are valid")
}

pub fn text(code: u16, body: &str) -> Response {
    bytes(code, body.as_bytes().to_vec(), "text/plain; charset=utf-8")
}

pub fn error(e: &ApiError) -> Response {
    let mut resp = json(e.code(), &e.to_status());
    if e.code() == 413 {
        // The body may not have been read to its end: the connection cannot carry another request.
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    if e.code() == 429 {
        // As kube-apiserver answers an overload: try again in a second.
        resp.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    if e.code() == 401 {
        resp.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"flotilla\""),
        );
    }
    resp
}

/// Adds `Warning: 299 - "text"` headers (kubectl prints them as `Warning: text`).
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let v = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

/// A chunked streaming body written by a producer (watches): each chunk is flushed as it comes.
pub fn stream(body: crate::wire::produced::Produced, content_type: &str) -> Response {
    use futures::StreamExt;
    let frames = body.map(|b| Ok::<_, Infallible>(hyper::body::Frame::data(b)));
    http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(BodyExt::boxed(http_body_util::StreamBody::new(frames)))
        .expect("static response parts are valid")
}

/// A body of `chunks`, each made when the connection asks for the next (a long answer is never
/// held whole).
pub fn chunks(
    chunks: impl Iterator<Item = Bytes> + Send + Sync + 'static,
    content_type: &str,
) -> Response {
    let frames = futures::stream::iter(chunks.map(|b| Ok(hyper::body::Frame::data(b))));
    http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(BodyExt::boxed(http_body_util::StreamBody::new(frames)))
        .expect("static response parts are valid")
}

/// `body`, holding `guard` until the body is sent or dropped (a connection's idle timer counts
/// a streaming watch as activity for as long as it streams).
pub fn tracked<G: Send + Sync + Unpin + 'static>(body: Body, guard: G) -> Body {
    Tracked {
        body,
        _guard: guard,
    }
    .boxed()
}

struct Tracked<G> {
    body: Body,
    _guard: G,
}

impl<G: Unpin> hyper::body::Body for Tracked<G> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}
