//! Shared apimachinery schemas (ObjectMeta, ListMeta, Status, DeleteOptions, Patch, Scale, Binding)
//! included in every per-GV OpenAPI v3 document, with descriptions so `kubectl explain
//! <kind>.metadata` has something to print.

use serde_json::{json, Value};

pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";
pub const BINDING: &str = "io.k8s.api.core.v1.Binding";
const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const OWNER_REFERENCE: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference";
const MANAGED_FIELDS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry";
const FIELDS_V1: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1";
const OBJECT_REFERENCE: &str = "io.k8s.api.core.v1.ObjectReference";

/// `{"$ref": "#/components/schemas/<name>"}`.
pub fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A property that points at another schema, kube-apiserver style (`allOf` keeps the description).
pub fn ref_property(name: &str, description: &str) -> Value {
    json!({"allOf": [reference(name)], "description": description})
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn string_map(description: &str) -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}, "description": description})
}

fn gvk_list(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "kind": kind, "version": version}])
}

fn object_meta() -> Value {
    json!({
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "type": "object",
        "properties": {
            "annotations": string_map("Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata."),
            "creationTimestamp": ref_property(TIME, "CreationTimestamp is a timestamp representing the server time when this object was created."),
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64", "description": "Number of seconds allowed for this object to gracefully terminate before it will be removed from the system."},
            "deletionTimestamp": ref_property(TIME, "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."),
            "finalizers": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "set", "description": "Must be empty before the object is deleted from the registry."},
            "generateName": string("GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."),
            "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
            "labels": string_map("Map of string keys and values that can be used to organize and categorize (scope and select) objects."),
            "managedFields": {"type": "array", "items": {"allOf": [reference(MANAGED_FIELDS)], "default": {}}, "x-kubernetes-list-type": "atomic", "description": "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow."},
            "name": string("Name must be unique within a namespace. Cannot be updated."),
            "namespace": string("Namespace defines the space within which each name must be unique."),
            "ownerReferences": {"type": "array", "items": {"allOf": [reference(OWNER_REFERENCE)], "default": {}}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-patch-merge-key": "uid", "description": "List of objects depended by this object."},
            "resourceVersion": string("An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed."),
            "selfLink": string("Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."),
            "uid": string("UID is the unique in time and space value for this object."),
        }
    })
}

fn list_meta() -> Value {
    json!({
        "description": "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
        "type": "object",
        "properties": {
            "continue": string("continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available."),
            "remainingItemCount": {"type": "integer", "format": "int64", "description": "remainingItemCount is the number of subsequent items in the list which are not included in this list response."},
            "resourceVersion": string("String that identifies the server's internal version of this object that can be used by clients to determine when objects have changed."),
            "selfLink": string("Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."),
        }
    })
}

fn owner_reference() -> Value {
    json!({
        "description": "OwnerReference contains enough information to let you identify an owning object.",
        "type": "object",
        "required": ["apiVersion", "kind", "name", "uid"],
        "x-kubernetes-map-type": "atomic",
        "properties": {
            "apiVersion": string("API version of the referent."),
            "blockOwnerDeletion": {"type": "boolean", "description": "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed."},
            "controller": {"type": "boolean", "description": "If true, this reference points to the managing controller."},
            "kind": string("Kind of the referent."),
            "name": string("Name of the referent."),
            "uid": string("UID of the referent."),
        }
    })
}

fn managed_fields_entry() -> Value {
    json!({
        "description": "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
        "type": "object",
        "properties": {
            "apiVersion": string("APIVersion defines the version of this resource that this field set applies to."),
            "fieldsType": string("FieldsType is the discriminator for the different fields format and version."),
            "fieldsV1": ref_property(FIELDS_V1, "FieldsV1 holds the first JSON version format as described in the \"FieldsV1\" type."),
            "manager": string("Manager is an identifier of the workflow managing these fields."),
            "operation": string("Operation is the type of operation which lead to this ManagedFieldsEntry being created."),
            "subresource": string("Subresource is the name of the subresource used to update that object, or empty string if the object was updated through the main resource."),
            "time": ref_property(TIME, "Time is the timestamp of when the ManagedFields entry was added."),
        }
    })
}

