//! Test support shared by Flotilla's integration tests.
//!
//! - [`etcd::Etcd`] starts a real etcd (Debian's `etcd-server`) on free loopback ports in a
//!   temporary directory and kills it when dropped, so every test gets its own clean store;
//!   [`etcd::Etcd::start_tls`] starts one that serves clients over TLS only and requires a
//!   client certificate.
//! - [`apiserver::TestApiServer`] runs the real api-server in-process on port 0.
//! - [`bins::workspace_bins`] builds and finds the real binaries for end-to-end tests.
//! - [`kubectl::Kubectl`] runs the machine's real kubectl 1.27 … 1.33 against it.
//! - [`agent::RunningAgent`] runs a node agent in-process, on any runtime.

pub mod agent;
pub mod apiserver;
pub mod bench;
pub mod bins;
pub mod chart;
pub mod containerd;
pub mod etcd;
pub mod fixtures;
pub mod kubectl;
pub mod probe;
pub mod swarm;
pub mod tools;
