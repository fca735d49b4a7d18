//! Unknown-field detection and pruning against a CRD `openAPIV3Schema`, for `fieldValidation`:
//! `Strict` rejects unknown fields (400), `Warn` reports them in `Warning` headers, `Ignore`
//! prunes them silently like a structural CRD does.
//!
//! Rules: `properties` declare fields; `additionalProperties` (a schema or `true`) and
//! `x-kubernetes-preserve-unknown-fields: true` allow others; a schema with no `type`, no
//! `properties` and no `additionalProperties` says nothing and allows anything. `allOf`/`anyOf`/
//! `oneOf` branches count conservatively: a field is known if the schema or any branch declares
//! it. At the root (and in `x-kubernetes-embedded-resource` objects) `apiVersion` and `kind` are
//! always allowed and `metadata` is checked against ObjectMeta's field names.

use serde_json::{Map, Value};

/// ObjectMeta fields accepted in `metadata`.
pub const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Removes the fields `obj` has but `schema` does not allow and returns their paths, like
/// `spec.foo` or `spec.endpoint.ports[0].bogus`, in document order.
pub fn prune_unknown(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut out = Vec::new();
    prune_value(schema, obj, &mut String::new(), true, &mut out);
    out
}

/// The properties, additionalProperties, items and preserve flag of a schema and its
/// `allOf`/`anyOf`/`oneOf` branches taken together.
struct View<'a> {
    properties: Vec<&'a Map<String, Value>>,
    additional: Option<&'a Value>,
    items: Option<&'a Value>,
    preserve: bool,
    embedded: bool,
    says_something: bool,
}

impl<'a> View<'a> {
    fn of(schema: &'a Value) -> Self {
        let mut view = View {
            properties: Vec::new(),
            additional: None,
            items: None,
            preserve: false,
            embedded: false,
            says_something: false,
        };
        view.add(schema);
        view
    }

    fn add(&mut self, schema: &'a Value) {
        let flag = |name: &str| schema.get(name).and_then(Value::as_bool) == Some(true);
        self.preserve |= flag("x-kubernetes-preserve-unknown-fields");
        self.embedded |= flag("x-kubernetes-embedded-resource");
        self.says_something |= ["type", "properties", "additionalProperties"]
            .iter()
            .any(|k| schema.get(*k).is_some());
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            self.properties.push(props);
        }
        self.additional = self.additional.or(schema.get("additionalProperties"));
        self.items = self.items.or(schema.get("items"));
        for branch in ["allOf", "anyOf", "oneOf"] {
            for sub in schema
                .get(branch)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.add(sub);
            }
        }
    }

    fn property(&self, name: &str) -> Option<&'a Value> {
        self.properties.iter().find_map(|props| props.get(name))
    }
}

/// Appends `.name` (or `name` at the root) to `path`; the caller truncates back. One buffer
/// serves the whole walk: a path is only copied out for a field that is reported.
fn push_name(path: &mut String, name: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
}

fn prune_value(
    schema: &Value,
    value: &mut Value,
    path: &mut String,
    resource: bool,
    out: &mut Vec<String>,
) {
    let view = View::of(schema);
    let resource = resource || view.embedded;
    match value {
        Value::Object(map) => prune_object(&view, map, path, resource, out),
        Value::Array(items) => {
            let Some(item_schema) = view.items else {
                return;
            };
            let len = path.len();
            for (i, item) in items.iter_mut().enumerate() {
                use std::fmt::Write;
                let _ = write!(path, "[{i}]");
                prune_value(item_schema, item, path, false, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn prune_object(
    view: &View,
    map: &mut Map<String, Value>,
    path: &mut String,
    resource: bool,
    out: &mut Vec<String>,
) {
    let mut unknown = Vec::new();
    let len = path.len();
    for (name, child) in map.iter_mut() {
        if resource && (name == "apiVersion" || name == "kind") {
            continue;
        }
        push_name(path, name);
        if resource && name == "metadata" {
            prune_metadata(child, path, out);
        } else if let Some(sub) = view.property(name) {
            prune_value(sub, child, path, false, out);
        } else {
            match view.additional {
                Some(Value::Bool(true)) => {}
                Some(sub @ Value::Object(_)) => prune_value(sub, child, path, false, out),
                _ if view.preserve || !view.says_something => {}
                _ => unknown.push((name.clone(), path.clone())),
            }
        }
        path.truncate(len);
    }
    for (name, field) in unknown {
        map.remove(&name);
        out.push(field);
    }
}

fn prune_metadata(meta: &mut Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(map) = meta else {
        return;
    };
    let unknown: Vec<String> = map
        .keys()
        .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    for name in unknown {
        map.remove(&name);
        out.push(format!("{path}.{name}"));
    }
}

#[cfg(test)]
#[path = "schema_check_tests.rs"]
mod tests;
