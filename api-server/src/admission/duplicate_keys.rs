//! Duplicate keys in a JSON body. serde_json keeps the last of two equal keys silently, so
//! `{"spec": {"replicas": 1, "replicas": 100}}` would store 100 while a reviewer of the first
//! line saw 1. kube-apiserver reports them under `fieldValidation` (an error when Strict, a
//! warning when Warn); this finds them with their paths in one pass that builds nothing. It is
//! the crate's one duplicate-key finder (`tests/request_path_props.rs` checks it finds exactly
//! the keys written twice).

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The paths (`spec.replicas`, `spec.ports[1].port`) of keys that appear twice in one object.
/// A body that is not JSON has none (its decoding error is reported elsewhere).
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = Walk {
        path: String::new(),
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

struct Walk<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let path = match self.path.is_empty() {
                true => key.to_string(),
                false => format!("{}.{key}", self.path),
            };
            if !seen.insert(key) && !self.found.contains(&path) {
                self.found.push(path.clone());
            }
            map.next_value_seed(Walk {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{i}]", self.path),
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
}
