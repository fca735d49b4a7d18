//! The Kubernetes wire protocol: URL routes, query parameters and media types, response
//! bodies (JSON, streamed watches), the protobuf envelope, and errors as `Status`.

pub mod errors;
pub mod http;
pub mod k8s_proto;
pub mod produced;
pub mod request;
pub mod route;
