//! An object as the watch cache holds it: its JSON, encoded once (taken from the write that
//! stored it, or made once from the tree the store's value decoded to), and at most one watch
//! line, which a written object shares its JSON's buffer with; every watcher sends the same
//! bytes (a reference count, no copy).
//!
//! A cached object holds no tree of maps: a tree is several times its JSON's size, and one kept
//! for every version in the event window was most of the api-server's memory at 10,000 tasks
//! (see docs/benchmark.md). A reader that needs the object decodes it ([`Decoded::obj`]); the
//! fields selectors read are kept apart ([`Selectable`]), decoded once.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::Value;

use super::packed::{Packed, Packer};

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

/// What label and field selectors read of an object: its labels and the values of every
/// selectable field it has, each in one exactly sized allocation (the cache keeps one per
/// version).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Selectable {
    pub labels: crate::selectors::Labels,
    /// Each present field's value, tagged with its place in `selectable_fields()`.
    fields: crate::selectors::Flat,
}

impl Selectable {
    pub fn of(obj: &Value) -> Selectable {
        let values: Vec<(u8, String)> = crate::selectors::selectable_fields()
            .enumerate()
            .filter_map(|(i, f)| Some((tag(i), crate::selectors::field_value(obj, f)?)))
            .collect();
        Selectable {
            labels: crate::selectors::labels_of(obj),
            fields: crate::selectors::Flat::new(values.iter().map(|(i, v)| (*i, v.as_str()))),
        }
    }

    /// The value of a selectable field (`None` if the object lacks it).
    pub fn field(&self, path: &str) -> Option<String> {
        let at = tag(crate::selectors::selectable_fields().position(|f| f == path)?);
        self.fields
            .iter()
            .find(|(i, _)| *i == at)
            .map(|(_, v)| v.to_string())
    }
}

fn tag(place: usize) -> u8 {
    u8::try_from(place).expect("fewer than 256 selectable fields")
}

/// A cached object and its watch line, encoded lazily.
pub struct Decoded {
    /// The revision this server wrote the object at, for an object it wrote.
    written_at: Option<i64>,
    selectable: OnceLock<Selectable>,
    /// The DELETED line of the object's deletion: the last state stamped with the deletion
    /// revision (what clients resume from). An object state is deleted at most once; boxed, as
    /// most never are.
    tombstone: OnceLock<Box<(i64, Bytes)>>,
    body: Body,
}

/// The object itself: plain, or packed. A packed object (most of the cache at 10,000 replicas)
/// holds 32 bytes here, and the whole `Decoded` fits a 128-byte allocation in its `Arc`; with
/// the plain fields inline it took 320.
enum Body {
    Plain(Box<Plain>),
    /// The JSON compressed, for an object nobody wrote for a while ([`Decoded::pack`]); readers
    /// unpack it per use.
    Packed(Packed),
}

struct Plain {
    /// The tree of an object made from one (an answer, a dry run); `None` for what the cache
    /// holds, which [`Decoded::obj`] decodes from `json` on each use.
    obj: Option<Value>,
    /// The object as JSON: a GET's or a write's answer, and the inside of its watch lines. Set
    /// whenever `obj` is `None`.
    json: OnceLock<Bytes>,
    /// `{"type":<kind>,"object":<obj>}\n` for the first kind asked (a written object's: ADDED
    /// for a create, MODIFIED for an update, made with the write); other kinds (a selector's
    /// ADDED, a watch's initial events) are made per use, so a version holds one line at most.
    line: OnceLock<(LineKind, Bytes)>,
}

impl Decoded {
    pub fn new(obj: Value) -> Decoded {
        Decoded::plain(Some(obj), OnceLock::new(), None)
    }

    fn plain(obj: Option<Value>, json: OnceLock<Bytes>, written_at: Option<i64>) -> Decoded {
        let plain = Plain {
            obj,
            json,
            line: OnceLock::new(),
        };
        Decoded {
            written_at,
            selectable: OnceLock::new(),
            tombstone: OnceLock::new(),
            body: Body::Plain(Box::new(plain)),
        }
    }

    /// An object read from the store, as the cache keeps it: its JSON, the tree dropped.
    pub fn read(obj: Value) -> Decoded {
        let selectable = OnceLock::from(Selectable::of(&obj));
        Decoded {
            selectable,
            ..Decoded::from_json(exact_json(&obj), None)
        }
    }

    fn from_json(json: Bytes, written_at: Option<i64>) -> Decoded {
        Decoded::plain(None, OnceLock::from(json), written_at)
    }

