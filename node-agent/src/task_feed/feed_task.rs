//! A Task as the shared watch first sees it: its identity, its node and its JSON, unparsed.
//!
//! Building a whole typed Task (managedFields included) is most of what a watch costs its
//! reader. A process of simulated nodes needs the whole Task only for its own nodes' tasks, a
//! fraction of the events; the rest it reads only far enough to learn their node.

use std::borrow::Cow;

use flotilla_api::lean::Lean;
use flotilla_api::Task;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::Event;
use kube::Resource;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::Bound;

/// What the watcher needs (name, namespace, resourceVersion, uid), the bound node, and the
/// object's JSON to decode when a subscribed node wants it.
#[derive(Clone, Debug)]
pub(crate) struct FeedTask {
    metadata: ObjectMeta,
    node: String,
    json: Box<RawValue>,
}

impl FeedTask {
    /// The typed Task, without its managedFields (the agent never reads them).
    pub(crate) fn task(&self) -> serde_json::Result<Task> {
        serde_json::from_str::<Lean<Task>>(self.json.get()).map(|Lean(task)| task)
    }
}

impl Bound for FeedTask {
    fn node(&self) -> &str {
        &self.node
    }
}

/// The fields read up front; serde skips every other one without building it.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    metadata: HeadMeta,
    #[serde(default)]
    spec: HeadSpec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct HeadMeta {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
    uid: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct HeadSpec {
    node_name: Option<String>,
}

impl<'de> Deserialize<'de> for FeedTask {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = Box::<RawValue>::deserialize(d)?;
        let head: Head = serde_json::from_str(json.get()).map_err(serde::de::Error::custom)?;
        let metadata = ObjectMeta {
            name: head.metadata.name,
            namespace: head.metadata.namespace,
            resource_version: head.metadata.resource_version,
            uid: head.metadata.uid,
            ..ObjectMeta::default()
        };
        let node = head.spec.node_name.unwrap_or_default();
        Ok(FeedTask {
            metadata,
            node,
            json,
        })
    }
}

impl Resource for FeedTask {
    type DynamicType = ();
    type Scope = <Task as Resource>::Scope;

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
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The event with its Task decoded (all but managedFields, see [`FeedTask::task`]).
pub(crate) fn decode(event: Event<FeedTask>) -> serde_json::Result<Event<Task>> {
    Ok(match event {
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
        Event::InitApply(t) => Event::InitApply(t.task()?),
        Event::Apply(t) => Event::Apply(t.task()?),
        Event::Delete(t) => Event::Delete(t.task()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::WatchEvent;
    use kube::ResourceExt;

    fn stored_task() -> Task {
        let mut t: Task = serde_json::from_value(serde_json::json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": "web.3", "namespace": "prod", "resourceVersion": "42",
                "uid": "u-1", "labels": {"app": "web"},
                "managedFields": [{"manager": "flotilla-scheduler", "operation": "Update",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:nodeName": {}}}}]},
            "spec": {"serviceName": "web", "slot": 3, "nodeName": "sim-7",
                "desiredState": "Running", "template": {"containerSpec": {"image": "nginx:1"}}},
            "status": {"state": "Assigned", "message": "scheduler assigned task to node"}
        }))
        .unwrap();
        t.spec.node_name = Some("sim-7".into());
        t
    }

    /// What the feed hands a node: the Task but its managedFields, which agents never read.
    fn without_managed_fields(mut task: Task) -> Task {
        assert!(
            task.metadata.managed_fields.is_some(),
            "the stored Task has them"
        );
        task.metadata.managed_fields = None;
        task
    }

    #[test]
    fn a_watch_event_is_read_as_far_as_its_node_and_decodes_whole_later() {
        let task = stored_task();
        // As api-servers write an event: its type first (the object is then read straight off
        // the line, never buffered).
        let object = serde_json::to_string(&task).unwrap();
        let line = format!(r#"{{"type":"MODIFIED","object":{object}}}"#);
        let WatchEvent::Modified(feed) =
            serde_json::from_str::<WatchEvent<FeedTask>>(&line).unwrap()
        else {
            panic!("not a MODIFIED event")
        };
        assert_eq!(feed.node(), "sim-7");
        assert_eq!(feed.name_any(), "web.3");
        assert_eq!(feed.namespace().as_deref(), Some("prod"));
        assert_eq!(feed.resource_version().as_deref(), Some("42"));
        assert!(feed.meta().managed_fields.is_none(), "not built up front");
        let Event::Apply(whole) = decode(Event::Apply(feed)).unwrap() else {
            panic!("not an Apply")
        };
        assert_eq!(whole, without_managed_fields(task));
    }

    #[test]
    fn an_unbound_task_has_no_node_and_a_list_reads_the_same() {
        let mut task = stored_task();
        task.spec.node_name = None;
        let list = serde_json::json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "TaskList",
            "metadata": {"resourceVersion": "50"}, "items": [task]})
        .to_string();
        let list: kube::core::ObjectList<FeedTask> = serde_json::from_str(&list).unwrap();
        assert_eq!(list.items.len(), 1);
        assert_eq!(list.items[0].node(), "");
        assert_eq!(list.items[0].task().unwrap(), without_managed_fields(task));
    }
}
