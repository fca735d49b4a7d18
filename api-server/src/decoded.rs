//! An object as the watch cache holds it: decoded once per store event, and encoded as a watch
//! line at most once per event type, by the first watcher that needs it; every other watcher
//! sends the same bytes (a reference count, no copy).

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
            lines: Default::default(),
            tombstone: OnceLock::new(),
        }
    }

    /// The JSON watch line of this object as an event of `kind`.
    pub fn line(&self, kind: LineKind) -> Bytes {
        self.lines[kind as usize]
            .get_or_init(|| json_line(kind.as_str(), &self.obj))
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

/// One newline-terminated watch event: `{"type":"<kind>","object":<object>}`.
pub fn json_line(kind: &str, object: &Value) -> Bytes {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    serde_json::to_writer(&mut out, object).expect("JSON values always serialize");
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
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
