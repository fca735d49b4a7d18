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

/// Paths of fields `obj` has but `schema` does not allow, like `spec.foo` or
/// `spec.endpoint.ports[0].bogus`, in document order.
pub fn unknown_fields(schema: &Value, obj: &Value) -> Vec<String> {
    prune_unknown(schema, &mut obj.clone())
}

/// Removes the fields [`unknown_fields`] would report and returns their paths.
pub fn prune_unknown(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut out = Vec::new();
    prune_value(schema, obj, &mut String::new(), true, &mut out);
    out
}

/// kube-apiserver's 400 message for `fieldValidation=Strict`, e.g. `SwarmService in version
/// "v1alpha1" cannot be handled as a SwarmService: strict decoding error: unknown field "spec.foo"`.
pub fn strict_error_message(kind: &str, version: &str, unknown: &[String]) -> String {
    let problems: Vec<String> = unknown.iter().map(|f| unknown_field_text(f)).collect();
    strict_decoding_message(kind, version, &problems)
}

/// The same message for any mix of problems, e.g. texts from [`unknown_field_text`] and
/// [`duplicate_field_text`], joined with ", " as kube-apiserver does.
pub fn strict_decoding_message(kind: &str, version: &str, problems: &[String]) -> String {
    format!(
        "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
        problems.join(", ")
    )
}

/// `duplicate field "spec.replicas"`.
pub fn duplicate_field_text(field: &str) -> String {
    format!("duplicate field {field:?}")
}

/// `unknown field "spec.foo"`: the text of one warning (kubectl prints `Warning: <text>`).
pub fn unknown_field_text(field: &str) -> String {
    format!("unknown field {field:?}")
}

/// A `Warning` header value for `text`: `299 - "unknown field \"spec.foo\""`.
pub fn warning_header_value(text: &str) -> String {
    format!("299 - {text:?}")
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