    /// The same object with its JSON packed by `packer` (its selectable fields kept as they
    /// are), or `None` when it is packed already or would not shrink.
    pub fn pack(&self, packer: &mut Packer) -> Option<Decoded> {
        if self.is_packed() {
            return None;
        }
        let packed = packer.pack(&self.json())?;
        Some(Decoded {
            written_at: self.written_at,
            selectable: OnceLock::from(self.selectable().clone()),
            tombstone: OnceLock::new(),
            body: Body::Packed(packed),
        })
    }

    /// The plain fields, unless the object is packed.
    fn as_plain(&self) -> Option<&Plain> {
        match &self.body {
            Body::Plain(plain) => Some(plain),
            Body::Packed(_) => None,
        }
    }

    /// Whether the JSON is held packed.
    pub fn is_packed(&self) -> bool {
        self.as_plain().is_none()
    }

    /// An object this server just stored at `revision`, known by its JSON alone (which must be
    /// a JSON object carrying that resourceVersion).
    #[cfg(test)]
    pub fn written(json: Bytes, revision: i64) -> Decoded {
        Decoded::from_json(json, Some(revision))
    }

    /// [`Decoded::written`] from its watch line of `kind`, whose `object` is at `json`: one
    /// buffer for both. `selectable` was read from the written tree, so that no watcher's
    /// selector has to decode the JSON again.
    pub fn written_line(
        line: Bytes,
        json: Range<usize>,
        kind: LineKind,
        revision: i64,
        selectable: Selectable,
    ) -> Decoded {
        let d = Decoded::from_json(line.slice(json), Some(revision));
        if let Some(plain) = d.as_plain() {
            let _ = plain.line.set((kind, line));
        }
        let _ = d.selectable.set(selectable);
        d
    }

    /// The object: borrowed when held as a tree, else decoded from its JSON (not kept).
    pub fn obj(&self) -> Cow<'_, Value> {
        match self.as_plain().and_then(|p| p.obj.as_ref()) {
            Some(obj) => Cow::Borrowed(obj),
            None => Cow::Owned(decode(&self.json())),
        }
    }

    /// The object, owned: no copy when it is held decoded.
    pub fn into_obj(self) -> Value {
        let json = match self.body {
            Body::Plain(plain) => match plain.obj {
                Some(obj) => return obj,
                None => plain
                    .json
                    .into_inner()
                    .expect("a Decoded holds its object or its JSON"),
            },
            Body::Packed(packed) => packed.unpack(),
        };
        decode(&json)
    }

    /// What selectors read of the object, decoded once.
    pub fn selectable(&self) -> &Selectable {
        self.selectable.get_or_init(|| Selectable::of(&self.obj()))
    }

    /// The revision this server wrote the object at (`None` for what it read).
    pub fn written_at(&self) -> Option<i64> {
        self.written_at
    }

    /// The object as JSON, encoded once.
    pub fn json(&self) -> Bytes {
        let plain = match &self.body {
            Body::Packed(packed) => return packed.unpack(),
            Body::Plain(plain) => plain,
        };
        plain
            .json
            .get_or_init(|| {
                let obj = plain
                    .obj
                    .as_ref()
                    .expect("a Decoded holds its object or its JSON");
                exact_json(obj)
            })
            .clone()
    }

    /// The JSON watch line of this object as an event of `kind`.
    pub fn line(&self, kind: LineKind) -> Bytes {
        let Some(plain) = self.as_plain() else {
            // Kept packed: a line made for one watcher is not kept.
            return line_of(kind.as_str(), &self.json());
        };
        let (cached, line) = plain
            .line
            .get_or_init(|| (kind, line_of(kind.as_str(), &self.json())));
        if *cached == kind {
            line.clone()
        } else {
            line_of(kind.as_str(), &self.json())
        }
    }

    /// Appends the JSON watch line of this object as an event of `kind` to `out`, caching nothing.
    pub fn write_line(&self, kind: LineKind, out: &mut bytes::BytesMut) {
        match self.as_plain().and_then(|p| p.line.get()) {
            Some((cached, line)) if *cached == kind => out.extend_from_slice(line),
            _ => {
                let (head, tail) = line_parts(kind.as_str());
                out.extend_from_slice(head.as_bytes());
                out.extend_from_slice(&self.json());
                out.extend_from_slice(tail);
            }
        }
    }

    /// The JSON DELETED line of this object's deletion at `revision`.
    pub fn tombstone_line(&self, revision: i64) -> Bytes {
        let encode = || {
            let obj = crate::store::metadata::with_rv(self.obj().into_owned(), revision);
            Box::new((revision, json_line("DELETED", &obj)))
        };
        match &**self.tombstone.get_or_init(encode) {
            (rev, line) if *rev == revision => line.clone(),
            _ => encode().1,
        }
    }
}

