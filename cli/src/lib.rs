//! The `flotilla` command: `crdgen`, `up` (the split control plane as separate processes on
//! this machine) and `all-in-one` (every component in one process, Swarm's design).

pub mod all_in_one;
pub mod crdgen;
pub mod up;
