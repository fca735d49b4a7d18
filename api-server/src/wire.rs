//! The Kubernetes wire protocol: URL routes, query parameters and media types, response
//! bodies (JSON, streamed watches), the protobuf envelope, and errors as `Status`.

pub(crate) mod errors;
pub(crate) mod http;
pub(crate) mod k8s_proto;
pub(crate) mod produced;
pub mod request;
pub mod route;
