//! Built-in Kubernetes resources Flotilla serves next to its CRDs.
//!
//! Their schemas are permissive (`x-kubernetes-preserve-unknown-fields`): Flotilla stores and returns
//! them as clients send them, and only types the fields its own components and tables read.

use super::{ResourceInfo, ALL_VERBS};
use serde_json::{json, Value};

/// `type: object` that keeps unknown fields, with the standard top-level fields.
pub(crate) fn permissive_schema() -> Value {
    with_properties(json!({}))
}

fn with_properties(extra: Value) -> Value {
    let mut properties = json!({
        "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
        "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
        "metadata": {"type": "object", "description": "Standard object's metadata."},
    });
    if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": properties})
}

fn lease_schema() -> Value {
    with_properties(json!({
        "spec": {
            "type": "object",
            "description": "spec contains the specification of the Lease.",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {
                "holderIdentity": {"type": "string", "description": "holderIdentity contains the identity of the holder of a current lease."},
                "leaseDurationSeconds": {"type": "integer", "format": "int32", "description": "leaseDurationSeconds is a duration that candidates for a lease need to wait to force acquire it."},
                "acquireTime": {"type": "string", "format": "date-time", "description": "acquireTime is a time when the current lease was acquired."},
                "renewTime": {"type": "string", "format": "date-time", "description": "renewTime is a time when the current holder of a lease has last updated the lease."},
                "leaseTransitions": {"type": "integer", "format": "int32", "description": "leaseTransitions is the number of transitions of a lease between holders."},
            }
        }
    }))
}

fn resource(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
) -> ResourceInfo {
    ResourceInfo {
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        list_kind: format!("{kind}List"),
        plural: plural.to_string(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: Vec::new(),
        categories: Vec::new(),
        status_subresource: false,
        scale: None,
        binding_subresource: false,
        schema: permissive_schema(),
        encrypted: false,
        verbs: ALL_VERBS.to_vec(),
        printer_columns: Vec::new(),
    }
}

/// Lease, events (both groups) and namespaces. Core `v1` always has a resource: legacy discovery of an
/// empty GV makes kubectl fail ("received empty response for: v1").
pub(crate) fn resources() -> Vec<ResourceInfo> {
    let lease = ResourceInfo {
        schema: lease_schema(),
        ..resource("coordination.k8s.io", "v1", "Lease", "leases", true)
    };
    let events = ResourceInfo {
        short_names: vec!["ev".into()],
        ..resource("events.k8s.io", "v1", "Event", "events", true)
    };
    let core_events = ResourceInfo {
        short_names: vec!["ev".into()],
        ..resource("", "v1", "Event", "events", true)
    };
    let namespaces = ResourceInfo {
        short_names: vec!["ns".into()],
        ..resource("", "v1", "Namespace", "namespaces", false)
    };
    vec![namespaces, core_events, lease, events]
}

/// The review resources, for discovery only: they are created and answered, never stored.
pub(crate) fn review_resources() -> Vec<ResourceInfo> {
    [
        ("authentication.k8s.io", "TokenReview", "tokenreviews"),
        (
            "authentication.k8s.io",
            "SelfSubjectReview",
            "selfsubjectreviews",
        ),
        (
            "authorization.k8s.io",
            "SubjectAccessReview",
            "subjectaccessreviews",
        ),
        (
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
        ),
        (
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
        ),
    ]
    .into_iter()
    .map(|(group, kind, plural)| ResourceInfo {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced: false,
        short_names: Vec::new(),
        categories: Vec::new(),
        status_subresource: false,
        scale: None,
        binding_subresource: false,
        schema: json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        encrypted: false,
        verbs: ALL_VERBS
            .iter()
            .copied()
            .filter(|v| *v == "create")
            .collect(),
        printer_columns: Vec::new(),
    })
    .collect()
}
