//! flotilla-scheduler: Swarm's placement (filters that explain themselves, spread by placement
//! preferences and load) with Kubernetes-style binding.
//!
//! Decisions are pure functions over a snapshot ([`decide::schedule`]); [`run`] is the plumbing:
//! watch Tasks and SwarmNodes, debounce, decide, write bindings concurrently (Task `binding`
//! subresource), explain unschedulable tasks in their status and a core v1 Event. Its binary
//! runs it under leader election ([`flotilla_component::leader::run_elected`]).

pub mod debounce;
pub mod decide;
pub mod failures;
pub mod filters;
pub mod model;
mod run;
pub mod spread;
mod state;
pub mod watched;
mod writer;

pub use run::{run, Options, SchedulerError};
pub use writer::{COMPONENT, CONFIRMED};
