//! A JSON list served from the watch cache as a stream of chunks, written from each object's
//! cached JSON as the connection takes them.
//!
//! Built whole, a list of every task at 10,000 replicas (twice that with the previous version's
//! tasks kept as history) was a buffer of tens of MiB, made for each relist: an informer's
//! start, a node-agent's restart, `kubectl get tasks`. Streamed, the answer holds the snapshot's
//! references and one chunk at a time. kube-apiserver streams its JSON lists the same way.

use std::sync::Arc;

use bytes::Bytes;

use super::list::Selection;
use crate::store::state::Decoded;

/// How many bytes of objects a chunk gathers before it is handed to the connection.
const CHUNK: usize = 64 << 10;

/// The chunks of `{<head>,"items":[<obj>,…]}`: `head` is the list's JSON object without its
/// closing brace, `items` a snapshot's keys and objects in order; those under `prefix` that
/// `selection` matches are listed.
pub struct Chunks {
    head: Option<Vec<u8>>,
    items: std::vec::IntoIter<(String, Arc<Decoded>)>,
    prefix: String,
    selection: Selection,
    listed: usize,
    done: bool,
}

impl Chunks {
    pub fn new(
        head: Vec<u8>,
        items: Vec<(String, Arc<Decoded>)>,
        prefix: String,
        selection: Selection,
    ) -> Chunks {
        Chunks {
            head: Some(head),
            items: items.into_iter(),
            prefix,
            selection,
            listed: 0,
            done: false,
        }
    }
}

impl Iterator for Chunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut chunk = match self.head.take() {
            Some(mut head) => {
                head.extend_from_slice(b",\"items\":[");
                head
            }
            None => Vec::with_capacity(CHUNK + 4096),
        };
        for (key, cached) in self.items.by_ref() {
            if !self.selection.lists(&self.prefix, &key, &cached) {
                continue;
            }
            if self.listed > 0 {
                chunk.push(b',');
            }
            self.listed += 1;
            chunk.extend_from_slice(&cached.json());
            if chunk.len() >= CHUNK {
                return Some(chunk.into());
            }
        }
        chunk.extend_from_slice(b"]}");
        self.done = true;
        Some(chunk.into())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn cached(ns: &str, i: usize) -> (String, Arc<Decoded>) {
        let tier = if i.is_multiple_of(2) { "front" } else { "back" };
        let obj = json!({"metadata": {"name": format!("t{i:04}"), "namespace": ns,
            "labels": {"tier": tier}}, "spec": {"pad": "x".repeat(1_000)}});
        let key = format!("/registry/tasks/{ns}/t{i:04}");
        (key, Arc::new(Decoded::read(obj)))
    }

    fn list(items: Vec<(String, Arc<Decoded>)>, selection: Selection) -> (Value, usize) {
        let head = br#"{"kind":"TaskList","metadata":{"resourceVersion":"7"}"#.to_vec();
        let prefix = "/registry/tasks/default/".to_string();
        let chunks: Vec<Bytes> = Chunks::new(head, items, prefix, selection).collect();
        let body: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        (
            serde_json::from_slice(&body).expect("one JSON list"),
            chunks.len(),
        )
    }

    #[test]
    fn a_long_list_is_streamed_in_chunks_of_the_namespace_and_selector() {
        let mut items: Vec<_> = (0..300).map(|i| cached("default", i)).collect();
        items.extend((0..10).map(|i| cached("other", i)));
        let (list, chunks) = list(items, Selection::by_labels("tier=front"));
        assert!(chunks > 1, "~150 KB of objects come in more than one chunk");
        assert_eq!(list["metadata"]["resourceVersion"], "7");
        let names: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (0..300).step_by(2).map(|i| format!("t{i:04}")).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn an_empty_selection_is_an_empty_list() {
        let items = (0..3).map(|i| cached("other", i)).collect();
        let (list, chunks) = list(items, Selection::by_labels("tier=front"));
        assert_eq!(chunks, 1);
        assert_eq!(list["items"], json!([]));
    }
}
