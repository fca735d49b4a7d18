//! Objects decoded without `metadata.managedFields`, for watchers that never read them.
//!
//! A watched object's managedFields hold one `fieldsV1` tree per writer; building them as JSON
//! values and dropping them again was a quarter of what the controller-manager spent decoding
//! watched Tasks at 10,000 replicas (docs/benchmark.md). serde skips an unknown key without
//! building it, so a wire form whose metadata has every ObjectMeta field but managedFields
//! costs only the scan. Kubernetes' own controllers strip managedFields with an informer
//! transform, after decoding them.

use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// `K` as decoded without its managedFields (`None` after decoding); a `kube::Resource` that
/// names `K`'s resource, so `Api<Lean<K>>` lists and watches `K`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lean<K>(pub K);

/// A kind that can be decoded without managedFields: its wire form and how it becomes `Self`.
pub trait Slim: Sized {
    type Wire: DeserializeOwned;
    fn from_wire(wire: Self::Wire) -> Self;
}

impl<'de, K: Slim> Deserialize<'de> for Lean<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        K::Wire::deserialize(deserializer).map(|w| Lean(K::from_wire(w)))
    }
}

impl<K: kube::Resource> kube::Resource for Lean<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &K::DynamicType) -> std::borrow::Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &K::DynamicType) -> std::borrow::Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &K::DynamicType) -> std::borrow::Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &K::DynamicType) -> std::borrow::Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        self.0.meta()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.meta_mut()
    }
}

/// ObjectMeta's fields but managedFields, which serde skips.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeanMeta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl From<LeanMeta> for ObjectMeta {
    fn from(m: LeanMeta) -> ObjectMeta {
        ObjectMeta {
            annotations: m.annotations,
            creation_timestamp: m.creation_timestamp,
            deletion_grace_period_seconds: m.deletion_grace_period_seconds,
            deletion_timestamp: m.deletion_timestamp,
            finalizers: m.finalizers,
            generate_name: m.generate_name,
            generation: m.generation,
            labels: m.labels,
            managed_fields: None,
            name: m.name,
            namespace: m.namespace,
            owner_references: m.owner_references,
            resource_version: m.resource_version,
            self_link: m.self_link,
            uid: m.uid,
        }
    }
}

/// The wire form of a custom resource with a spec and an optional status.
#[derive(Deserialize)]
pub struct CustomWire<S, T> {
    metadata: LeanMeta,
    spec: S,
    status: Option<T>,
}

/// [`Slim`] for a custom resource `$kind` (kube's derive: `new(name, spec)`, `status`).
macro_rules! slim_custom {
    ($kind:ty, $spec:ty, $status:ty) => {
        impl Slim for $kind {
            type Wire = CustomWire<$spec, $status>;
            fn from_wire(w: Self::Wire) -> Self {
                let mut obj = <$kind>::new("", w.spec);
                obj.metadata = w.metadata.into();
                obj.status = w.status;
                obj
            }
        }
    };
}

slim_custom!(crate::Task, crate::task::TaskSpec, crate::task::TaskStatus);
slim_custom!(
    crate::SwarmService,
    crate::service::SwarmServiceSpec,
    crate::service::SwarmServiceStatus
);
slim_custom!(
    crate::SwarmNode,
    crate::node::SwarmNodeSpec,
    crate::node::SwarmNodeStatus
);
slim_custom!(
    crate::SwarmNetwork,
    crate::network::SwarmNetworkSpec,
    crate::network::SwarmNetworkStatus
);

#[derive(Deserialize)]
pub struct LeaseWire {
    metadata: LeanMeta,
    spec: Option<LeaseSpec>,
}

impl Slim for Lease {
    type Wire = LeaseWire;
    fn from_wire(w: LeaseWire) -> Lease {
        Lease {
            metadata: w.metadata.into(),
            spec: w.spec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Task;
    use serde_json::json;

    /// Every metadata field set, so that one left out of [`LeanMeta`] shows.
    fn metadata() -> serde_json::Value {
        json!({
            "annotations": {"a": "1"},
            "creationTimestamp": "2026-12-07T10:00:00Z",
            "deletionGracePeriodSeconds": 30,
            "deletionTimestamp": "2026-12-07T10:01:00Z",
            "finalizers": ["f"],
            "generateName": "web.1.",
            "generation": 3,
            "labels": {"l": "2"},
            "managedFields": [{"manager": "flotilla-node-agent", "operation": "Update",
                "apiVersion": "flotilla.dev/v1alpha1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:state": {}}}, "subresource": "status"}],
            "name": "web.1.abc",
            "namespace": "default",
            "ownerReferences": [{"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
                "name": "web", "uid": "u-svc", "controller": true}],
            "resourceVersion": "42",
            "selfLink": "/x",
            "uid": "u-task"
        })
    }

    #[test]
    fn a_lean_task_is_the_task_without_its_managed_fields() {
        let wire = json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "Task",
            "metadata": metadata(),
            "spec": {"serviceName": "web", "slot": 1, "nodeName": "n1", "desiredState": "Running",
                "template": {"containerSpec": {"image": "nginx"}}},
            "status": {"state": "Running", "message": "started"}
        });
        let mut whole: Task = serde_json::from_value(wire.clone()).unwrap();
        let Lean(lean) = serde_json::from_value::<Lean<Task>>(wire).unwrap();
        assert!(whole.metadata.managed_fields.is_some());
        whole.metadata.managed_fields = None;
        assert_eq!(lean, whole);
    }

    #[test]
    fn a_lean_lease_is_the_lease_without_its_managed_fields() {
        let wire = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": metadata(),
            "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 15,
                "renewTime": "2026-12-07T10:00:05.000000Z"}
        });
        let mut whole: Lease = serde_json::from_value(wire.clone()).unwrap();
        let Lean(lean) = serde_json::from_value::<Lean<Lease>>(wire).unwrap();
        whole.metadata.managed_fields = None;
        assert_eq!(lean, whole);
    }

    #[test]
    fn a_task_without_a_spec_is_refused_as_the_whole_decode_refuses_it() {
        let wire = json!({"metadata": {"name": "t"}});
        assert!(serde_json::from_value::<Task>(wire.clone()).is_err());
        assert!(serde_json::from_value::<Lean<Task>>(wire).is_err());
    }
}
