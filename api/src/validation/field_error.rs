use std::fmt;

/// The kinds of Kubernetes' `field.ErrorType` that Flotilla uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    Invalid,
    Required,
    Duplicate,
    NotSupported,
    Forbidden,
    TooLong,
}

impl FieldErrorKind {
    /// The `reason` of a `StatusCause` (`FieldValueInvalid`, …).
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong => "FieldValueTooLong",
        }
    }

    /// Kubernetes' human name for the kind (`Invalid value`).
    pub fn label(self) -> &'static str {
        match self {
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooLong => "Too long",
        }
    }
}

/// One problem with one field. `Display` matches Kubernetes:
/// `spec.replicas: Invalid value: "-1": must be greater than or equal to 0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.endpoint.ports[0].publishedPort`.
    pub path: String,
    pub kind: FieldErrorKind,
    /// The offending value, for Invalid/Duplicate/NotSupported.
    pub value: Option<String>,
    pub message: String,
}

impl FieldError {
    pub fn new(
        path: impl Into<String>,
        kind: FieldErrorKind,
        value: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            path: path.into(),
            kind,
            value,
            message: message.into(),
        }
    }

    pub fn invalid(
        path: impl Into<String>,
        value: impl fmt::Display,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            path,
            FieldErrorKind::Invalid,
            Some(value.to_string()),
            message,
        )
    }

    pub fn required(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, FieldErrorKind::Required, None, message)
    }

    pub fn duplicate(
        path: impl Into<String>,
        value: impl fmt::Display,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            path,
            FieldErrorKind::Duplicate,
            Some(value.to_string()),
            message,
        )
    }

    /// Message lists the supported values like Kubernetes: `supported values: "a", "b"`.
    pub fn not_supported(
        path: impl Into<String>,
        value: impl fmt::Display,
        supported: &[&str],
    ) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        let message = format!("supported values: {}", list.join(", "));
        Self::new(
            path,
            FieldErrorKind::NotSupported,
            Some(value.to_string()),
            message,
        )
    }

    pub fn forbidden(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, FieldErrorKind::Forbidden, None, message)
    }

    pub fn too_long(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, FieldErrorKind::TooLong, None, message)
    }

    /// Kubernetes' `StatusCause.reason`.
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind.label())?;
        if let Some(value) = &self.value {
            write!(f, ": {value:?}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_kubernetes() {
        let e = FieldError::invalid("spec.replicas", -1, "must be greater than or equal to 0");
        assert_eq!(
            e.to_string(),
            r#"spec.replicas: Invalid value: "-1": must be greater than or equal to 0"#
        );
        assert_eq!(e.reason(), "FieldValueInvalid");
        let e = FieldError::required("spec.taskTemplate.containerSpec.image", "");
        assert_eq!(
            e.to_string(),
            "spec.taskTemplate.containerSpec.image: Required value"
        );
        let e = FieldError::not_supported("spec.x", "udpp", &["tcp", "udp"]);
        assert_eq!(
            e.to_string(),
            r#"spec.x: Unsupported value: "udpp": supported values: "tcp", "udp""#
        );
        let e = FieldError::forbidden("spec.data", "field is immutable");
        assert_eq!(e.to_string(), "spec.data: Forbidden: field is immutable");
    }

    #[test]
    fn reasons() {
        use FieldErrorKind::*;
        let reasons: Vec<&str> = [
            Invalid,
            Required,
            Duplicate,
            NotSupported,
            Forbidden,
            TooLong,
        ]
        .into_iter()
        .map(|k| k.reason())
        .collect();
        assert_eq!(
            reasons,
            [
                "FieldValueInvalid",
                "FieldValueRequired",
                "FieldValueDuplicate",
                "FieldValueNotSupported",
                "FieldValueForbidden",
                "FieldValueTooLong"
            ]
        );
    }
}
