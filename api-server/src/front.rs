//! The front of the server: connections and TLS, authentication and authorization, the paths
//! that are not resources (discovery, OpenAPI, health, metrics, reviews, join), and the options
//! that make it an extension API server.

pub(crate) mod access_reviews;
pub(crate) mod authorize;
pub(crate) mod connections;
pub(crate) mod extension;
pub(crate) mod inflight;
pub(crate) mod join_http;
pub(crate) mod metrics;
pub(crate) mod nonresource;
pub(crate) mod reviews;
pub(crate) mod server;
