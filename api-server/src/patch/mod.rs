//! Pure patch machinery for writes: JSON merge patch, JSON patch and server-side apply.
//! No I/O: the HTTP handlers parse bodies and parameters and call these functions.

pub mod apply;
pub mod content_type;
pub mod fields;
pub mod fields_v1;
pub mod fieldset;
pub mod json;
pub mod last_applied;
pub mod managed;
pub mod merge;

pub use apply::{apply, apply_with, parse_apply_body, ApplyError, Conflict, CONFLICT_CAUSE_REASON};
pub use content_type::{PatchType, UnsupportedPatchType};
pub use fields::{fields_of, fields_of_with, FieldSchema, ListType, ALWAYS_IGNORED};
pub use fieldset::{path_string, FieldPath, FieldSet, FieldSetError, PathElement};
pub use json::{apply_json_patch, PatchError, MAX_OPERATIONS};
pub use last_applied::LAST_APPLIED_ANNOTATION;
pub use managed::{
    base_entries, managed_fields_of, record_update, record_update_with, set_managed_fields,
    ManagedFieldsEntry, ManagedFieldsError, Operation, WriteContext,
};
pub use merge::apply_merge_patch;