fn status() -> Value {
    json!({
        "description": "Status is a return value for calls that don't return other objects.",
        "type": "object",
        "properties": {
            "apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
            "code": {"type": "integer", "format": "int32", "description": "Suggested HTTP return code for this status, 0 if not set."},
            "details": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "description": "Extended data associated with the reason."},
            "kind": string("Kind is a string value representing the REST resource this object represents."),
            "message": string("A human-readable description of the status of this operation."),
            "metadata": ref_property(LIST_META, "Standard list metadata."),
            "reason": string("A machine-readable description of why this operation is in the \"Failure\" status."),
            "status": string("Status of the operation. One of: \"Success\" or \"Failure\"."),
        },
        "x-kubernetes-group-version-kind": gvk_list("", "v1", "Status"),
    })
}

fn delete_options() -> Value {
    json!({
        "description": "DeleteOptions may be provided when deleting an API object.",
        "type": "object",
        "properties": {
            "apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
            "dryRun": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "atomic", "description": "When present, indicates that modifications should not be persisted."},
            "gracePeriodSeconds": {"type": "integer", "format": "int64", "description": "The duration in seconds before the object should be deleted."},
            "kind": string("Kind is a string value representing the REST resource this object represents."),
            "preconditions": {"type": "object", "description": "Must be fulfilled before a deletion is carried out.", "properties": {"resourceVersion": string("Specifies the target ResourceVersion"), "uid": string("Specifies the target UID.")}},
            "propagationPolicy": string("Whether and how garbage collection will be performed: Orphan, Background or Foreground."),
        },
    })
}

fn scale() -> Value {
    json!({
        "description": "Scale represents a scaling request for a resource.",
        "type": "object",
        "properties": {
            "apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
            "kind": string("Kind is a string value representing the REST resource this object represents."),
            "metadata": ref_property(OBJECT_META, "Standard object metadata."),
            "spec": {"type": "object", "description": "spec defines the behavior of the scale.", "properties": {"replicas": {"type": "integer", "format": "int32", "description": "replicas is the desired number of instances for the scaled object."}}},
            "status": {"type": "object", "description": "status is the current status of the scale.", "required": ["replicas"], "properties": {"replicas": {"type": "integer", "format": "int32", "default": 0, "description": "replicas is the actual number of observed instances of the scaled object."}, "selector": string("selector is the label query over pods that should match the replicas count.")}},
        },
        "x-kubernetes-group-version-kind": gvk_list("autoscaling", "v1", "Scale"),
    })
}

fn binding() -> Value {
    json!({
        "description": "Binding ties one object to another; Flotilla's scheduler binds a Task to a SwarmNode with it.",
        "type": "object",
        "required": ["target"],
        "properties": {
            "apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
            "kind": string("Kind is a string value representing the REST resource this object represents."),
            "metadata": ref_property(OBJECT_META, "Standard object's metadata."),
            "target": ref_property(OBJECT_REFERENCE, "The target object that you want to bind to the standard object."),
        },
        "x-kubernetes-group-version-kind": gvk_list("", "v1", "Binding"),
    })
}

fn object_reference() -> Value {
    json!({
        "description": "ObjectReference contains enough information to let you inspect or modify the referred object.",
        "type": "object",
        "x-kubernetes-map-type": "atomic",
        "properties": {
            "apiVersion": string("API version of the referent."),
            "kind": string("Kind of the referent."),
            "name": string("Name of the referent."),
            "namespace": string("Namespace of the referent."),
            "uid": string("UID of the referent."),
        }
    })
}

/// Every shared schema, by component name.
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (OBJECT_META, object_meta()),
        (LIST_META, list_meta()),
        (OWNER_REFERENCE, owner_reference()),
        (MANAGED_FIELDS, managed_fields_entry()),
        (
            FIELDS_V1,
            json!({"description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.", "type": "object"}),
        ),
        (
            TIME,
            json!({"description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.", "type": "string", "format": "date-time"}),
        ),
        (STATUS, status()),
        (DELETE_OPTIONS, delete_options()),
        (
            PATCH,
            json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"}),
        ),
        (SCALE, scale()),
        (BINDING, binding()),
        (OBJECT_REFERENCE, object_reference()),
    ]
}
