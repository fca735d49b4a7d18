//! The front of the server: connections and TLS, authentication and authorization, the paths
//! that are not resources (discovery, OpenAPI, health, metrics, reviews, join), and the options
//! that make it an extension API server.

pub mod access_reviews;
pub mod authorize;
pub mod connections;
pub mod extension;
pub mod join_http;
pub mod metrics;
pub mod nonresource;
pub mod reviews;
pub mod server;