/// `obj` as JSON in a buffer of its length: `to_vec` grows by doubling, and the cache keeps the
/// buffer for as long as it keeps the version (up to half of it unused; docs/benchmark.md).
fn exact_json(obj: &Value) -> Bytes {
    let json = serde_json::to_vec(obj).expect("JSON values always serialize");
    Bytes::from(json.into_boxed_slice())
}

/// The object of a [`Decoded`] known by its JSON alone.
fn decode(json: &[u8]) -> Value {
    serde_json::from_slice(json).expect("the JSON of a stored object decodes")
}

/// What goes before and after an object's JSON in a watch line of `kind`.
pub fn line_parts(kind: &str) -> (String, &'static [u8]) {
    (format!("{{\"type\":\"{kind}\",\"object\":"), b"}\n")
}

/// A watch line around an object's JSON.
fn line_of(kind: &str, object: &[u8]) -> Bytes {
    let (head, tail) = line_parts(kind);
    let mut out = Vec::with_capacity(head.len() + object.len() + tail.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(object);
    out.extend_from_slice(tail);
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

    fn holds_tree(d: &Decoded) -> bool {
        matches!(&d.body, Body::Plain(p) if p.obj.is_some())
    }

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
        assert!(!holds_tree(&d), "no tree: a reader decodes one");
        let line = d.line(LineKind::Modified);
        assert_eq!(parse(&line), json!({"type": "MODIFIED", "object": obj}));
        assert_eq!(*d.obj(), obj);
        assert!(!holds_tree(&d), "the reader's tree is not kept");
        assert_eq!(d.written_at(), Some(7));
        assert_eq!(Decoded::written(json, 7).into_obj(), obj);
        // Without a known JSON it is encoded on first use, once.
        let lazy = Decoded::new(obj.clone());
        assert_eq!(lazy.json().as_ptr(), lazy.json().as_ptr());
        assert_eq!(serde_json::from_slice::<Value>(&lazy.json()).unwrap(), obj);
        assert_eq!(lazy.written_at(), None);
    }

    #[test]
    fn a_read_object_keeps_no_spare_capacity() {
        // ~1,100 bytes of JSON: `to_vec` would leave it in a 2,048-byte buffer.
        let obj = json!({"metadata": {"name": "web"}, "spec": {"image": "x".repeat(1_100)}});
        let len = serde_json::to_vec(&obj).unwrap().len();
        let Body::Plain(plain) = Decoded::read(obj).body else {
            panic!("a read object is plain");
        };
        let held = plain
            .json
            .into_inner()
            .expect("a read object holds its JSON");
        let buffer = held
            .try_into_mut()
            .expect("the cache's reference is the only one");
        assert_eq!((buffer.len(), buffer.capacity()), (len, len));
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

    #[test]
    fn a_version_keeps_one_line_and_no_tree() {
        let obj = json!({"metadata": {"name": "t", "resourceVersion": "7", "labels": {"a": "b"}},
            "spec": {"nodeName": "n1"}});
        let d = Decoded::read(obj.clone());
        assert!(!holds_tree(&d), "what the store gave is kept as JSON only");
        assert_eq!(serde_json::from_slice::<Value>(&d.json()).unwrap(), obj);
        let modified = d.line(LineKind::Modified);
        assert_eq!(modified.as_ptr(), d.line(LineKind::Modified).as_ptr());
        let added = d.line(LineKind::Added);
        assert_eq!(parse(&added)["type"], "ADDED");
        assert_ne!(
            added.as_ptr(),
            d.line(LineKind::Added).as_ptr(),
            "a second kind's line is made per use, not kept"
        );
        let mut out = bytes::BytesMut::new();
        d.write_line(LineKind::Added, &mut out);
        assert_eq!(&out[..], &added[..]);
        let s = d.selectable();
        assert_eq!(s.labels.get("a"), Some("b"));
        assert_eq!(s.field("spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(s.field("metadata.name").as_deref(), Some("t"));
        assert_eq!(s.field("status.state"), None);
    }

    #[test]
    fn a_written_line_and_its_json_share_one_buffer() {
        let obj = json!({"metadata": {"name": "web"}, "spec": {}});
        let (line, at) = crate::store::encoded::Encoded::of(&obj).line_with_rv("ADDED", "5");
        let d = Decoded::written_line(line.clone(), at, LineKind::Added, 5, Selectable::of(&obj));
        assert_eq!(d.line(LineKind::Added).as_ptr(), line.as_ptr());
        let json = d.json();
        let inside = line.as_ptr() as usize..line.as_ptr() as usize + line.len();
        assert!(
            inside.contains(&(json.as_ptr() as usize)),
            "the JSON is a slice of the line"
        );
        assert_eq!(d.obj()["metadata"]["resourceVersion"], "5");
        assert_eq!(d.written_at(), Some(5));
    }
}
