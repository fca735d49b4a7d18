//! An object as the watch cache holds it: decoded once per store event, its JSON encoded at
//! most once (taken from the write that stored it, or by the first reader that needs it), and
//! each watch line made from that JSON at most once per event type; every other watcher sends
//! the same bytes (a reference count, no copy).

use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::Value;

/// The type of a watch event line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Added,
    Modified,
    Deleted,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Added => "ADDED",
            LineKind::Modified => "MODIFIED",
            LineKind::Deleted => "DELETED",
        }
    }
}

/// A cached object and its watch lines, encoded lazily.
pub struct Decoded {
    /// The object. A write's own tree is dropped once stored and decoded again from `json` only
    /// if a reader needs it (a selector, a table, an update): the cache then holds the compact
    /// JSON, not a tree of maps for each object created (growing it was a tenth of a create's CPU
    /// in page faults).
    obj: OnceLock<Value>,
    /// `obj` as JSON: a GET's or a write's answer, and the inside of its watch lines. At least
    /// one of `obj` and `json` is always set.
    json: OnceLock<Bytes>,
    /// The revision this server wrote the object at, for an object it wrote.
    written_at: Option<i64>,
    /// `{"type":<kind>,"object":<obj>}\n` per [`LineKind`], the object as stored.
    lines: [OnceLock<Bytes>; 3],
    /// The DELETED line of the object's deletion: the last state stamped with the deletion
    /// revision (what clients resume from). An object state is deleted at most once.
    tombstone: OnceLock<(i64, Bytes)>,
}

impl Decoded {
    pub fn new(obj: Value) -> Decoded {
        Decoded {
            obj: OnceLock::from(obj),
            json: OnceLock::new(),
            written_at: None,
            lines: Default::default(),
            tombstone: OnceLock::new(),
        }
    }

    /// An object this server just stored at `revision`, known by its JSON alone (which must be
    /// a JSON object carrying that resourceVersion).
    pub fn written(json: Bytes, revision: i64) -> Decoded {
        Decoded {
            obj: OnceLock::new(),
            json: OnceLock::from(json),
            written_at: Some(revision),
            lines: Default::default(),
            tombstone: OnceLock::new(),
        }
    }

    /// The object, decoded from its JSON on first use.
    pub fn obj(&self) -> &Value {
        self.obj.get_or_init(|| decode(&self.json))
    }

    /// The object, owned: no copy when it is held decoded.
    pub fn into_obj(self) -> Value {
        let json = self.json;
        self.obj.into_inner().unwrap_or_else(|| decode(&json))
    }

    /// The revision this server wrote the object at (`None` for what it read).
    pub fn written_at(&self) -> Option<i64> {
        self.written_at
    }

    /// The object as JSON, encoded once.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                Bytes::from(serde_json::to_vec(self.obj()).expect("JSON values always serialize"))
            })
            .clone()
    }

    /// The JSON watch line of this object as an event of `kind`.
    pub fn line(&self, kind: LineKind) -> Bytes {
        self.lines[kind as usize]
            .get_or_init(|| line_of(kind.as_str(), &self.json()))
            .clone()
    }

    /// The JSON DELETED line of this object's deletion at `revision`.
    pub fn tombstone_line(&self, revision: i64) -> Bytes {
        let encode = || {
            let obj = crate::store::metadata::with_rv(self.obj().clone(), revision);
            (revision, json_line("DELETED", &obj))
        };
        match self.tombstone.get_or_init(encode) {
            (rev, line) if *rev == revision => line.clone(),
            _ => encode().1,
        }
    }
}

/// The object of a [`Decoded`] known by its JSON alone.
fn decode(json: &OnceLock<Bytes>) -> Value {
    let json = json.get().expect("a Decoded holds its object or its JSON");
    serde_json::from_slice(json).expect("the JSON of a stored object decodes")
}

/// A watch line around an object's JSON.
fn line_of(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// One newline-terminated watch event: `{"type":"<kind>","object":<object>}`.
pub fn json_line(kind: &str, object: &Value) -> Bytes {
    line_of(
        kind,
        &serde_json::to_vec(object).expect("JSON values always serialize"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(line: &Bytes) -> Value {
        assert!(line.ends_with(b"\n"), "a line ends with a newline");
        serde_json::from_slice(line).unwrap()
    }

    #[test]
    fn lines_are_encoded_once_and_shared() {
        let d = Decoded::new(json!({"metadata": {"name": "web", "resourceVersion": "7"}}));
        let a = d.line(LineKind::Added);
        let b = d.line(LineKind::Added);
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "the second watcher gets the same bytes"
        );
        assert_eq!(
            parse(&a),
            json!({"type": "ADDED", "object": {"metadata": {"name": "web", "resourceVersion": "7"}}})
        );
        assert_eq!(parse(&d.line(LineKind::Modified))["type"], "MODIFIED");
    }

    #[test]
    fn a_written_object_is_decoded_from_its_json_only_when_read() {
        let obj = json!({"metadata": {"name": "web", "resourceVersion": "7"}, "spec": {"n": 1.5}});
        let json = crate::store::encoded::Encoded::of(&obj).with_rv("7");
        let d = Decoded::written(json.clone(), 7);
        assert_eq!(d.json().as_ptr(), json.as_ptr(), "no second encoding");
        assert!(d.obj.get().is_none(), "no tree until a reader needs one");
        let line = d.line(LineKind::Modified);
        assert_eq!(parse(&line), json!({"type": "MODIFIED", "object": obj}));
        assert_eq!(d.obj(), &obj);
        assert_eq!(d.written_at(), Some(7));
        assert_eq!(Decoded::written(json, 7).into_obj(), obj);
        // Without a known JSON it is encoded on first use, once.
        let lazy = Decoded::new(obj.clone());
        assert_eq!(lazy.json().as_ptr(), lazy.json().as_ptr());
        assert_eq!(serde_json::from_slice::<Value>(&lazy.json()).unwrap(), obj);
        assert_eq!(lazy.written_at(), None);
    }

    #[test]
    fn tombstone_carries_the_deletion_revision() {
        let d = Decoded::new(json!({"metadata": {"name": "web", "resourceVersion": "7"}}));
        let t = parse(&d.tombstone_line(9));
        assert_eq!(t["type"], "DELETED");
        assert_eq!(t["object"]["metadata"]["resourceVersion"], "9");
        assert_eq!(
            parse(&d.tombstone_line(10))["object"]["metadata"]["resourceVersion"],
            "10"
        );
        assert_eq!(
            parse(&d.line(LineKind::Deleted))["object"]["metadata"]["resourceVersion"],
            "7"
        );
    }
}
