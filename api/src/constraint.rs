//! Placement constraint grammar (swarmkit `manager/constraint`): `key==value` or `key!=value`.
//!
//! Shared by validation and the scheduler, which evaluates [`Constraint`]s against nodes.

use std::sync::LazyLock;

use regex::Regex;

mod node;
pub use node::{node_matches, NodeFacts};

static KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?i)[a-z_][a-z0-9\-_.]+$").expect("valid regex"));
// Values may not contain operators like < > ~ (reserved for future use).
static VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|/]+$").expect("valid regex")
});

/// Label-key prefixes of constraints on node (admin) and engine labels.
pub const NODE_LABEL_PREFIX: &str = "node.labels.";
pub const ENGINE_LABEL_PREFIX: &str = "engine.labels.";

/// Keys that name a node attribute (besides the label prefixes).
pub const ATTRIBUTE_KEYS: [&str; 6] = [
    "node.id",
    "node.hostname",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
    "node.ip",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintOp {
    Eq,
    NotEq,
}

/// A parsed constraint. Values compare case-insensitively; label keys are case-sensitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    pub key: String,
    pub op: ConstraintOp,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    #[error("constraint expected one operator from ==, !=")]
    NoOperator,
    #[error("key '{0}' is invalid")]
    InvalidKey(String),
    #[error("value '{0}' is invalid")]
    InvalidValue(String),
    #[error("key '{0}' is not supported: use node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.ip, node.labels.<label> or engine.labels.<label>")]
    UnsupportedKey(String),
}

/// Parses `key OP value` with swarmkit's grammar, and additionally rejects keys that no node
/// could ever match (swarmkit accepts them and leaves the task pending forever).
pub fn parse_constraint(expr: &str) -> Result<Constraint, ConstraintError> {
    // swarmkit tries "==" first, then "!=": "a!=b" contains no "==".
    let (op, (key, value)) = if let Some(parts) = expr.split_once("==") {
        (ConstraintOp::Eq, parts)
    } else if let Some(parts) = expr.split_once("!=") {
        (ConstraintOp::NotEq, parts)
    } else {
        return Err(ConstraintError::NoOperator);
    };
    let key = key.trim();
    if !KEY.is_match(key) {
        return Err(ConstraintError::InvalidKey(key.to_string()));
    }
    let value = value.trim();
    if !VALUE.is_match(value) {
        return Err(ConstraintError::InvalidValue(value.to_string()));
    }
    if !is_supported_key(key) {
        return Err(ConstraintError::UnsupportedKey(key.to_string()));
    }
    Ok(Constraint {
        key: key.to_string(),
        op,
        value: value.to_string(),
    })
}

fn is_supported_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    if ATTRIBUTE_KEYS.contains(&lower.as_str()) {
        return true;
    }
    [NODE_LABEL_PREFIX, ENGINE_LABEL_PREFIX]
        .iter()
        .any(|prefix| lower.starts_with(prefix) && lower.len() > prefix.len())
}

impl Constraint {
    /// Whether `actual` (the node's attribute; `None` compares as "") satisfies the constraint.
    pub fn matches(&self, actual: Option<&str>) -> bool {
        let equal = actual.unwrap_or("").eq_ignore_ascii_case(&self.value);
        match self.op {
            ConstraintOp::Eq => equal,
            ConstraintOp::NotEq => !equal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_operators() {
        let c = parse_constraint("node.role == manager").unwrap();
        assert_eq!(
            c,
            Constraint {
                key: "node.role".into(),
                op: ConstraintOp::Eq,
                value: "manager".into()
            }
        );
        let c = parse_constraint("node.labels.zone!=eu-1").unwrap();
        assert_eq!(c.op, ConstraintOp::NotEq);
        assert_eq!(c.key, "node.labels.zone");
        assert!(parse_constraint("engine.labels.os==linux").is_ok());
        assert!(parse_constraint("node.ip!=10.0.0.0/24").is_ok());
    }

    #[test]
    fn rejects_bad_constraints() {
        assert_eq!(
            parse_constraint("node.role=manager"),
            Err(ConstraintError::NoOperator)
        );
        assert_eq!(
            parse_constraint("node.role>manager"),
            Err(ConstraintError::NoOperator)
        );
        assert_eq!(
            parse_constraint("n@de==x"),
            Err(ConstraintError::InvalidKey("n@de".into()))
        );
        assert_eq!(
            parse_constraint("==x"),
            Err(ConstraintError::InvalidKey("".into()))
        );
        assert_eq!(
            parse_constraint("node.role==<x>"),
            Err(ConstraintError::InvalidValue("<x>".into()))
        );
        assert_eq!(
            parse_constraint("node.role=="),
            Err(ConstraintError::InvalidValue("".into()))
        );
        assert_eq!(
            parse_constraint("node.color==red"),
            Err(ConstraintError::UnsupportedKey("node.color".into()))
        );
        assert_eq!(
            parse_constraint("node.labels.==x"),
            Err(ConstraintError::UnsupportedKey("node.labels.".into()))
        );
    }

    #[test]
    fn matching_is_case_insensitive_and_missing_is_empty() {
        let eq = parse_constraint("node.role==Manager").unwrap();
        assert!(eq.matches(Some("manager")));
        assert!(!eq.matches(None));
        let ne = parse_constraint("node.labels.zone!=a").unwrap();
        assert!(ne.matches(None));
        assert!(!ne.matches(Some("A")));
    }
}
