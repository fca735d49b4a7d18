//! What every Flotilla component shares (api-server, scheduler, controller-manager, node-agent,
//! `flotilla`). Named `component`, not `runtime`, so it is not confused with the node agent's
//! container runtimes.
//!
//! - [`client_from_kubeconfig`]: the one way every binary turns `--kubeconfig` into a
//!   [`kube::Client`].
//! - [`leader`]: leader election over a `coordination.k8s.io/v1` Lease (kube-runtime has none),
//!   so only one replica of a component acts at a time.
//!   [`leader::run_elected`] runs a component's work under it, from the `--leader-elect*` flags
//!   of [`leader::LeaderElectionArgs`].
//! - [`args`]: the flags every component shares ([`args::ComponentArgs`]) and options whose
//!   defaults are written once, on their flags ([`args::defaults`]).
//! - [`events`]: the one Event recorder of every component.
//! - [`alloc`]: jemalloc's settings, applied by every binary at start.
//! - [`lean`]: watch events of objects decoded without managedFields.
//! - [`process`]: log setup ([`init_tracing`]) and the stop signal ([`shutdown_signal`]).

#[cfg(feature = "jemalloc")]
pub mod alloc;
pub mod args;
pub mod client;
pub mod events;
pub mod leader;
pub mod lean;
pub mod process;

pub use client::{
    client_from_kubeconfig, http2_client, http2_client_from_kubeconfig, http2_client_with_tls,
    ClientError,
};
pub use leader::{LeaderElectionConfig, LeaderElector, Outcome};
pub use process::{init_tracing, shutdown_signal};
