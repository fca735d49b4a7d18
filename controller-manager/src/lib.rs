//! flotilla-controller-manager: the controller-manager (orchestrators, allocator, supervisors).
//!
//! Not built yet: tracked by issue #5. The binary exists so the workspace shows the architecture
//! and so deployment scripts have a stable name to call.

/// What the binary prints until the component exists.
pub const NOT_YET: &str = "flotilla-controller-manager is not implemented yet (issue #5)";
