//! Pure patch machinery for writes: JSON merge patch, JSON patch and server-side apply.
//! No I/O: the HTTP handlers parse bodies and parameters and call these functions.

pub(crate) mod apply;
pub(crate) mod fields;
pub(crate) mod fields_v1;
pub(crate) mod fieldset;
pub(crate) mod json;
pub(crate) mod last_applied;
pub(crate) mod managed;
pub(crate) mod merge;

pub(crate) use apply::{apply_with, parse_apply_body, ApplyError, CONFLICT_CAUSE_REASON};
pub(crate) use fields::FieldSchema;
pub use json::{apply_json_patch, PatchError};
pub(crate) use managed::{
    managed_fields_of, record_update_with, set_managed_fields, ManagedFieldsEntry, WriteContext,
};
pub use merge::apply_merge_patch;
