//! flotilla-controller-manager: Swarm's orchestration loops as Kubernetes controllers.
//!
//! Each controller is a decision function over a [`snapshot::Snapshot`] returning
//! [`action::Action`]s (unit-tested without I/O); [`manager::run`] feeds the snapshot from
//! kube-runtime reflectors and [`apply`] performs the writes.

pub mod action;
pub mod allocator;
pub mod apply;
mod cache;
pub mod controllers;
pub mod enforcer;
pub mod gc;
pub mod global;
pub mod ipam;
pub mod jobs;
pub mod jobs_global;
pub mod lb;
pub mod manager;
pub mod nodelifecycle;
pub mod past;
pub mod reaper;
pub mod replicated;
pub mod restart;
pub mod snapshot;
pub mod status;
pub mod task_shape;
pub mod taskgen;
pub mod templates;
pub mod update;
pub mod vni;

#[cfg(test)]
mod test_support;

pub use apply::COMPONENT;
pub use controllers::Selection;
pub use manager::{run, Options};
