//! Duplicate keys in a JSON body. serde_json keeps the last of two equal keys silently, so
//! `{"spec": {"replicas": 1, "replicas": 100}}` would store 100 while a reviewer of the first
//! line saw 1. kube-apiserver reports them under `fieldValidation` (an error when Strict, a
//! warning when Warn); this finds them with their paths in one pass that builds nothing. It is
//! the crate's one duplicate-key finder (`tests/request_path_props.rs` checks it finds exactly
//! the keys written twice).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The paths (`spec.replicas`, `spec.ports[1].port`) of keys that appear twice in one object.
/// A body that is not JSON has none (its decoding error is reported elsewhere).
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = Walk {
        at: At::Root,
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

/// Where the walk is: a chain through the callers' frames, written out only for a duplicate
/// (most bodies have none, and every key would otherwise cost a path string).
#[derive(Clone, Copy)]
enum At<'p> {
    Root,
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl At<'_> {
    fn path(&self) -> String {
        match self {
            At::Root => String::new(),
            At::Key(parent, key) => match parent.path() {
                p if p.is_empty() => key.to_string(),
                p => format!("{p}.{key}"),
            },
            At::Index(parent, i) => format!("{}[{i}]", parent.path()),
        }
    }
}

/// The keys of one object so far: a short list, as most objects are small, or a set past that.
#[derive(Default)]
struct Seen<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> Seen<'de> {
    const FEW: usize = 16;

    /// Whether `key` is new.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if !self.many.is_empty() {
            return self.many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        self.few.push(key);
        if self.few.len() > Self::FEW {
            self.many.extend(self.few.drain(..));
        }
        true
    }
}

struct Walk<'a, 'p> {
    at: At<'p>,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Seen::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if !seen.insert(key.clone()) {
                let path = At::Key(&self.at, &key).path();
                if !self.found.contains(&path) {
                    self.found.push(path);
                }
            }
            map.next_value_seed(Walk {
                at: At::Key(&self.at, &key),
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(Walk {
                at: At::Index(&self.at, i),
                found: self.found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_with_their_paths() {
        let body = br#"{"metadata": {"name": "a", "name": "b"},
            "spec": {"replicas": 1, "ports": [{"port": 1}, {"port": 2, "port": 3}], "replicas": 100}}"#;
        assert_eq!(
            duplicate_fields(body),
            vec!["metadata.name", "spec.ports[1].port", "spec.replicas"]
        );
    }

    #[test]
    fn none_in_well_formed_or_broken_bodies() {
        assert!(
            duplicate_fields(br#"{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}"#).is_empty()
        );
        assert!(duplicate_fields(b"not json").is_empty());
        assert!(duplicate_fields(br#"{"a": "\u00e9", "\u0061": 2}"#) == vec!["a"]);
    }

    #[test]
    fn large_objects_and_top_level_lists_too() {
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        let body = format!(
            r#"[{{"labels": {{{}, "k3": 0, "k39": 1}}}}]"#,
            keys.join(", ")
        );
        assert_eq!(
            duplicate_fields(body.as_bytes()),
            vec!["[0].labels.k3", "[0].labels.k39"]
        );
    }
}
