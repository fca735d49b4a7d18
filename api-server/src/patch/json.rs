//! RFC 6902 JSON patch (`application/json-patch+json`) with kube-apiserver's leniency.
//!
//! kube-apiserver uses evanphx/json-patch, whose `test` treats a missing member as `null`:
//! kube-runtime's finalizer helper starts with `{"op":"test","path":"/metadata/finalizers",
//! "value":null}` on objects that have no finalizers and relies on that succeeding.
//! A patch is applied atomically: on error the target is left untouched.
//!
//! Why not the `json-patch` crate (already in the lockfile through kube-core): its `test` fails
//! on a missing member (`InvalidPointer`), which breaks kube-runtime's finalizer helper above,
//! and its errors do not read like evanphx/json-patch's (`add operation does not apply: doc is
//! missing path: /spec/x`, what kubectl prints and `json_tests.rs` checks). Wrapping it would
//! mean rewriting both the `test` semantics and every message, which is most of this module.

use serde_json::{Map, Value};
use thiserror::Error;

/// kube-apiserver refuses JSON patches with more operations than this (413).
pub const MAX_OPERATIONS: usize = 10_000;

/// Why a JSON patch could not be applied. Every variant except `TooManyOperations` maps to a
/// 422 Status whose message is this error's text; `TooManyOperations` maps to 413.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PatchError {
    #[error("the JSON patch must be an array of operations")]
    NotAnArray,
    #[error("The allowed operations in a JSON patch are limited to {MAX_OPERATIONS}, got {0}")]
    TooManyOperations(usize),
    #[error("invalid JSON patch operation {index}: {reason}")]
    InvalidOperation { index: usize, reason: String },
    #[error("{op} operation does not apply: doc is missing path: {path}")]
    MissingPath { op: &'static str, path: String },
    #[error("{op} operation does not apply: {path}: {reason}")]
    NotApplicable {
        op: &'static str,
        path: String,
        reason: String,
    },
    #[error("testing value {path} failed")]
    TestFailed { path: String },
}

impl PatchError {
    /// True when the server must answer 413 Request Entity Too Large rather than 422.
    pub fn is_too_large(&self) -> bool {
        matches!(self, PatchError::TooManyOperations(_))
    }
}

/// Applies the RFC 6902 operations in `ops` (a JSON array) to `target`.
pub fn apply_json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let ops = ops.as_array().ok_or(PatchError::NotAnArray)?;
    if ops.len() > MAX_OPERATIONS {
        return Err(PatchError::TooManyOperations(ops.len()));
    }
    let mut doc = target.clone();
    for (index, op) in ops.iter().enumerate() {
        apply_one(&mut doc, index, op)?;
    }
    *target = doc;
    Ok(())
}

fn apply_one(doc: &mut Value, index: usize, op: &Value) -> Result<(), PatchError> {
    let invalid = |reason: String| PatchError::InvalidOperation { index, reason };
    let obj = op
        .as_object()
        .ok_or_else(|| invalid(format!("expected an object, got {op}")))?;
    let name = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing string field \"op\"".into()))?;
    let path = string_field(obj, "path").map_err(invalid)?;
    let tokens = parse_pointer(path).map_err(invalid)?;
    match name {
        "add" => add(
            doc,
            path,
            &tokens,
            value_field(obj).map_err(invalid)?,
            "add",
        ),
        "remove" => remove(doc, path, &tokens, "remove").map(drop),
        "replace" => replace(doc, path, &tokens, value_field(obj).map_err(invalid)?),
        "move" => {
            let from = string_field(obj, "from").map_err(invalid)?;
            if path.starts_with(from) && path[from.len()..].starts_with('/') {
                return Err(invalid(format!(
                    "cannot move {from} into its own child {path}"
                )));
            }
            let value = remove(doc, from, &parse_pointer(from).map_err(invalid)?, "move")?;
            add(doc, path, &tokens, value, "move")
        }
        "copy" => {
            let from = string_field(obj, "from").map_err(invalid)?;
            let value = get(doc, &parse_pointer(from).map_err(invalid)?)
                .cloned()
                .ok_or_else(|| missing("copy", from))?;
            add(doc, path, &tokens, value, "copy")
        }
        // evanphx treats an absent "value" like null.
        "test" => test(doc, path, &tokens, obj.get("value").unwrap_or(&Value::Null)),
        other => Err(invalid(format!("unknown op {other:?}"))),
    }
}

