//! Field selectors: `a=b`, `a==b`, `a!=b`, comma = AND; `\,` `\=` `\\` escape those
//! characters inside values, like kube-apiserver.

use serde_json::Value;

use super::SelectorError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let terms = split_unescaped(selector, ',')
            .into_iter()
            .filter(|term| !term.trim().is_empty())
            .map(|term| parse_term(&term))
            .collect::<Result<_, _>>()?;
        Ok(FieldSelector { terms })
    }

    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// `lookup` returns a field's value; a missing field compares as "" (Kubernetes does).
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|term| {
            let actual = lookup(&term.field).unwrap_or_default();
            (actual == term.value) == (term.op == FieldOp::Equals)
        })
    }

    /// Matches an object, reading fields with [`field_value`].
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(|field| field_value(obj, field))
    }

    /// The value required by an `field=value` term, e.g. to turn `metadata.name=x` into a get.
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }

    /// Rejects fields `kind` cannot be selected by, with kube-apiserver's 400 message.
    pub fn check_supported(&self, kind: &str) -> Result<(), SelectorError> {
        match self
            .terms
            .iter()
            .find(|t| !is_supported_field(kind, &t.field))
        {
            Some(term) => Err(SelectorError::UnsupportedField(term.field.clone())),
            None => Ok(()),
        }
    }
}

const TASK_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.serviceName",
    "spec.desiredState",
    "status.state",
];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// Every field some kind may be selected by.
pub fn selectable_fields() -> impl Iterator<Item = &'static str> {
    ["metadata.name", "metadata.namespace"]
        .into_iter()
        .chain(TASK_FIELDS.iter().copied())
        .chain(EVENT_FIELDS.iter().copied())
}

/// Whether `field` may be used in a field selector for `kind` (`metadata.name` and
/// `metadata.namespace` for every kind, plus per-kind fields for Task and Event).
pub fn is_supported_field(kind: &str, field: &str) -> bool {
    let extra: &[&str] = match kind {
        "Task" => TASK_FIELDS,
        "Event" => EVENT_FIELDS,
        _ => &[],
    };
    field == "metadata.name" || field == "metadata.namespace" || extra.contains(&field)
}

/// Reads a dotted path like `metadata.name` or `spec.nodeName` from an object. Strings are
/// returned as-is, numbers and booleans in their JSON form; objects, arrays, null and missing
/// fields give `None`. `source` on events is `source.component`, as in Kubernetes.
pub fn field_value(obj: &Value, path: &str) -> Option<String> {
    let path = if path == "source" {
        "source.component"
    } else {
        path
    };
    let value = path.split('.').try_fold(obj, |node, part| node.get(part))?;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_term(term: &str) -> Result<FieldTerm, SelectorError> {
    let syntax = |reason: &str| SelectorError::FieldSyntax {
        term: term.to_string(),
        reason: reason.to_string(),
    };
    let (field, op, value) =
        split_operator(term).ok_or_else(|| syntax("expected an operator ('=', '==' or '!=')"))?;
    let field = field.trim();
    if field.is_empty() {
        return Err(syntax("missing the field name before the operator"));
    }
    Ok(FieldTerm {
        field: field.to_string(),
        op,
        value: unescape(value),
    })
}

/// Finds the first unescaped operator, trying `!=`, `==`, `=` at each position.
fn split_operator(term: &str) -> Option<(&str, FieldOp, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        let rest = &term[i..];
        if c == '\\' {
            escaped = true;
        } else if rest.starts_with("!=") {
            return Some((&term[..i], FieldOp::NotEquals, &term[i + 2..]));
        } else if rest.starts_with("==") {
            return Some((&term[..i], FieldOp::Equals, &term[i + 2..]));
        } else if c == '=' {
            return Some((&term[..i], FieldOp::Equals, &term[i + 1..]));
        }
    }
    None
}

fn split_unescaped(input: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in input.chars() {
        let current = parts.last_mut().expect("parts is never empty");
        if escaped {
            escaped = false;
            current.push('\\');
            current.push(c);
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(String::new());
        } else {
            current.push(c);
        }
    }
    parts
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "field_tests.rs"]
mod tests;
