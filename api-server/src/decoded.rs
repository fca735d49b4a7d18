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
    pub obj: Value,
    /// `obj` as JSON: a GET's or a write's answer, and the inside of its watch lines.
    json: OnceLock<Bytes>,
    /// `{"type":<kind>,"object":<obj>}\n` per [`LineKind`], the object as stored.
    lines: [OnceLock<Bytes>; 3],
    /// The DELETED line of the object's deletion: the last state stamped with the deletion
    /// revision (what clients resume from). An object state is deleted at most once.
    tombstone: OnceLock<(i64, Bytes)>,
}

impl Decoded {
    pub fn new(obj: Value) -> Decoded {
        Decoded {
            obj,
            json: OnceLock::new(),
            lines: Default::default(),
            tombstone: OnceLock::new(),
        }
    }

    /// An object just written, whose JSON is already known: `json` must be `obj` encoded.
    pub fn with_json(obj: Value, json: Bytes) -> Decoded {
        let d = Decoded::new(obj);
        let _ = d.json.set(json);
        d
    }

    /// The object as JSON, encoded once.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                Bytes::from(serde_json::to_vec(&self.obj).expect("JSON values always serialize"))
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
            let obj = crate::resource_store::with_rv(self.obj.clone(), revision);
            (revision, json_line("DELETED", &obj))
        };
        match self.tombstone.get_or_init(encode) {
            (rev, line) if *rev == revision => line.clone(),
            _ => encode().1,
        }
    }
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
    fn a_written_object_answers_and_watches_with_the_json_it_was_stored_with() {
        let obj = json!({"metadata": {"name": "web", "resourceVersion": "7"}});
        let json = crate::encoded::Encoded::of(&obj).with_rv("7");
        let d = Decoded::with_json(obj.clone(), json.clone());
        assert_eq!(d.json().as_ptr(), json.as_ptr(), "no second encoding");
        let line = d.line(LineKind::Modified);
        assert_eq!(parse(&line), json!({"type": "MODIFIED", "object": obj}));
        // Without a known JSON it is encoded on first use, once.
        let lazy = Decoded::new(obj.clone());
        assert_eq!(lazy.json().as_ptr(), lazy.json().as_ptr());
        assert_eq!(serde_json::from_slice::<Value>(&lazy.json()).unwrap(), obj);
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
