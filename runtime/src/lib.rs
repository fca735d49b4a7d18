//! Plumbing shared by Flotilla's components (scheduler, controller-manager, node-agent).
//!
//! - [`client_from_kubeconfig`]: the one way every binary turns `--kubeconfig` into a
//!   [`kube::Client`].
//! - [`leader`]: leader election over a `coordination.k8s.io/v1` Lease (kube-runtime has none),
//!   so only one replica of a component acts at a time.

pub mod client;
pub mod leader;

pub use client::{client_from_kubeconfig, ClientError};
pub use leader::{LeaderElectionConfig, LeaderElector, Outcome};
