//! Which fields an object sets, as a [`FieldSet`], and list semantics per path.
//!
//! Lists are atomic (owned as a whole) unless the schema says otherwise: `x-kubernetes-list-type:
//! set` lists own each scalar member (`v:`), `map` lists own each item by its
//! `x-kubernetes-list-map-keys` (`k:`) plus the item's own fields.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fieldset::{FieldPath, FieldSet, PathElement};

/// Fields never recorded in managedFields, whoever writes them: identity and server-maintained
/// metadata (kube-apiserver's "strip meta" list plus generation and deletion fields).
pub const ALWAYS_IGNORED: &[&[&str]] = &[
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "uid"],
    &["metadata", "resourceVersion"],
    &["metadata", "generation"],
    &["metadata", "creationTimestamp"],
    &["metadata", "deletionTimestamp"],
    &["metadata", "deletionGracePeriodSeconds"],
    &["metadata", "selfLink"],
    &["metadata", "managedFields"],
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// List semantics by dotted field path (list items are transparent: the items of
/// `spec.endpoint.ports` have fields `spec.endpoint.ports.port`, ...). Unlisted lists are atomic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSchema {
    lists: BTreeMap<String, ListType>,
}

impl Default for FieldSchema {
    /// ObjectMeta's lists: finalizers is a set, ownerReferences a map keyed by uid.
    fn default() -> Self {
        FieldSchema::atomic_only()
            .with_list("metadata.finalizers", ListType::Set)
            .with_list(
                "metadata.ownerReferences",
                ListType::Map(vec!["uid".into()]),
            )
    }
}

impl FieldSchema {
    /// Every list atomic, metadata included.
    pub fn atomic_only() -> Self {
        FieldSchema {
            lists: BTreeMap::new(),
        }
    }

    pub fn with_list(mut self, path: &str, list_type: ListType) -> Self {
        self.lists.insert(path.to_string(), list_type);
        self
    }

    /// The defaults plus every `x-kubernetes-list-type` found in a CRD `openAPIV3Schema`.
    pub fn from_openapi(schema: &Value) -> Self {
        let mut out = FieldSchema::default();
        collect_list_types(schema, "", &mut out.lists);
        out
    }

    pub fn list_type(&self, path: &str) -> &ListType {
        self.lists.get(path).unwrap_or(&ListType::Atomic)
    }
}

fn collect_list_types(schema: &Value, path: &str, out: &mut BTreeMap<String, ListType>) {
    let ext = |name: &str| schema.get(name);
    let list_type = match ext("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => Some(ListType::Set),
        Some("atomic") => Some(ListType::Atomic),
        Some("map") => {
            let keys = ext("x-kubernetes-list-map-keys").and_then(Value::as_array);
            let keys: Vec<String> = keys
                .into_iter()
                .flatten()
                .filter_map(|k| Some(k.as_str()?.to_string()))
                .collect();
            (!keys.is_empty()).then_some(ListType::Map(keys))
        }
        _ => None,
    };
    if let Some(list_type) = list_type {
        out.insert(path.to_string(), list_type);
    }
    if let Some(items) = ext("items") {
        collect_list_types(items, path, out);
    }
    for branch in ["allOf", "anyOf", "oneOf"] {
        for sub in ext(branch).and_then(Value::as_array).into_iter().flatten() {
            collect_list_types(sub, path, out);
        }
    }
    for (name, sub) in ext("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        collect_list_types(sub, &join(path, name), out);
    }
}

pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The fields `value` sets, with default list semantics; see [`fields_of_with`].
#[cfg(test)]
pub fn fields_of(value: &Value) -> FieldSet {
    fields_of_with(value, &FieldSchema::default())
}

/// The fields `value` sets: every scalar, atomic list and empty object is a leaf; list-map
/// items are owned themselves and through their fields. [`ALWAYS_IGNORED`] fields are left out.
#[cfg(test)]
pub fn fields_of_with(value: &Value, schema: &FieldSchema) -> FieldSet {
    fields_of_members(value, schema, |_| true)
}

/// [`fields_of_with`] of only what a write through `subresource` is accountable for: `status`
/// for the status subresource, everything else otherwise (the other part is not walked).
pub fn tracked_fields_of(
    value: &Value,
    schema: &FieldSchema,
    subresource: Option<&str>,
) -> FieldSet {
    let status = subresource == Some("status");
    fields_of_members(value, schema, |name| (name == "status") == status)
}

