//! flotilla-api-server: a Kubernetes-compatible API server for `flotilla.dev` over etcd.
//!
//! The only component that talks to etcd. Everything else (scheduler, controller-manager,
//! node agents, kubectl) is a client of this server. The folders follow a request:
//! [`front`] (connections, TLS, authentication, [`front::authorize`], paths that are not
//! resources) → [`wire`] (routes, query parameters, bodies, `Status` errors) → [`handlers`] (one
//! file per verb) → [`admission`] (fieldValidation, metadata rules, Swarm defaults and
//! validation) → [`store`] (shared state, keys, encryption, CAS) → [`storage`] (etcd or the
//! embedded store), with [`watchcache`] fanning events out. [`describe`] answers discovery,
//! OpenAPI and tables from the [`registry`]; [`app`] assembles a server from options.

pub mod admission;
pub mod app;
pub(crate) mod describe;
pub(crate) mod front;
pub(crate) mod handlers;
pub mod patch;
pub(crate) mod registry;
pub mod security;
pub mod selectors;
pub mod storage;
pub(crate) mod store;
pub mod watchcache;
pub mod wire;

#[cfg(test)]
mod test_support;
