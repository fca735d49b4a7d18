//! Field sets in Kubernetes' `FieldsV1` encoding (structured-merge-diff): which fields a
//! manager owns. A set is a set of paths; a path is a list of elements (`f:` field, `k:` list
//! item by key, `v:` set member, `i:` list index).

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FieldSetError {
    #[error("fieldsV1 must be an object at {0:?}")]
    NotAnObject(String),
    #[error("fieldsV1 has an invalid key {0:?} (expected f:, k:, v: or i: followed by a value)")]
    InvalidKey(String),
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// An object member: `f:name`.
    Field(String),
    /// A list-map item: canonical JSON of its key fields, keys sorted: `{"name":"x"}`.
    Key(String),
    /// A set member: canonical JSON of the value, e.g. `"x"` or `80`.
    Value(String),
    /// A list item by position (only read from stored managedFields).
    Index(usize),
}

/// A field path such as `.spec.ports[port=80]`.
pub type FieldPath = Vec<PathElement>;

impl PathElement {
    #[cfg(test)]
    pub fn field(name: &str) -> Self {
        PathElement::Field(name.to_string())
    }

    /// The `k:` element of a list-map item: its present key fields. `None` when the item is not
    /// an object or has none of the key fields.
    pub fn key_of(item: &Value, keys: &[String]) -> Option<Self> {
        let obj = item.as_object()?;
        let mut sorted: Vec<&String> = keys.iter().filter(|k| obj.contains_key(*k)).collect();
        sorted.sort();
        sorted.dedup();
        if sorted.is_empty() {
            return None;
        }
        let key: Map<String, Value> = sorted
            .into_iter()
            .map(|k| (k.clone(), obj[k].clone()))
            .collect();
        Some(PathElement::Key(canonical(&Value::Object(key))))
    }

    /// The `v:` element of a set member.
    pub fn value_of(item: &Value) -> Self {
        PathElement::Value(canonical(item))
    }

    /// The FieldsV1 key: `f:replicas`, `k:{"name":"x"}`, `v:"x"`, `i:0`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_into(&mut out);
        out
    }

    /// [`PathElement::encode`], appended to `out`.
    pub fn encode_into(&self, out: &mut String) {
        let (prefix, text) = match self {
            PathElement::Field(name) => ("f:", name.as_str()),
            PathElement::Key(json) => ("k:", json.as_str()),
            PathElement::Value(json) => ("v:", json.as_str()),
            PathElement::Index(i) => {
                use std::fmt::Write;
                let _ = write!(out, "i:{i}");
                return;
            }
        };
        out.push_str(prefix);
        out.push_str(text);
    }

    pub fn decode(key: &str) -> Result<Self, FieldSetError> {
        let invalid = || FieldSetError::InvalidKey(key.to_string());
        let (kind, rest) = key.split_at_checked(2).ok_or_else(invalid)?;
        let json = || serde_json::from_str::<Value>(rest).map_err(|_| invalid());
        match kind {
            "f:" => Ok(PathElement::Field(rest.to_string())),
            "k:" => match json()? {
                key @ Value::Object(_) => Ok(PathElement::Key(canonical(&key))),
                _ => Err(invalid()),
            },
            "v:" => Ok(PathElement::Value(canonical(&json()?))),
            "i:" => rest.parse().map(PathElement::Index).map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }

    /// Whether list item `item` is the one this element designates.
    pub fn selects(&self, item: &Value) -> bool {
        match self {
            PathElement::Key(json) => match serde_json::from_str::<Value>(json) {
                Ok(Value::Object(key)) => key.iter().all(|(k, v)| item.get(k) == Some(v)),
                _ => false,
            },
            PathElement::Value(json) => canonical(item) == *json,
            PathElement::Field(_) | PathElement::Index(_) => false,
        }
    }
}

