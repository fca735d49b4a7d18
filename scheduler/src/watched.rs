//! The Task as the scheduler's watch decodes it: the whole spec and status, but of the metadata
//! only what scheduling and the watcher use. `managedFields` (one `fieldsV1` tree per writer,
//! decoded into JSON values and dropped again) was most of the cost of decoding a watched Task;
//! serde skips unknown keys without allocating. kube-scheduler does the same with an informer
//! transform that strips managedFields, but only after decoding them.

use flotilla_api::task::{TaskSpec, TaskStatus};
use flotilla_api::Task;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Deserializer};

/// A watched Task without managedFields (or any metadata scheduling does not read).
#[derive(Clone, Debug)]
pub struct WatchedTask(pub Task);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    deletion_timestamp: Option<Time>,
}

#[derive(Deserialize)]
struct Wire {
    metadata: Meta,
    spec: TaskSpec,
    status: Option<TaskStatus>,
}

impl<'de> Deserialize<'de> for WatchedTask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Wire {
            metadata: m,
            spec,
            status,
        } = Wire::deserialize(deserializer)?;
        let mut task = Task::new(m.name.as_deref().unwrap_or_default(), spec);
        task.metadata = ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            resource_version: m.resource_version,
            deletion_timestamp: m.deletion_timestamp,
            ..ObjectMeta::default()
        };
        task.status = status;
        Ok(WatchedTask(task))
    }
}

crate::task_resource!(WatchedTask, task => task.0.metadata);

/// `kube::Resource` for a partial decode of a Task (it names the Task resource), whose
/// metadata is at the given place: `task_resource!(MyTask, t => t.meta)`.
#[macro_export]
macro_rules! task_resource {
    ($ty:ty, $it:ident => $meta:expr) => {
        impl ::kube::Resource for $ty {
            type DynamicType = ();
            type Scope = ::k8s_openapi::NamespaceResourceScope;

            fn kind(dt: &()) -> ::std::borrow::Cow<'_, str> {
                <::flotilla_api::Task as ::kube::Resource>::kind(dt)
            }
            fn group(dt: &()) -> ::std::borrow::Cow<'_, str> {
                <::flotilla_api::Task as ::kube::Resource>::group(dt)
            }
            fn version(dt: &()) -> ::std::borrow::Cow<'_, str> {
                <::flotilla_api::Task as ::kube::Resource>::version(dt)
            }
            fn plural(dt: &()) -> ::std::borrow::Cow<'_, str> {
                <::flotilla_api::Task as ::kube::Resource>::plural(dt)
            }
            fn meta(&self) -> &::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                let $it = self;
                &$meta
            }
            fn meta_mut(
                &mut self,
            ) -> &mut ::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                let $it = self;
                &mut $meta
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;
    use serde_json::json;

    #[test]
    fn decodes_what_scheduling_reads_and_skips_managed_fields() {
        let wire = json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "Task",
            "metadata": {
                "name": "web.1.abc", "namespace": "prod", "uid": "u-1", "resourceVersion": "4001",
                "labels": {"a": "b"},
                "managedFields": [{"manager": "m", "operation": "Update",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:slot": {}}}}],
            },
            "spec": {"serviceName": "web", "slot": 1, "nodeName": "n1", "desiredState": "Running",
                "template": {"containerSpec": {"image": "busybox"}}},
            "status": {"state": "Assigned"},
        });
        let WatchedTask(task) = serde_json::from_value(wire.clone()).unwrap();
        let full: Task = serde_json::from_value(wire).unwrap();
        assert_eq!(task.spec, full.spec);
        assert_eq!(task.status, full.status);
        let meta = &task.metadata;
        assert_eq!(meta.name.as_deref(), Some("web.1.abc"));
        assert_eq!(meta.namespace.as_deref(), Some("prod"));
        assert_eq!(meta.uid.as_deref(), Some("u-1"));
        assert_eq!(meta.resource_version.as_deref(), Some("4001"));
        assert_eq!(meta.managed_fields, None);
        assert_eq!(meta.labels, None);
    }

    #[test]
    fn is_the_task_resource() {
        assert_eq!(WatchedTask::plural(&()), "tasks");
        assert_eq!(WatchedTask::api_version(&()), Task::api_version(&()));
    }
}
