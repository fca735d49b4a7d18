//! Flotilla's API: group `flotilla.dev`, version `v1alpha1`.
//!
//! Types, Swarm defaults and validation only: no tokio, no HTTP client. The api-server calls
//! [`default_and_validate`] on JSON objects (the same as [`default_object`] then
//! [`validate_object`], in one decode); every other component uses the
//! types through kube-rs. Each type has an `apply_defaults(&mut self)` (see [`defaults`]).

mod admit;
pub mod config;
pub mod constraint;
pub mod container;
mod crds;
pub mod defaults;
pub mod duration;
pub mod endpoint;
pub mod join;
pub mod lean;
pub mod mounts;
pub mod network;
pub mod node;
mod object;
pub mod secret;
pub mod service;
pub mod task;
pub mod template;
pub mod update;
pub mod validation;

pub use admit::default_and_validate;
pub use config::{SwarmConfig, SwarmConfigSpec};
pub use crds::{crd_yaml, crds, crds_yaml};
pub use network::{SwarmNetwork, SwarmNetworkSpec, SwarmNetworkStatus};
pub use node::{SwarmNode, SwarmNodeSpec, SwarmNodeStatus};
pub use object::{default_object, validate_object};
pub use secret::{SwarmSecret, SwarmSecretSpec};
pub use service::{SwarmService, SwarmServiceSpec, SwarmServiceStatus};
pub use task::{Task, TaskSpec, TaskState, TaskStatus};
pub use validation::{FieldError, FieldErrorKind};

pub const GROUP: &str = "flotilla.dev";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "flotilla.dev/v1alpha1";

/// Label every Task carries with its service's name; `status.selector` of a service is
/// `flotilla.dev/service=<name>`.
pub const SERVICE_LABEL: &str = "flotilla.dev/service";

/// The kinds defined here, in CRD order.
pub const KINDS: [&str; 6] = [
    "SwarmService",
    "Task",
    "SwarmNode",
    "SwarmSecret",
    "SwarmConfig",
    "SwarmNetwork",
];