/// Kubernetes' path rendering used in conflicts: `.spec.ports[port=80,protocol="TCP"]`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter()
        .map(|element| match element {
            PathElement::Field(name) => format!(".{name}"),
            PathElement::Key(json) => {
                let key: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
                let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
            PathElement::Value(json) => format!("[={json}]"),
            PathElement::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// JSON text with object keys sorted, so equal values give equal element strings.
pub(crate) fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let members: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        scalar => scalar.to_string(),
    }
}

/// A set of owned field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet(BTreeSet<FieldPath>);

impl FieldSet {
    pub fn new() -> Self {
        FieldSet::default()
    }

    pub fn insert(&mut self, path: FieldPath) {
        self.0.insert(path);
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.0.contains(path)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldPath> {
        self.0.iter()
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.union(&other.0).cloned().collect())
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// Whether some path in the set is `prefix` or lies below it.
    pub fn has_at_or_below(&self, prefix: &[PathElement]) -> bool {
        self.0.iter().any(|p| p.starts_with(prefix))
    }

    /// Keeps only the paths for which `keep` is true, in place.
    pub fn retain(&mut self, keep: impl Fn(&FieldPath) -> bool) {
        self.0.retain(|p| keep(p));
    }

    /// Adds every path of `other`.
    pub fn extend(&mut self, other: FieldSet) {
        self.0.extend(other.0);
    }

    /// Keeps only the paths for which `keep` is true.
    pub fn filtered(&self, keep: impl Fn(&FieldPath) -> bool) -> FieldSet {
        FieldSet(self.0.iter().filter(|p| keep(p)).cloned().collect())
    }

    /// The FieldsV1 JSON, e.g. `{"f:spec":{"f:replicas":{}}}`; `"."` marks an owned item
    /// that also has owned children.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        let mut key = String::new();
        for path in &self.0 {
            let mut node = &mut root;
            for element in path {
                // Paths share prefixes: encode into one buffer, allocate only new keys.
                key.clear();
                element.encode_into(&mut key);
                if !node.contains_key(&key) {
                    node.insert(key.clone(), Value::Object(Map::new()));
                }
                node = node
                    .get_mut(&key)
                    .and_then(Value::as_object_mut)
                    .expect("field set nodes are objects");
            }
            node.insert(".".to_string(), Value::Object(Map::new()));
        }
        strip_lone_dots(&mut root);
        Value::Object(root)
    }

    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldSetError> {
        let mut set = FieldSet::new();
        decode_node(value, &mut Vec::new(), &mut set)?;
        Ok(set)
    }
}

impl FromIterator<FieldPath> for FieldSet {
    fn from_iter<I: IntoIterator<Item = FieldPath>>(iter: I) -> Self {
        FieldSet(iter.into_iter().collect())
    }
}

/// A leaf is written `{}`, not `{".":{}}`.
fn strip_lone_dots(node: &mut Map<String, Value>) {
    for child in node.values_mut() {
        if let Value::Object(child) = child {
            if child.len() == 1 && child.contains_key(".") {
                child.clear();
            } else {
                strip_lone_dots(child);
            }
        }
    }
}

fn decode_node(
    node: &Value,
    path: &mut FieldPath,
    out: &mut FieldSet,
) -> Result<(), FieldSetError> {
    let obj = node
        .as_object()
        .ok_or_else(|| FieldSetError::NotAnObject(path_string(path)))?;
    if obj.is_empty() && !path.is_empty() {
        out.insert(path.clone());
    }
    for (key, child) in obj {
        if key == "." {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            continue;
        }
        path.push(PathElement::decode(key)?);
        decode_node(child, path, out)?;
        path.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_kubernetes_fields_v1() {
        let v1 = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}},
                "f:tags": {"v:\"a\"": {}, "i:0": {}}
            }
        });
        let set = FieldSet::from_fields_v1(&v1).unwrap();
        assert_eq!(set.iter().count(), 7);
        assert!(set.contains(&[PathElement::field("spec"), PathElement::field("replicas")]));
        assert_eq!(set.to_fields_v1(), v1);
        let rendered: Vec<String> = set.iter().map(|p| path_string(p)).collect();
        assert!(rendered.contains(&".spec.ports[port=80,protocol=\"TCP\"].port".to_string()));
        assert!(rendered.contains(&".spec.tags[=\"a\"]".to_string()));
    }

    #[test]
    fn key_elements_are_canonical_and_select_items() {
        let item = json!({"protocol": "TCP", "port": 80, "name": "http"});
        let keys = ["protocol".to_string(), "port".to_string()];
        let key = PathElement::key_of(&item, &keys).unwrap();
        assert_eq!(key.encode(), r#"k:{"port":80,"protocol":"TCP"}"#);
        assert_eq!(
            PathElement::decode(r#"k:{"protocol":"TCP", "port":80}"#).unwrap(),
            key
        );
        assert!(key.selects(&item));
        assert!(!key.selects(&json!({"port": 81, "protocol": "TCP"})));
        assert!(PathElement::key_of(&json!({"other": 1}), &keys).is_none());
    }

    #[test]
    fn invalid_fields_v1_is_reported() {
        let err = FieldSet::from_fields_v1(&json!({"f:spec": {"x:y": {}}})).unwrap_err();
        assert_eq!(err, FieldSetError::InvalidKey("x:y".into()));
        let err = FieldSet::from_fields_v1(&json!({"f:spec": 1})).unwrap_err();
        assert_eq!(err, FieldSetError::NotAnObject(".spec".into()));
    }
}
