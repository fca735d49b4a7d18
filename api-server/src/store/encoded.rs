//! An object encoded once per write. etcd stores it without `metadata.resourceVersion` (the
//! revision is the version); the write's answer and its watch line need the same JSON with that
//! field. Recording where the field goes lets both be made by splicing the revision into the
//! stored bytes (a copy) instead of serializing the object twice more.

use std::ops::Range;

use bytes::Bytes;
use serde_json::{Map, Value};

/// The storage bytes of an object and where its resourceVersion belongs.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Shared with the store's write (no copy).
    bytes: Bytes,
    /// Offset just inside `metadata`'s `{`, and whether other metadata fields follow it; `None`
    /// when the object has no metadata object to put it in.
    rv_at: Option<(usize, bool)>,
}

impl Encoded {
    /// Encodes `obj` as stored: compact JSON, `metadata.resourceVersion` left out. An object
    /// without metadata gets an empty one, as [`crate::store::metadata::from_storage`] would add anyway.
    pub fn of(obj: &Value) -> Encoded {
        match obj {
            Value::Object(map) if map.get("metadata").is_some_and(Value::is_object) => {
                encode_object(map)
            }
            Value::Object(_) => {
                let mut obj = obj.clone();
                crate::store::metadata::meta_mut(&mut obj);
                Encoded::of(&obj)
            }
            other => Encoded {
                bytes: serde_json::to_vec(other)
                    .expect("JSON values always serialize")
                    .into(),
                rv_at: None,
            },
        }
    }

    /// What etcd stores.
    pub fn storage(&self) -> &Bytes {
        &self.bytes
    }

    /// The object's API JSON with `metadata.resourceVersion` = `rv` (its first field); without a
    /// place for it, the bytes as stored.
    #[cfg(test)]
    pub fn with_rv(&self, rv: &str) -> Bytes {
        let Some((at, more)) = self.rv_at else {
            return self.bytes.clone();
        };
        let mut out = Vec::with_capacity(self.bytes.len() + 40);
        self.write_with_rv(&mut out, at, more, rv);
        Bytes::from(out)
    }

    /// The watch line `{"type":<kind>,"object":<the API JSON>}\n` and where in it the object's
    /// JSON is: the line and the write's answer share one buffer.
    pub fn line_with_rv(&self, kind: &str, rv: &str) -> (Bytes, Range<usize>) {
        let (head, tail) = crate::store::decoded::line_parts(kind);
        let mut out = Vec::with_capacity(head.len() + self.bytes.len() + 40 + tail.len());
        out.extend_from_slice(head.as_bytes());
        let start = out.len();
        match self.rv_at {
            Some((at, more)) => self.write_with_rv(&mut out, at, more, rv),
            None => out.extend_from_slice(&self.bytes),
        }
        let end = out.len();
        out.extend_from_slice(tail);
        (Bytes::from(out), start..end)
    }

    fn write_with_rv(&self, out: &mut Vec<u8>, at: usize, more: bool, rv: &str) {
        out.extend_from_slice(&self.bytes[..at]);
        out.extend_from_slice(b"\"resourceVersion\":");
        write(out, rv);
        if more {
            out.push(b',');
        }
        out.extend_from_slice(&self.bytes[at..]);
    }
}

/// The top level and `metadata` written by hand (to note the offset), every value below them by
/// serde_json: the same compact JSON `serde_json::to_vec` writes.
fn encode_object(map: &Map<String, Value>) -> Encoded {
    let mut out = Vec::with_capacity(2048);
    let mut rv_at = None;
    out.push(b'{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(&mut out, key);
        out.push(b':');
        match value {
            Value::Object(meta) if key == "metadata" => {
                out.push(b'{');
                let at = out.len();
                let mut first = true;
                for (k, v) in meta.iter().filter(|(k, _)| *k != "resourceVersion") {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write(&mut out, k);
                    out.push(b':');
                    write(&mut out, v);
                }
                out.push(b'}');
                rv_at = Some((at, !first));
            }
            _ => write(&mut out, value),
        }
    }
    out.push(b'}');
    Encoded {
        bytes: out.into(),
        rv_at,
    }
}

/// Whether two objects store as the same bytes ([`Encoded::storage`]: equal but for
/// `metadata.resourceVersion`), without serializing either.
pub fn same_in_storage(a: &Value, b: &Value) -> bool {
    fn without_rv(m: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
        m.iter().filter(|(k, _)| *k != "resourceVersion")
    }
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return a == b;
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|((ka, va), (kb, vb))| {
            ka == kb
                && match (va, vb) {
                    (Value::Object(ma), Value::Object(mb)) if ka == "metadata" => {
                        without_rv(ma).eq(without_rv(mb))
                    }
                    _ => va == vb,
                }
        })
}

