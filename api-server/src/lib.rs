//! flotilla-api-server: a Kubernetes-compatible API server for `flotilla.dev` over etcd.
//!
//! The only component that talks to etcd. Everything else (scheduler, controller-manager,
//! node agents, kubectl) is a client of this server. Request flow: [`server`] (TLS, authn,
//! routing) → [`authorize`] → [`handlers`] (one file per verb) → [`admission`] (fieldValidation,
//! Swarm defaults and validation) → [`resource_store`] (keys, encryption, CAS) → [`storage`].

pub mod access_reviews;
pub mod admission;
pub mod app;
pub mod authorize;
pub mod connections;
pub mod decoded;
pub mod describe;
pub mod discovery;
pub mod duplicate_keys;
pub mod encoded;
pub mod errors;
pub mod event_convert;
pub mod extension;
pub mod handlers;
pub mod http;
pub mod join_http;
mod join_setup;
pub mod k8s_proto;
pub mod metrics;
pub mod namespaces;
pub mod network_in_use;
pub mod node_index;
pub mod nonresource;
pub mod objects;
pub mod openapi;
pub mod patch;
pub mod produced;
pub mod registry;
pub mod request;
pub mod resource_store;
pub mod reviews;
pub mod route;
pub mod schema_check;
pub mod security;
pub mod selectors;
pub mod server;
pub mod state;
pub mod storage;
pub mod table;
pub mod watchcache;

#[cfg(test)]
mod flotilla_tests;
#[cfg(test)]
mod test_support;
