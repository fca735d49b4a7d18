//! `meta.k8s.io/v1` Table rendering for `kubectl get`, with columns that read like the Docker CLI
//! (`docker service ls`, `docker service ps`, `docker node ls`) and server-rendered ages (kubectl
//! prints date cells verbatim).

mod builtin;
mod duration;
mod swarm;

use crate::registry::{ResourceInfo, Strategy};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Response Content-Type of a Table.
pub const CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// What `rows[].object` holds (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    /// A `PartialObjectMetadata` (the default): kubectl reads namespace and labels from it.
    #[default]
    Metadata,
    Object,
}

/// Computes one cell from an object and the current time.
pub(crate) type Cell = Box<dyn Fn(&Value, DateTime<Utc>) -> Value>;

/// One column: its definition and how to compute a cell from an object.
pub(crate) struct Column {
    pub name: String,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: String,
    pub priority: i32,
    pub cell: Cell,
}

impl Column {
    pub fn new(
        name: &str,
        description: &str,
        cell: impl Fn(&Value, DateTime<Utc>) -> Value + 'static,
    ) -> Column {
        Column {
            name: name.into(),
            type_: "string",
            format: "",
            description: description.into(),
            priority: 0,
            cell: Box::new(cell),
        }
    }

    pub fn typed(mut self, type_: &'static str) -> Column {
        self.type_ = type_;
        self
    }

    /// Shown only with `-o wide`.
    pub fn wide(mut self) -> Column {
        self.priority = 1;
        self
    }

    fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The NAME column every resource starts with.
pub(crate) fn name_column() -> Column {
    let mut c = Column::new("Name", "Name must be unique within a namespace.", |o, _| {
        json!(str_at(o, &["metadata", "name"]).unwrap_or(""))
    });
    c.format = "name";
    c
}

/// The AGE column: time since `metadata.creationTimestamp`, Kubernetes style.
pub(crate) fn age_column() -> Column {
    Column::new(
        "Age",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
        |o, now| json!(age(o, now)),
    )
    .typed("date")
}

pub(crate) fn age(o: &Value, now: DateTime<Utc>) -> String {
    str_at(o, &["metadata", "creationTimestamp"])
        .and_then(duration::parse_time)
        .map(|t| duration::human_duration(now - t))
        .unwrap_or_else(|| "<unknown>".into())
}

/// The string at a path of object keys.
pub(crate) fn str_at<'a>(o: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(o, path)?.as_str()
}

pub(crate) fn at<'a>(o: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(o, |v, key| v.get(key))
}

/// `running` → `Running`, `RUNNING` → `Running`.
pub(crate) fn capitalize(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

impl IncludeObject {
    /// The `includeObject` query parameter: `Metadata` unless it says `None` or `Object`.
    pub fn from_query(value: Option<&str>) -> IncludeObject {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// [`render_table`] now, with `includeObject` as the request spelled it.
pub fn render_now(
    res: &ResourceInfo,
    objects: &[Value],
    include_object: Option<&str>,
    with_headers: bool,
) -> Value {
    let include = IncludeObject::from_query(include_object);
    render_table(res, objects, include, with_headers, Utc::now())
}

/// Renders `objects` (all of kind `res`) as a `meta.k8s.io/v1` Table. `with_headers` false leaves
/// out `columnDefinitions`: a watch sends them only with its first event. The caller fills
/// `metadata` (`resourceVersion`, `continue`) for lists.
pub fn render_table(
    res: &ResourceInfo,
    objects: &[Value],
    include_object: IncludeObject,
    with_headers: bool,
    now: DateTime<Utc>,
) -> Value {
    let columns = columns_for(res);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells: Vec<Value> = columns.iter().map(|c| (c.cell)(o, now)).collect();
            let mut row = json!({"cells": cells});
            match include_object {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
                    });
                }
                IncludeObject::Object => row["object"] = o.clone(),
            }
            row
        })
        .collect();
    let mut table =
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "rows": rows});
    if with_headers {
        table["columnDefinitions"] = columns.iter().map(Column::definition).collect();
    }
    table
}

fn columns_for(res: &ResourceInfo) -> Vec<Column> {
    match res.strategy() {
        Strategy::SwarmService => swarm::service_columns(),
        Strategy::Task => swarm::task_columns(),
        Strategy::SwarmNode => swarm::node_columns(),
        Strategy::SwarmNetwork => swarm::network_columns(),
        Strategy::Lease => builtin::lease_columns(),
        Strategy::CoreEvent => builtin::core_event_columns(),
        Strategy::Event => builtin::event_columns(),
        Strategy::Namespace => builtin::namespace_columns(),
        _ => builtin::generic_columns(res),
    }
}

#[cfg(test)]
mod tests;
