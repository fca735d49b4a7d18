//! Plumbing shared by Flotilla's binaries (api-server, scheduler, controller-manager,
//! node-agent, `flotilla`).
//!
//! - [`client_from_kubeconfig`]: the one way every binary turns `--kubeconfig` into a
//!   [`kube::Client`].
//! - [`leader`]: leader election over a `coordination.k8s.io/v1` Lease (kube-runtime has none),
//!   so only one replica of a component acts at a time.
//! - [`process`]: log setup ([`init_tracing`]) and the stop signal ([`shutdown_signal`]).

pub mod client;
pub mod leader;
pub mod process;

pub use client::{
    client_from_kubeconfig, http2_client, http2_client_from_kubeconfig, http2_client_with_tls,
    ClientError,
};
pub use leader::{LeaderElectionConfig, LeaderElector, Outcome};
pub use process::{init_tracing, shutdown_signal};