fn write<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("JSON values always serialize");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::metadata::from_storage;

    /// Bytes for etcd: resourceVersion is never stored (it is etcd's mod_revision).
    fn to_storage(obj: &Value) -> Vec<u8> {
        Encoded::of(obj).storage().to_vec()
    }

    #[test]
    fn same_in_storage_is_equal_stored_bytes() {
        let base = json!({"metadata": {"name": "web", "resourceVersion": "12", "uid": "u"},
            "spec": {"resourceVersion": "1", "replicas": 3}});
        let variants = [
            json!({"metadata": {"name": "web", "resourceVersion": "13", "uid": "u"},
                "spec": {"resourceVersion": "1", "replicas": 3}}),
            json!({"metadata": {"name": "web", "uid": "u"},
                "spec": {"resourceVersion": "1", "replicas": 3}}),
            json!({"metadata": {"name": "web", "resourceVersion": "12", "uid": "u"},
                "spec": {"resourceVersion": "2", "replicas": 3}}),
            json!({"metadata": {"name": "web", "resourceVersion": "12", "uid": "v"},
                "spec": {"resourceVersion": "1", "replicas": 3}}),
            json!({"metadata": {"name": "web", "resourceVersion": "12", "uid": "u"},
                "spec": {"resourceVersion": "1", "replicas": 3}, "status": {}}),
        ];
        for other in variants.iter().chain([&base]) {
            let bytes_equal = to_storage(&base) == to_storage(other);
            assert_eq!(same_in_storage(&base, other), bytes_equal, "{other}");
            assert_eq!(same_in_storage(other, &base), bytes_equal, "{other}");
        }
    }

    #[test]
    fn to_storage_drops_only_the_metadata_resource_version() {
        let obj = json!({
            "metadata": {"name": "web", "resourceVersion": "12", "uid": "u"},
            "spec": {"resourceVersion": "kept"},
        });
        let stored: Value = serde_json::from_slice(&to_storage(&obj)).unwrap();
        assert_eq!(
            stored,
            json!({"metadata": {"name": "web", "uid": "u"}, "spec": {"resourceVersion": "kept"}})
        );
        let back = from_storage(&to_storage(&obj), 13).unwrap();
        assert_eq!(back["metadata"]["resourceVersion"], "13");
        // Without metadata the object still gets an (empty) one, as before.
        let bare: Value = serde_json::from_slice(&to_storage(&json!({"kind": "X"}))).unwrap();
        assert_eq!(bare, json!({"kind": "X", "metadata": {}}));
    }

    #[test]
    fn storage_is_serde_json_without_the_resource_version() {
        let obj = json!({
            "apiVersion": "flotilla.dev/v1alpha1",
            "kind": "SwarmService",
            "metadata": {"name": "web", "resourceVersion": "12", "labels": {"a": "b\"c"}},
            "spec": {"resourceVersion": "kept", "replicas": 3, "x": [1.5, null, true]},
        });
        let mut without = obj.clone();
        without["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        let e = Encoded::of(&obj);
        assert_eq!(
            e.storage(),
            serde_json::to_vec(&without).unwrap().as_slice()
        );
    }

    #[test]
    fn the_resource_version_is_spliced_into_metadata() {
        let obj = json!({"kind": "X", "metadata": {"name": "web", "resourceVersion": "3"}});
        let back: Value = serde_json::from_slice(&Encoded::of(&obj).with_rv("17")).unwrap();
        assert_eq!(
            back,
            json!({"kind": "X", "metadata": {"name": "web", "resourceVersion": "17"}})
        );
        // Alone in metadata, and with no metadata at all.
        let only: Value =
            serde_json::from_slice(&Encoded::of(&json!({"metadata": {}})).with_rv("4")).unwrap();
        assert_eq!(only, json!({"metadata": {"resourceVersion": "4"}}));
        let bare: Value =
            serde_json::from_slice(&Encoded::of(&json!({"kind": "X"})).with_rv("5")).unwrap();
        assert_eq!(
            bare,
            json!({"kind": "X", "metadata": {"resourceVersion": "5"}})
        );
    }

    #[test]
    fn a_value_that_is_not_an_object_is_stored_as_is() {
        let e = Encoded::of(&json!([1, 2]));
        assert_eq!(&e.storage()[..], b"[1,2]");
        assert_eq!(&e.with_rv("9")[..], b"[1,2]");
    }

    #[test]
    fn the_line_holds_the_json_with_the_resource_version() {
        let obj = json!({"kind": "X", "metadata": {"name": "a", "resourceVersion": "1"}});
        let e = Encoded::of(&obj);
        let (line, at) = e.line_with_rv("MODIFIED", "8");
        assert_eq!(&line[at.clone()], &e.with_rv("8")[..]);
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed["type"], "MODIFIED");
        assert_eq!(parsed["object"]["metadata"]["resourceVersion"], "8");
        assert!(line.ends_with(b"}\n"));
        let (line, at) = Encoded::of(&json!([1])).line_with_rv("ADDED", "3");
        assert_eq!(&line[at], b"[1]");
    }
}
