//! Server-side apply (`application/apply-patch+yaml`), after structured-merge-diff:
//! the applied object is the manager's whole intent. Its fields are merged over the live
//! object, fields the manager applied before but omits now are removed (unless another manager
//! owns them too), and changing a field another manager owns is a conflict unless forced.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use thiserror::Error;

use super::fields::{join, list_elements, remove_at, tracked_fields_of, FieldSchema, ListType};
use super::fieldset::{path_string, FieldPath, FieldSet, PathElement};
use super::last_applied::{is_last_applied, sync_last_applied};
use super::managed::{
    compare, find_owner, owners, set_managed_fields, settle, upsert, ManagedFieldsEntry, Operation,
    WriteContext,
};

/// `reason` of each Status cause for an apply conflict.
pub const CONFLICT_CAUSE_REASON: &str = "FieldManagerConflict";

/// A field another manager owns and this apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub subresource: Option<String>,
    /// Kubernetes' path rendering, e.g. `.spec.replicas`: the Status cause `field`.
    pub field: String,
}

impl Conflict {
    /// `"kubectl-client-side-apply" using flotilla.dev/v1alpha1` for Update managers, just
    /// `"name"` for appliers, with ` with subresource "status"` when relevant.
    pub fn manager_display(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    /// The Status cause `message`: `conflict with "kubectl-client-side-apply" using …`.
    pub fn message(&self) -> String {
        format!("conflict with {}", self.manager_display())
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// 409 Conflict with one `FieldManagerConflict` cause per conflict.
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The body is not a YAML/JSON object with apiVersion, kind and metadata.name (400).
    #[error("invalid apply patch: {0}")]
    InvalidBody(String),
}

/// Kubernetes' wording: one conflict inline, several grouped per manager.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: {}: {}",
            only.message(),
            only.field
        );
    }
    let mut by_manager: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry(c.manager_display())
            .or_default()
            .push(&c.field);
    }
    let mut lines = Vec::new();
    for (manager, fields) in by_manager {
        lines.push(format!("conflicts with {manager}"));
        lines.extend(fields.into_iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Parses an apply body: JSON (what kubectl and kube-rs send) or YAML.
pub fn parse_apply_body(body: &[u8]) -> Result<Value, ApplyError> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => serde_yaml_ng::from_slice(body)
            .map_err(|e| ApplyError::InvalidBody(format!("error decoding YAML: {e}")))?,
    };
    let field = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    if !value.is_object() {
        return Err(ApplyError::InvalidBody("the body must be an object".into()));
    }
    for (pointer, name) in [
        ("/apiVersion", "apiVersion"),
        ("/kind", "kind"),
        ("/metadata/name", "metadata.name"),
    ] {
        if field(pointer).is_empty() {
            return Err(ApplyError::InvalidBody(format!("{name} must be set")));
        }
    }
    Ok(value)
}

/// Applies with default list semantics on the main resource; see [`apply_with`].
#[cfg(test)]
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    managed_fields: &[ManagedFieldsEntry],
    api_version: &str,
    now: &str,
) -> Result<(Value, Vec<ManagedFieldsEntry>), ApplyError> {
    let schema = FieldSchema::default();
    let ctx = WriteContext {
        manager,
        api_version,
        now,
        subresource: None,
        schema: &schema,
    };
    apply_with(live, applied, force, managed_fields, &ctx)
}

/// Server-side apply of `applied` by `ctx.manager` over `live` (None: create). Returns the new
/// object, with `metadata.managedFields` already set to the returned entries.
/// `null` values in `applied` count as omitted; its `metadata.managedFields` is ignored.
pub fn apply_with(
    live: Option<&Value>,
    applied: &Value,
    force: bool,
    managed_fields: &[ManagedFieldsEntry],
    ctx: &WriteContext,
) -> Result<(Value, Vec<ManagedFieldsEntry>), ApplyError> {
    let applied = intent_of(applied)?;
    let empty = Value::Object(Map::new());
    let live = live.unwrap_or(&empty);
    let applied_set = tracked_fields_of(&applied, ctx.schema, ctx.subresource);
    let mut owners = owners(managed_fields);
    let me = find_owner(&owners, ctx, Operation::Apply);
    let last = me.and_then(|i| owners[i].set.clone()).unwrap_or_default();
    let others: FieldSet = owners
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != me)
        .filter_map(|(_, o)| o.set.as_ref())
        .fold(FieldSet::new(), |acc, set| acc.union(set));

    let mut new = live.clone();
    merge_value(&mut new, &applied, "", ctx.schema);
    prune(
        &mut new,
        &last.difference(&applied_set),
        &applied_set,
        &others,
    );

    let changes = compare(live, &new, ctx);
    let conflicts = conflicts(&owners, me, &changes.changed);
    if !force && !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    for (i, owner) in owners.iter_mut().enumerate() {
        if Some(i) != me {
            owner.lose(&changes);
        }
    }
    upsert(&mut owners, me, ctx, Operation::Apply, applied_set);
    let entries = settle(managed_fields, owners, changes.is_empty());
    set_managed_fields(&mut new, &entries);
    sync_last_applied(&mut new, &applied, ctx.manager);
    Ok((new, entries))
}

