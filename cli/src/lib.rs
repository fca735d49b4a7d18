//! The `flotilla` command: `crdgen`, `up` (the split control plane as separate processes on
//! this machine), `all-in-one` (every component in one process, Swarm's design),
//! `images` (one container image per binary), `certs` (credentials for the container topology),
//! `join-token` (the token node agents join with) and `lab` (the same experiments on Docker
//! Swarm and on Flotilla, measured side by side).

pub mod all_in_one;
pub mod certs;
pub mod containerd;
pub mod crdgen;
pub mod credentials;
pub mod images;
pub mod join_token;
pub mod lab;
pub mod node_image;
pub mod oci;
pub mod up;
