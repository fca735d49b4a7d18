//! Flotilla's API: group `flotilla.dev`, version `v1alpha1`.
//!
//! Types, Swarm defaults and validation only: no tokio, no HTTP client. The api-server calls
//! [`validation`] and [`defaults`]; every other component uses the types through kube-rs.

pub const GROUP: &str = "flotilla.dev";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "flotilla.dev/v1alpha1";
