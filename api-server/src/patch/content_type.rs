//! Which patch a PATCH request carries, from its Content-Type.

use thiserror::Error;

/// The patch types the server accepts (strategic merge patch is not one of them: CRD-like
/// resources answer 415, which is what kubectl users see with real CRDs too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/apply-patch+yaml` (server-side apply; the body is YAML or JSON).
    Apply,
}

/// 415 UnsupportedMediaType; the text is kube-apiserver's message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error(
    "the body of the request was in an unknown format - accepted media types include: \
     application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)]
pub struct UnsupportedPatchType {
    /// The media type the client sent, without parameters.
    pub media_type: String,
}

impl PatchType {
    /// The accepted media types, e.g. for OpenAPI `requestBody` content.
    pub const MEDIA_TYPES: [&'static str; 3] = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];

    /// Parses a Content-Type header value; parameters such as `; charset=utf-8` are ignored.
    pub fn from_content_type(content_type: &str) -> Result<Self, UnsupportedPatchType> {
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media_type.as_str() {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/apply-patch+yaml" => Ok(PatchType::Apply),
            _ => Err(UnsupportedPatchType { media_type }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_of_kubectl_and_kube_rs() {
        let cases = [
            ("application/json-patch+json", PatchType::Json),
            (
                "application/merge-patch+json; charset=utf-8",
                PatchType::Merge,
            ),
            ("Application/Apply-Patch+YAML", PatchType::Apply),
        ];
        for (header, want) in cases {
            assert_eq!(PatchType::from_content_type(header), Ok(want), "{header}");
        }
    }

    #[test]
    fn strategic_merge_patch_is_unsupported_with_the_kubernetes_message() {
        let err =
            PatchType::from_content_type("application/strategic-merge-patch+json").unwrap_err();
        assert_eq!(err.media_type, "application/strategic-merge-patch+json");
        assert_eq!(
            err.to_string(),
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        );
        assert!(PatchType::from_content_type("").is_err());
    }
}
