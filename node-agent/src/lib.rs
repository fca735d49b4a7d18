//! flotilla-node-agent: the node agent (runtime, routing mesh).
//!
//! Not built yet: tracked by issue #6. The binary exists so the workspace shows the architecture
//! and so deployment scripts have a stable name to call.

/// What the binary prints until the component exists.
pub const NOT_YET: &str = "flotilla-node-agent is not implemented yet (issue #6)";
