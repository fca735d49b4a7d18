//! Label and field selectors for list, watch and deletecollection (`labelSelector=`,
//! `fieldSelector=` query parameters, already URL-decoded by the caller).
//!
//! Every [`SelectorError`] maps to a 400 BadRequest Status whose message is the error text.

mod field;
mod flat;
mod label;
mod label_parse;

pub use field::{
    field_value, is_supported_field, selectable_fields, FieldOp, FieldSelector, FieldTerm,
};
pub use flat::Flat;
pub use label::{labels_of, LabelSelector, Labels};
pub use label_parse::Requirement;

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SelectorError {
    /// The label selector does not follow the grammar.
    #[error("unable to parse label selector {selector:?}: {reason}")]
    LabelSyntax { selector: String, reason: String },
    /// A label key is not a valid (optionally prefixed) Kubernetes name.
    #[error("invalid label key {key:?}: {reason}")]
    InvalidLabelKey { key: String, reason: String },
    /// A label value is not empty and not a valid Kubernetes label value.
    #[error("invalid label value {value:?} for key {key:?}: {reason}")]
    InvalidLabelValue {
        key: String,
        value: String,
        reason: String,
    },
    /// A field selector term has no operator or no field name.
    #[error("invalid field selector: {term:?}: {reason}")]
    FieldSyntax { term: String, reason: String },
    /// The field is not selectable for this kind (kube-apiserver's exact wording).
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}
