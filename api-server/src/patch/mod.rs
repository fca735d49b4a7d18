//! Pure patch machinery for writes: JSON merge patch, JSON patch and server-side apply.
//! No I/O: the HTTP handlers parse bodies and parameters and call these functions.

pub mod json;
pub mod merge;

pub use json::{apply_json_patch, PatchError, MAX_OPERATIONS};
pub use merge::apply_merge_patch;
