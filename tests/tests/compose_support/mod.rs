//! Helpers of the compose end-to-end test.

pub mod isolation;
pub mod nodes;
pub mod overlay;
