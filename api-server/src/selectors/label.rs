//! Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`;
//! a comma means AND. Keys and values are validated like kube-apiserver does.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::label_parse::{parse_requirements, Requirement};
use super::{Flat, SelectorError};

impl Requirement {
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => !labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let requirements = parse_requirements(selector)?;
        for requirement in &requirements {
            validate(requirement)?;
        }
        Ok(LabelSelector { requirements })
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches against an object's `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.is_empty() || self.matches(&labels_of(obj))
    }
}

/// An object's `metadata.labels` (non-string values are ignored).
pub fn labels_of(obj: &Value) -> Labels {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Labels sorted by key, keys and values in one exactly sized allocation ([`Flat`]): the watch
/// cache keeps them for every object, and a `BTreeMap`'s first node alone takes ~540 bytes,
/// however few the labels.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Labels(Flat);

const KEY: u8 = 0;

impl Labels {
    pub fn get(&self, key: &str) -> Option<&str> {
        let mut entries = self.0.iter();
        while let Some((_, k)) = entries.next() {
            let (_, v) = entries.next()?;
            if k == key {
                return Some(v);
            }
        }
        None
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Labels {
    /// The last value of a key given twice wins, as in a map.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut all: Vec<(K, V)> = pairs.into_iter().collect();
        all.reverse();
        all.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref())); // stable: the last given comes first
        all.dedup_by(|later, kept| later.0.as_ref() == kept.0.as_ref());
        let entries = all
            .iter()
            .flat_map(|(k, v)| [(KEY, k.as_ref()), (KEY + 1, v.as_ref())]);
        Labels(Flat::new(entries))
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = str;

    fn index(&self, key: &str) -> &str {
        self.get(key).expect("no such label")
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical form, e.g. `app=web,tier in (be,fe),!canary`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |vs: &BTreeSet<String>| vs.iter().cloned().collect::<Vec<_>>().join(",");
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", join(vs)),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", join(vs)),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

fn validate(requirement: &Requirement) -> Result<(), SelectorError> {
    let (key, values): (&String, Vec<&String>) = match requirement {
        Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => (k, vec![v]),
        Requirement::In(k, vs) | Requirement::NotIn(k, vs) => (k, vs.iter().collect()),
        Requirement::Exists(k) | Requirement::DoesNotExist(k) => (k, vec![]),
    };
    validate_key(key)?;
    for value in values {
        if !value.is_empty() {
            check_name(value, 63).map_err(|reason| SelectorError::InvalidLabelValue {
                key: key.clone(),
                value: value.clone(),
                reason,
            })?;
        }
    }
    Ok(())
}

fn validate_key(key: &str) -> Result<(), SelectorError> {
    let invalid = |reason: String| SelectorError::InvalidLabelKey {
        key: key.to_string(),
        reason,
    };
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            let ok = !prefix.is_empty()
                && prefix.len() <= 253
                && prefix.split('.').all(|part| {
                    part.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !part.is_empty()
                        && !part.starts_with('-')
                        && !part.ends_with('-')
                });
            if !ok {
                return Err(invalid(format!(
                    "prefix {prefix:?} must be a lowercase DNS subdomain (e.g. example.com)"
                )));
            }
            name
        }
        None => key,
    };
    check_name(name, 63).map_err(invalid)
}

/// Kubernetes "qualified name" part / label value: alphanumerics, '-', '_', '.', starting
/// and ending with an alphanumeric, at most `max` characters.
fn check_name(name: &str, max: usize) -> Result<(), String> {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > max {
        return Err(format!("must be 1 to {max} characters"));
    }
    let inner_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !inner_ok || !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Err(
            "must consist of alphanumerics, '-', '_' or '.', and start and end with an \
                    alphanumeric"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "label_tests.rs"]
mod tests;