fn fields_of_members(value: &Value, schema: &FieldSchema, keep: impl Fn(&str) -> bool) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(map) = value {
        let members = map.iter().filter(|(name, _)| keep(name));
        walk_members(
            members,
            &mut Vec::new(),
            &mut String::new(),
            schema,
            &mut out,
        );
    }
    out
}

fn is_always_ignored(path: &FieldPath) -> bool {
    ALWAYS_IGNORED.iter().any(|ignored| {
        ignored.len() <= path.len()
            && ignored
                .iter()
                .zip(path)
                .all(|(name, element)| matches!(element, PathElement::Field(f) if f == name))
    })
}

/// Walks object members; `schema_path` is the dotted path of list semantics (list items are
/// transparent), extended and restored per member rather than built anew.
fn walk_members<'a>(
    members: impl Iterator<Item = (&'a String, &'a Value)>,
    path: &mut FieldPath,
    schema_path: &mut String,
    schema: &FieldSchema,
    out: &mut FieldSet,
) {
    for (name, value) in members {
        path.push(PathElement::Field(name.clone()));
        // Ignored fields are all object members within two levels: skip them whole (the
        // managedFields themselves included) instead of walking and filtering them out.
        if path.len() <= 2 && is_always_ignored(path) {
            path.pop();
            continue;
        }
        let parent = schema_path.len();
        if parent > 0 {
            schema_path.push('.');
        }
        schema_path.push_str(name);
        match value {
            Value::Object(child) if !child.is_empty() => {
                walk_members(child.iter(), path, schema_path, schema, out)
            }
            Value::Array(items) => walk_list(items, path, schema_path, schema, out),
            _ => out.insert(path.clone()),
        }
        schema_path.truncate(parent);
        path.pop();
    }
}

fn walk_list(
    items: &[Value],
    path: &mut FieldPath,
    schema_path: &mut String,
    schema: &FieldSchema,
    out: &mut FieldSet,
) {
    let elements = list_elements(items, schema.list_type(schema_path));
    // An empty set or map list owns nothing, as in structured-merge-diff.
    match elements {
        Some(elements) => {
            for (element, item) in elements.into_iter().zip(items) {
                path.push(element);
                out.insert(path.clone());
                if let (PathElement::Key(_), Value::Object(fields)) = (&path[path.len() - 1], item)
                {
                    walk_members(fields.iter(), path, schema_path, schema, out);
                }
                path.pop();
            }
        }
        // Atomic, or not well-formed for its list type: owned as a whole.
        _ => out.insert(path.clone()),
    }
}

/// The `k:`/`v:` element of every item, or `None` when the list is atomic or an item does not fit
/// (a non-scalar in a set, an item without key fields, a duplicate).
pub(crate) fn list_elements(items: &[Value], list_type: &ListType) -> Option<Vec<PathElement>> {
    let elements: Vec<PathElement> = match list_type {
        ListType::Atomic => return None,
        ListType::Set => items
            .iter()
            .map(|i| (!i.is_object() && !i.is_array()).then(|| PathElement::value_of(i)))
            .collect::<Option<_>>()?,
        ListType::Map(keys) => items
            .iter()
            .map(|i| PathElement::key_of(i, keys))
            .collect::<Option<_>>()?,
    };
    let unique: std::collections::BTreeSet<&PathElement> = elements.iter().collect();
    (unique.len() == elements.len()).then_some(elements)
}

/// The value at `path`, if present.
pub fn value_at<'a>(value: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |node, element| match (element, node) {
            (PathElement::Field(name), Value::Object(map)) => map.get(name),
            (PathElement::Index(i), Value::Array(items)) => items.get(*i),
            (_, Value::Array(items)) => items.iter().find(|item| element.selects(item)),
            _ => None,
        })
}

fn value_at_mut<'a>(value: &'a mut Value, path: &[PathElement]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(value, |node, element| match (element, node) {
            (PathElement::Field(name), Value::Object(map)) => map.get_mut(name),
            (PathElement::Index(i), Value::Array(items)) => items.get_mut(*i),
            (_, Value::Array(items)) => items.iter_mut().find(|item| element.selects(item)),
            _ => None,
        })
}

/// Removes the field or list item at `path`; a missing path is not an error.
pub fn remove_at(value: &mut Value, path: &[PathElement]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match (last, value_at_mut(value, parent)) {
        (PathElement::Field(name), Some(Value::Object(map))) => {
            map.remove(name);
        }
        (PathElement::Index(i), Some(Value::Array(items))) if *i < items.len() => {
            items.remove(*i);
        }
        (PathElement::Key(_) | PathElement::Value(_), Some(Value::Array(items))) => {
            items.retain(|item| !last.selects(item));
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
