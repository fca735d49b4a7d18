//! flotilla-api-server: a Kubernetes-compatible API server for `flotilla.dev` over etcd.
//!
//! The only component that talks to etcd. Everything else (scheduler, controller-manager,
//! node agents, kubectl) is a client of this server.

pub mod discovery;
pub mod openapi;
pub mod patch;
pub mod registry;
pub mod schema_check;
pub mod security;
pub mod selectors;
pub mod storage;
pub mod table;
pub mod watchcache;

#[cfg(test)]
mod flotilla_tests;
#[cfg(test)]
mod test_support;