fn string_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string field {name:?}"))
}

fn value_field(obj: &Map<String, Value>) -> Result<Value, String> {
    obj.get("value")
        .cloned()
        .ok_or_else(|| "missing field \"value\"".to_string())
}

fn missing(op: &'static str, path: &str) -> PatchError {
    PatchError::MissingPath {
        op,
        path: path.to_string(),
    }
}

/// Splits an RFC 6901 pointer into unescaped reference tokens (`~1` is `/`, `~0` is `~`).
fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("JSON pointer {pointer:?} must start with '/'"));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => {
                        return Err(format!(
                            "JSON pointer {pointer:?} has an invalid '~' escape"
                        ))
                    }
                }
            }
            Ok(out)
        })
        .collect()
}

/// Parses an array index; `-` (one past the end) only where `allow_end` is set.
fn array_index(token: &str, len: usize, allow_end: bool) -> Option<usize> {
    if token == "-" {
        return allow_end.then_some(len);
    }
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: usize = token.parse().ok()?;
    let limit = if allow_end { len + 1 } else { len };
    (index < limit).then_some(index)
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(array_index(token, items.len(), false)?),
        _ => None,
    })
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => {
            let index = array_index(token, items.len(), false)?;
            items.get_mut(index)
        }
        _ => None,
    })
}

/// The parent container of the last token, and that token.
fn parent<'a, 'b>(
    doc: &'a mut Value,
    path: &str,
    tokens: &'b [String],
    op: &'static str,
) -> Result<(&'a mut Value, &'b str), PatchError> {
    let (last, parents) = tokens.split_last().ok_or_else(|| missing(op, path))?;
    let node = get_mut(doc, parents).ok_or_else(|| missing(op, path))?;
    Ok((node, last.as_str()))
}

fn not_applicable(op: &'static str, path: &str, reason: &str) -> PatchError {
    PatchError::NotApplicable {
        op,
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn add(
    doc: &mut Value,
    path: &str,
    tokens: &[String],
    value: Value,
    op: &'static str,
) -> Result<(), PatchError> {
    if tokens.is_empty() {
        *doc = value;
        return Ok(());
    }
    match parent(doc, path, tokens, op)? {
        (Value::Object(map), key) => {
            map.insert(key.to_string(), value);
            Ok(())
        }
        (Value::Array(items), token) => {
            let index = array_index(token, items.len(), true)
                .ok_or_else(|| not_applicable(op, path, "array index out of range"))?;
            items.insert(index, value);
            Ok(())
        }
        _ => Err(not_applicable(op, path, "parent is not an object or array")),
    }
}

fn remove(
    doc: &mut Value,
    path: &str,
    tokens: &[String],
    op: &'static str,
) -> Result<Value, PatchError> {
    if tokens.is_empty() {
        return Err(not_applicable(op, path, "cannot remove the whole document"));
    }
    match parent(doc, path, tokens, op)? {
        (Value::Object(map), key) => map.remove(key).ok_or_else(|| missing(op, path)),
        (Value::Array(items), token) => {
            let index = array_index(token, items.len(), false)
                .ok_or_else(|| not_applicable(op, path, "array index out of range"))?;
            Ok(items.remove(index))
        }
        _ => Err(missing(op, path)),
    }
}

fn replace(doc: &mut Value, path: &str, tokens: &[String], value: Value) -> Result<(), PatchError> {
    let slot = get_mut(doc, tokens).ok_or_else(|| missing("replace", path))?;
    *slot = value;
    Ok(())
}

fn test(
    doc: &mut Value,
    path: &str,
    tokens: &[String],
    expected: &Value,
) -> Result<(), PatchError> {
    let found = match tokens.split_last() {
        None => Some(&*doc),
        Some((_, parents)) => {
            // Like evanphx: the parent must exist, the member itself may be missing.
            get(doc, parents).ok_or_else(|| missing("test", path))?;
            get(doc, tokens)
        }
    };
    let actual = found.unwrap_or(&Value::Null);
    if actual == expected {
        Ok(())
    } else {
        Err(PatchError::TestFailed {
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
