//! OpenAPI documents describing the served resources: v3 JSON (kubectl 1.27+: explain, validation
//! support checks) and a minimal v2 protobuf (kubectl 1.27/1.28 apply/create/edit/replace).

mod meta;
mod operations;
pub mod v2;
pub mod v3;

pub use operations::PATCH_CONTENT_TYPES;
