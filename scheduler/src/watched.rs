//! The Task as the scheduler's watch decodes it: the whole spec and status, but of the metadata
//! only what scheduling and the watcher use. `managedFields` (one `fieldsV1` tree per writer,
//! decoded into JSON values and dropped again) was most of the cost of decoding a watched Task;
//! serde skips unknown keys without allocating. kube-scheduler does the same with an informer
//! transform that strips managedFields, but only after decoding them.

use std::borrow::Cow;

use flotilla_api::task::{TaskSpec, TaskStatus};
use flotilla_api::Task;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
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

impl Resource for WatchedTask {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Task::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        Task::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        Task::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        Task::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.0.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
