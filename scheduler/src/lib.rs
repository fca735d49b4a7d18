//! flotilla-scheduler: the scheduler (filters, spread, binding).
//!
//! Not built yet: tracked by issue #4. The binary exists so the workspace shows the architecture
//! and so deployment scripts have a stable name to call.

/// What the binary prints until the component exists.
pub const NOT_YET: &str = "flotilla-scheduler is not implemented yet (issue #4)";
