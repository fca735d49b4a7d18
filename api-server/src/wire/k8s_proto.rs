//! The Kubernetes protobuf wire format, only as far as `kubectl auth can-i` and `kubectl auth
//! whoami` need it (kubectl 1.32+ POST their reviews as `application/vnd.kubernetes.protobuf`
//! with no JSON fallback): the `k8s\0` envelope around a `runtime.Unknown`, and the
//! authorization/v1 SelfSubjectAccessReview spec. Answers go back as JSON, which kubectl accepts.

use prost::Message;
use serde_json::{json, Value};

/// The four bytes before every Kubernetes protobuf object.
pub const MAGIC: &[u8] = b"k8s\0";

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    #[error("protobuf body does not start with the k8s\\0 magic")]
    NoMagic,
    #[error("cannot decode {what}: {reason}")]
    Decode { what: &'static str, reason: String },
    #[error("expected kind {expected}, got {got:?}")]
    WrongKind { expected: &'static str, got: String },
}

/// `k8s.io/apimachinery/pkg/runtime.Unknown`.
#[derive(Clone, PartialEq, Message)]
pub struct Unknown {
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", tag = "2")]
    pub raw: Vec<u8>,
    #[prost(string, tag = "3")]
    pub content_encoding: String,
    #[prost(string, tag = "4")]
    pub content_type: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct TypeMeta {
    #[prost(string, tag = "1")]
    pub api_version: String,
    #[prost(string, tag = "2")]
    pub kind: String,
}

/// authorization/v1 SelfSubjectAccessReview (metadata, field 1, and status, field 3, are not
/// needed to answer).
#[derive(Clone, PartialEq, Message)]
pub struct SelfSubjectAccessReview {
    #[prost(message, optional, tag = "2")]
    pub spec: Option<SelfSubjectAccessReviewSpec>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SelfSubjectAccessReviewSpec {
    #[prost(message, optional, tag = "1")]
    pub resource_attributes: Option<ResourceAttributes>,
    #[prost(message, optional, tag = "2")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceAttributes {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub verb: String,
    #[prost(string, tag = "3")]
    pub group: String,
    #[prost(string, tag = "4")]
    pub version: String,
    #[prost(string, tag = "5")]
    pub resource: String,
    #[prost(string, tag = "6")]
    pub subresource: String,
    #[prost(string, tag = "7")]
    pub name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct NonResourceAttributes {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(string, tag = "2")]
    pub verb: String,
}

/// Strips the magic and decodes the envelope, checking the kind inside.
pub fn unwrap(body: &[u8], kind: &'static str) -> Result<Unknown, ProtoError> {
    let inner = body.strip_prefix(MAGIC).ok_or(ProtoError::NoMagic)?;
    let unknown = Unknown::decode(inner).map_err(|e| ProtoError::Decode {
        what: "runtime.Unknown",
        reason: e.to_string(),
    })?;
    let got = unknown.type_meta.clone().unwrap_or_default().kind;
    if got != kind {
        return Err(ProtoError::WrongKind {
            expected: kind,
            got,
        });
    }
    Ok(unknown)
}

/// A protobuf SelfSubjectAccessReview's spec as the JSON the JSON path reads.
pub fn access_review_spec(body: &[u8]) -> Result<Value, ProtoError> {
    let unknown = unwrap(body, "SelfSubjectAccessReview")?;
    let review = SelfSubjectAccessReview::decode(unknown.raw.as_slice()).map_err(|e| {
        ProtoError::Decode {
            what: "SelfSubjectAccessReview",
            reason: e.to_string(),
        }
    })?;
    let spec = review.spec.unwrap_or_default();
    let mut out = json!({});
    if let Some(r) = spec.resource_attributes {
        out["resourceAttributes"] = json!({
            "namespace": r.namespace, "verb": r.verb, "group": r.group, "version": r.version,
            "resource": r.resource, "subresource": r.subresource, "name": r.name,
        });
    }
    if let Some(n) = spec.non_resource_attributes {
        out["nonResourceAttributes"] = json!({"path": n.path, "verb": n.verb});
    }
    Ok(out)
}

/// Whether a Content-Type names the Kubernetes protobuf encoding.
/// `authorization.k8s.io/v1` SelfSubjectRulesReview (only `spec` is read).
#[derive(Clone, PartialEq, Message)]
pub struct SelfSubjectRulesReview {
    #[prost(message, optional, tag = "2")]
    pub spec: Option<SelfSubjectRulesReviewSpec>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SelfSubjectRulesReviewSpec {
    #[prost(string, tag = "1")]
    pub namespace: String,
}

/// The `spec.namespace` of a protobuf SelfSubjectRulesReview (`kubectl auth can-i --list`).
pub fn rules_review_namespace(body: &[u8]) -> Result<String, ProtoError> {
    let unknown = unwrap(body, "SelfSubjectRulesReview")?;
    let review =
        SelfSubjectRulesReview::decode(unknown.raw.as_slice()).map_err(|e| ProtoError::Decode {
            what: "SelfSubjectRulesReview",
            reason: e.to_string(),
        })?;
    Ok(review.spec.unwrap_or_default().namespace)
}

pub fn is_protobuf(content_type: &str) -> bool {
    content_type.starts_with(CONTENT_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let u = Unknown {
            type_meta: Some(TypeMeta {
                api_version: "authorization.k8s.io/v1".into(),
                kind: kind.into(),
            }),
            raw,
            content_encoding: String::new(),
            content_type: String::new(),
        };
        [MAGIC.to_vec(), u.encode_to_vec()].concat()
    }

    #[test]
    fn decodes_resource_attributes() {
        let review = SelfSubjectAccessReview {
            spec: Some(SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: "default".into(),
                    verb: "create".into(),
                    group: "flotilla.dev".into(),
                    resource: "swarmservices".into(),
                    ..Default::default()
                }),
                non_resource_attributes: None,
            }),
        };
        let body = envelope("SelfSubjectAccessReview", review.encode_to_vec());
        let spec = access_review_spec(&body).unwrap();
        assert_eq!(spec["resourceAttributes"]["verb"], "create");
        assert_eq!(spec["resourceAttributes"]["resource"], "swarmservices");
        assert_eq!(spec["resourceAttributes"]["namespace"], "default");
        assert!(spec.get("nonResourceAttributes").is_none());
    }

    #[test]
    fn decodes_non_resource_attributes() {
        let review = SelfSubjectAccessReview {
            spec: Some(SelfSubjectAccessReviewSpec {
                resource_attributes: None,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: "/metrics".into(),
                    verb: "get".into(),
                }),
            }),
        };
        let body = envelope("SelfSubjectAccessReview", review.encode_to_vec());
        let spec = access_review_spec(&body).unwrap();
        assert_eq!(spec["nonResourceAttributes"]["path"], "/metrics");
    }

    #[test]
    fn rejects_bodies_without_magic_or_of_another_kind() {
        assert_eq!(access_review_spec(b"{}"), Err(ProtoError::NoMagic));
        let body = envelope("SelfSubjectReview", vec![]);
        assert!(matches!(
            access_review_spec(&body),
            Err(ProtoError::WrongKind { .. })
        ));
    }

    #[test]
    fn decodes_the_rules_review_namespace() {
        let review = SelfSubjectRulesReview {
            spec: Some(SelfSubjectRulesReviewSpec {
                namespace: "prod".into(),
            }),
        };
        let body = envelope("SelfSubjectRulesReview", review.encode_to_vec());
        assert_eq!(rules_review_namespace(&body).unwrap(), "prod");
        let wrong = envelope("SelfSubjectAccessReview", review.encode_to_vec());
        assert!(matches!(
            rules_review_namespace(&wrong),
            Err(ProtoError::WrongKind { .. })
        ));
    }
}
