//! Every failure a request can meet, and the one place it becomes a Kubernetes `Status`.

use serde_json::{json, Value};

/// One cause of a 422 (or a strict-decoding 400): the field at fault and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub field: String,
    pub message: String,
}

/// Why a request failed. Each variant maps to exactly one HTTP code and `reason`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{resource} \"{name}\" not found")]
    NotFound { resource: String, name: String },
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists { resource: String, name: String },
    /// Stale resourceVersion or failed precondition.
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {message}")]
    Conflict {
        resource: String,
        name: String,
        message: String,
    },
    /// Server-side apply conflicts with other field managers.
    #[error("{message}")]
    ApplyConflict { message: String, causes: Vec<Cause> },
    /// Validation failed: `Kind.group "name" is invalid: causes…`.
    #[error("{kind}.{group} \"{name}\" is invalid: {}", join_causes(.causes))]
    Invalid {
        kind: String,
        group: String,
        name: String,
        causes: Vec<Cause>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    BadRequestWithCauses { message: String, causes: Vec<Cause> },
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("the server could not find the requested resource")]
    NoRoute,
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("the body of the request was in an unknown format - accepted media types include: {accepted}")]
    UnsupportedMediaType { accepted: String },
    #[error("{0}")]
    Expired(String),
    #[error("the request is too large: {0}")]
    TooLarge(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("Internal error occurred: {0}")]
    Internal(String),
}

fn join_causes(causes: &[Cause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        })
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => 404,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::BadRequest(_) | ApiError::BadRequestWithCauses { .. } => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::MethodNotAllowed => 405,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::Expired(_) => 410,
            ApiError::TooLarge(_) => 413,
            ApiError::Timeout(_) => 504,
            ApiError::TooManyRequests(_) => 429,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) | ApiError::BadRequestWithCauses { .. } => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::Expired(_) => "Expired",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::Timeout(_) => "Timeout",
            ApiError::TooManyRequests(_) => "TooManyRequests",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The `metav1.Status` body kubectl and kube-rs parse.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.to_string(),
            "reason": self.reason(), "code": self.code(),
        });
        if let Some(details) = self.details() {
            status["details"] = details;
        }
        status
    }

    fn details(&self) -> Option<Value> {
        let causes = |c: &[Cause]| -> Value {
            c.iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect()
        };
        let resource = match self {
            ApiError::NotFound { resource, .. }
            | ApiError::AlreadyExists { resource, .. }
            | ApiError::Conflict { resource, .. } => resource.as_str(),
            _ => "",
        };
        // "swarmservices.flotilla.dev" → group "flotilla.dev", kind "swarmservices" (the plural,
        // as kube-apiserver puts it in these errors).
        let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
        match self {
            ApiError::NotFound { name, .. }
            | ApiError::AlreadyExists { name, .. }
            | ApiError::Conflict { name, .. } => {
                Some(json!({"name": name, "group": group, "kind": plural}))
            }
            ApiError::Invalid {
                kind,
                group,
                name,
                causes: c,
            } => Some(json!({"name": name, "group": group, "kind": kind, "causes": causes(c)})),
            ApiError::ApplyConflict { causes: c, .. }
            | ApiError::BadRequestWithCauses { causes: c, .. } => {
                Some(json!({"causes": causes(c)}))
            }
            _ => None,
        }
    }
}

impl From<crate::storage::StoreError> for ApiError {
    fn from(e: crate::storage::StoreError) -> Self {
        use crate::storage::StoreError as S;
        match e {
            S::Compacted {
                requested,
                compacted,
            } => ApiError::Expired(format!(
                "too old resource version: {requested} ({compacted})"
            )),
            S::TooLarge(msg) => ApiError::TooLarge(format!("the store refused the object: {msg}")),
            S::FutureRevision { .. } => {
                ApiError::Timeout(format!("Too large resource version: {e}"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_status_reads_like_kubectl_expects() {
        let e = ApiError::Invalid {
            kind: "SwarmService".into(),
            group: "flotilla.dev".into(),
            name: "bad".into(),
            causes: vec![Cause {
                reason: "FieldValueInvalid".into(),
                field: "spec.endpoint.ports[0].publishedPort".into(),
                message: "Invalid value: 70000: must be between 0 and 65535".into(),
            }],
        };
        let s = e.to_status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["reason"], "Invalid");
        assert_eq!(s["details"]["kind"], "SwarmService");
        assert_eq!(
            s["message"],
            "SwarmService.flotilla.dev \"bad\" is invalid: spec.endpoint.ports[0].publishedPort: Invalid value: 70000: must be between 0 and 65535"
        );
        assert_eq!(
            s["details"]["causes"][0]["field"],
            "spec.endpoint.ports[0].publishedPort"
        );
    }

    #[test]
    fn not_found_names_resource_plural_in_details() {
        let e = ApiError::NotFound {
            resource: "swarmservices.flotilla.dev".into(),
            name: "nope".into(),
        };
        let s = e.to_status();
        assert_eq!(
            s["message"],
            "swarmservices.flotilla.dev \"nope\" not found"
        );
        assert_eq!(s["details"]["kind"], "swarmservices");
        assert_eq!(s["details"]["group"], "flotilla.dev");
        assert_eq!(s["code"], 404);
    }
}
