//! Kubernetes' `ObjectMeta` rules that apply to every kind: label and annotation keys are
//! qualified names (`[prefix/]name`), label values at most 63 characters of a restricted set,
//! annotations at most 256 KiB in all, namespaces DNS-1123 labels.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::FieldError;

/// Kubernetes' `TotalAnnotationSizeLimitB`: keys and values together.
pub const MAX_ANNOTATIONS_SIZE: usize = 256 * 1024;
const MAX_NAME_PART: usize = 63;
const MAX_PREFIX: usize = 253;
pub const MAX_LABEL_VALUE: usize = 63;

static QUALIFIED_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$").expect("valid regex")
});
static DNS1123_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("valid regex")
});
static DNS1123_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("valid regex"));

const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or \
    '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  \
    or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const PREFIX_MSG: &str = "prefix part a lowercase RFC 1123 subdomain must consist of lower case \
    alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
    (e.g. 'example.com', regex used for validation is \
    '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
    characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
    'MyValue',  or 'my_value',  or '12345', regex used for validation is \
    '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAMESPACE_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
    characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  \
    or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Every problem with `metadata`'s labels and annotations.
pub fn validate_object_meta(metadata: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, check_values) in [("labels", true), ("annotations", false)] {
        let path = format!("metadata.{field}");
        match metadata.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => errs.extend(string_map(&path, map, check_values)),
            Some(other) => errs.push(FieldError::invalid(
                &path,
                other,
                "must be a map of string keys to string values",
            )),
        }
    }
    errs
}

fn string_map(path: &str, map: &Map<String, Value>, labels: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    for (key, value) in map {
        // As Kubernetes: annotation keys are checked case-insensitively.
        let checked = if labels {
            key.clone()
        } else {
            key.to_lowercase()
        };
        errs.extend(qualified_name(path, key, &checked));
        let Some(value) = value.as_str() else {
            errs.push(FieldError::invalid(
                format!("{path}[{key}]"),
                value,
                "must be a string",
            ));
            continue;
        };
        total += key.len() + value.len();
        if labels {
            errs.extend(label_value(path, value));
        }
    }
    if !labels && total > MAX_ANNOTATIONS_SIZE {
        errs.push(FieldError::too_long(
            path,
            format!("must have at most {MAX_ANNOTATIONS_SIZE} bytes"),
        ));
    }
    errs
}

/// Kubernetes' `IsQualifiedName`: `[prefix/]name`, each part with its own rules.
fn qualified_name(path: &str, key: &str, checked: &str) -> Vec<FieldError> {
    let invalid = |msg: &str| FieldError::invalid(path, key, msg);
    let (prefix, name) = match checked.split('/').collect::<Vec<_>>().as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => {
            return vec![invalid(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and \
                 must start and end with an alphanumeric character (e.g. 'MyName',  or \
                 'my.name',  or '123-abc', regex used for validation is \
                 '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain \
                 prefix and '/' (e.g. 'example.com/MyName')",
            )]
        }
    };
    let mut errs = Vec::new();
    match prefix {
        Some("") => errs.push(invalid("prefix part must be non-empty")),
        Some(p) if p.len() > MAX_PREFIX => errs.push(invalid(&format!(
            "prefix part must be no more than {MAX_PREFIX} characters"
        ))),
        Some(p) if !DNS1123_SUBDOMAIN.is_match(p) => errs.push(invalid(PREFIX_MSG)),
        _ => {}
    }
    if name.is_empty() {
        errs.push(invalid("name part must be non-empty"));
    } else if name.len() > MAX_NAME_PART {
        errs.push(invalid(&format!(
            "name part must be no more than {MAX_NAME_PART} characters"
        )));
    } else if !QUALIFIED_NAME.is_match(name) {
        errs.push(invalid(NAME_PART_MSG));
    }
    errs
}

fn label_value(path: &str, value: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if value.len() > MAX_LABEL_VALUE {
        errs.push(FieldError::invalid(
            path,
            value,
            format!("must be no more than {MAX_LABEL_VALUE} characters"),
        ));
    }
    if !value.is_empty() && !QUALIFIED_NAME.is_match(value) {
        errs.push(FieldError::invalid(path, value, LABEL_VALUE_MSG));
    }
    errs
}

/// A namespace's name is a DNS-1123 label (at most 63 characters).
pub fn validate_namespace_name(path: &str, name: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if name.len() > MAX_NAME_PART {
        errs.push(FieldError::invalid(
            path,
            name,
            format!("must be no more than {MAX_NAME_PART} characters"),
        ));
    }
    if !DNS1123_LABEL.is_match(name) {
        errs.push(FieldError::invalid(path, name, NAMESPACE_MSG));
    }
    errs
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(meta: Value) -> Vec<String> {
        validate_object_meta(&meta)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn good_labels_and_annotations_pass() {
        let meta = json!({
            "labels": {"app": "web", "flotilla.dev/tier": "front_end.v2", "empty": ""},
            "annotations": {"Example.COM/Note": "anything at all: ✓", "a": ""},
        });
        assert_eq!(fields(meta), Vec::<String>::new());
    }

    #[test]
    fn bad_label_keys_and_values_name_the_field() {
        let long = "x".repeat(64);
        let errs = fields(json!({"labels": {
            "bad key": "v", "Bad_Prefix/x": "v", "a/b/c": "v", "/x": "v", long.clone(): "v",
            "ok": "has space", "ok2": long, "n": 5,
        }}));
        assert_eq!(errs.len(), 8, "{errs:#?}");
        assert!(
            errs.iter().all(|e| e.starts_with("metadata.labels")),
            "{errs:#?}"
        );
        assert!(errs
            .iter()
            .any(|e| e.contains("must be no more than 63 characters")));
        assert!(errs.iter().any(|e| e.contains("prefix part")));
        assert!(errs.iter().any(|e| e.starts_with("metadata.labels[n]")));
    }

    #[test]
    fn annotations_total_at_most_256_kib() {
        let big = "x".repeat(MAX_ANNOTATIONS_SIZE);
        let errs = fields(json!({"annotations": {"a": big}}));
        assert_eq!(
            errs,
            vec!["metadata.annotations: Too long: must have at most 262144 bytes"]
        );
        let fits = "x".repeat(MAX_ANNOTATIONS_SIZE - 1);
        assert!(fields(json!({"annotations": {"a": fits}})).is_empty());
    }

    #[test]
    fn namespace_names_are_dns_labels() {
        assert!(validate_namespace_name("metadata.namespace", "team-a").is_empty());
        for bad in ["Bad_NS", "..", "%2e%2e", "a.b", "", "-a", &"n".repeat(64)] {
            assert!(
                !validate_namespace_name("metadata.namespace", bad).is_empty(),
                "{bad}"
            );
        }
    }
}