/// The applied object without nulls and without managedFields.
fn intent_of(applied: &Value) -> Result<Value, ApplyError> {
    fn strip_nulls(value: &mut Value) {
        if let Value::Object(map) = value {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
    }
    if !applied.is_object() {
        return Err(ApplyError::InvalidBody("the body must be an object".into()));
    }
    let mut intent = applied.clone();
    strip_nulls(&mut intent);
    if let Some(meta) = intent.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    Ok(intent)
}

/// Merges `applied` into `target`: objects recursively, set lists by union, map lists item by
/// item (matched by key), atomic lists and scalars by replacement.
fn merge_value(target: &mut Value, applied: &Value, schema_path: &str, schema: &FieldSchema) {
    match applied {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let Value::Object(target) = target else {
                return;
            };
            for (name, value) in fields {
                let slot = target.entry(name.as_str()).or_insert(Value::Null);
                merge_value(slot, value, &join(schema_path, name), schema);
            }
        }
        Value::Array(items) => merge_list(target, items, schema_path, schema),
        scalar => *target = scalar.clone(),
    }
}

fn merge_list(target: &mut Value, items: &[Value], schema_path: &str, schema: &FieldSchema) {
    let list_type = schema.list_type(schema_path);
    let merges = matches!(list_type, ListType::Set | ListType::Map(_));
    let (Value::Array(live), true) = (&mut *target, merges) else {
        *target = Value::Array(items.to_vec());
        return;
    };
    let (Some(live_elements), Some(elements)) = (
        list_elements(live, list_type),
        list_elements(items, list_type),
    ) else {
        *target = Value::Array(items.to_vec());
        return;
    };
    for (element, item) in elements.into_iter().zip(items) {
        match live_elements.iter().position(|e| *e == element) {
            Some(i) => merge_value(&mut live[i], item, schema_path, schema),
            None => live.push(item.clone()),
        }
    }
}

/// Removes fields the manager stopped applying, unless still applied below that path (e.g. a
/// leaf became an object), owned by another manager, or a key field of a list item that stays.
fn prune(new: &mut Value, dropped: &FieldSet, applied: &FieldSet, others: &FieldSet) {
    let removable: Vec<&FieldPath> = dropped
        .iter()
        .filter(|p| !applied.has_at_or_below(p) && !others.has_at_or_below(p) && !is_key_field(p))
        .collect();
    for path in removable.into_iter().rev() {
        remove_at(new, path);
    }
}

fn is_key_field(path: &[PathElement]) -> bool {
    match path {
        [.., PathElement::Key(key), PathElement::Field(name)] => {
            serde_json::from_str::<Map<String, Value>>(key).is_ok_and(|k| k.contains_key(name))
        }
        _ => false,
    }
}

fn conflicts(
    owners: &[super::managed::Owner],
    me: Option<usize>,
    changed: &FieldSet,
) -> Vec<Conflict> {
    let mut out = Vec::new();
    for (i, owner) in owners.iter().enumerate() {
        let Some(set) = owner.set.as_ref().filter(|_| Some(i) != me) else {
            continue;
        };
        for path in set
            .intersection(changed)
            .iter()
            .filter(|p| !is_last_applied(p))
        {
            out.push(Conflict {
                manager: owner.entry.manager.clone(),
                operation: owner.entry.operation,
                api_version: owner.entry.api_version.clone(),
                subresource: owner.entry.subresource.clone(),
                field: path_string(path),
            });
        }
    }
    out
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
