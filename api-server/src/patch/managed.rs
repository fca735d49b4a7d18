//! `metadata.managedFields` bookkeeping: the entry type, reading/writing it on objects, and
//! recording non-apply writes (POST/PUT/PATCH record an "Update" entry for their fieldManager).
//!
//! What is tracked: everything except [`ALWAYS_IGNORED`](super::fields::ALWAYS_IGNORED), and
//! except `status` for main-resource writes; writes through the `status` subresource track only
//! `status` (the rest of such a write is reset by the server anyway).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use super::fields::{tracked_fields_of, value_at, FieldSchema};
use super::fieldset::{FieldSet, PathElement};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ManagedFieldsError {
    #[error("metadata.managedFields: {0}")]
    Invalid(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    Apply,
    Update,
}

/// One `metadata.managedFields` entry, serialized exactly like Kubernetes'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedFieldsEntry {
    pub manager: String,
    pub operation: Operation,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default = "fields_v1_type")]
    pub fields_type: String,
    #[serde(rename = "fieldsV1", default = "empty_object")]
    pub fields_v1: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
}

impl ManagedFieldsEntry {
    /// The entry as JSON, as its `Serialize` writes it, without a serializer pass over the
    /// (large) fieldsV1 tree, which is moved.
    pub fn into_value(self) -> Value {
        let mut map = serde_json::Map::new();
        let mut put = |k: &str, v: Value| {
            map.insert(k.to_string(), v);
        };
        put("manager", Value::String(self.manager));
        put(
            "operation",
            serde_json::to_value(self.operation).expect("an enum serializes"),
        );
        if !self.api_version.is_empty() {
            put("apiVersion", Value::String(self.api_version));
        }
        if let Some(time) = self.time {
            put("time", Value::String(time));
        }
        put("fieldsType", Value::String(self.fields_type));
        put("fieldsV1", self.fields_v1);
        if let Some(sub) = self.subresource {
            put("subresource", Value::String(sub));
        }
        Value::Object(map)
    }
}

fn fields_v1_type() -> String {
    "FieldsV1".to_string()
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Who is writing, and how: shared by [`record_update_with`] and `apply_with`.
#[derive(Clone, Copy, Debug)]
pub struct WriteContext<'a> {
    /// The `fieldManager` query parameter (or the User-Agent-derived default).
    pub manager: &'a str,
    /// The apiVersion of the request, e.g. `flotilla.dev/v1alpha1`.
    pub api_version: &'a str,
    /// RFC 3339 time recorded in the entry, e.g. `2026-11-25T08:00:00Z`.
    pub now: &'a str,
    /// `Some("status")` for writes through the status subresource.
    pub subresource: Option<&'a str>,
    /// List semantics, usually `FieldSchema::from_openapi(&resource.schema)`.
    pub schema: &'a FieldSchema,
}

/// Reads `metadata.managedFields` (absent means none).
pub fn managed_fields_of(obj: &Value) -> Result<Vec<ManagedFieldsEntry>, ManagedFieldsError> {
    match obj.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => Ok(Vec::new()),
        // Read from the borrowed tree: cloning the list first would copy every fieldsV1 twice.
        Some(list) => Vec::<ManagedFieldsEntry>::deserialize(list)
            .map_err(|e| ManagedFieldsError::Invalid(e.to_string())),
    }
}

/// Writes `metadata.managedFields`, removing the key when there are no entries.
pub fn set_managed_fields(obj: &mut Value, entries: &[ManagedFieldsEntry]) {
    put_managed_fields(obj, entries.to_vec());
}

/// [`set_managed_fields`], moving the entries in.
pub fn put_managed_fields(obj: &mut Value, entries: Vec<ManagedFieldsEntry>) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        let list = entries
            .into_iter()
            .map(ManagedFieldsEntry::into_value)
            .collect();
        meta.insert("managedFields".to_string(), Value::Array(list));
    }
}

/// Records a non-apply write (`Update`) by `manager`; see [`record_update_with`].
#[cfg(test)]
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    subresource: Option<&str>,
    api_version: &str,
    now: &str,
    entries: &[ManagedFieldsEntry],
) -> Vec<ManagedFieldsEntry> {
    let schema = FieldSchema::default();
    let ctx = WriteContext {
        manager,
        api_version,
        now,
        subresource,
        schema: &schema,
    };
    record_update_with(old, new, entries, &ctx)
}

/// The managedFields after a POST/PUT/PATCH from `old` (None on create) to `new`: the writer's
/// "Update" entry gains the fields it added or changed and loses the ones it removed; other
/// managers lose ownership of every field this write changed or removed. Entries left with no
/// fields are dropped, as Kubernetes does. Entries whose fieldsV1 cannot be read are kept as-is.
pub fn record_update_with(
    old: Option<&Value>,
    new: &Value,
    entries: &[ManagedFieldsEntry],
    ctx: &WriteContext,
) -> Vec<ManagedFieldsEntry> {
    if old.is_none() && entries.is_empty() {
        return first_entry(new, ctx);
    }
    let empty = empty_object();
    let old = old.unwrap_or(&empty);
    let changes = compare(old, new, ctx);
    if changes.is_empty() {
        // A no-op write leaves managedFields (timestamps included) alone, so it stays a no-op.
        return entries.to_vec();
    }
    let mine = |e: &ManagedFieldsEntry| same_manager(e, ctx, Operation::Update);
    // Only the writer's entry and those that own a changed field are decoded (a status write
    // leaves the large spec entries of other managers as they were).
    let mut owners = owners_where(entries, |e| mine(e) || may_own_any(&e.fields_v1, &changes));
    let me = find_owner(&owners, ctx, Operation::Update);
    for (i, owner) in owners.iter_mut().enumerate() {
        if Some(i) != me {
            owner.lose(&changes);
        }
    }
    let mut set = me.and_then(|i| owners[i].set.take()).unwrap_or_default();
    set.retain(|p| !changes.removed.contains(p));
    set.extend(changes.changed);
    upsert(&mut owners, me, ctx, Operation::Update, set);
    settle(entries, owners, false)
}

/// A create's managedFields: one Update entry owning every field it set (none if it set none).
fn first_entry(new: &Value, ctx: &WriteContext) -> Vec<ManagedFieldsEntry> {
    let fields_v1 = super::fields_v1::fields_v1_of(new, ctx.schema, ctx.subresource);
    if fields_v1.as_object().is_some_and(|f| f.is_empty()) {
        return Vec::new();
    }
    vec![new_entry(ctx, Operation::Update, fields_v1)]
}

/// The entry `ctx`'s manager gets for a write now.
fn new_entry(ctx: &WriteContext, operation: Operation, fields_v1: Value) -> ManagedFieldsEntry {
    ManagedFieldsEntry {
        manager: ctx.manager.to_string(),
        operation,
        api_version: ctx.api_version.to_string(),
        time: Some(ctx.now.to_string()),
        fields_type: fields_v1_type(),
        fields_v1,
        subresource: ctx.subresource.map(str::to_string),
    }
}

/// The fields a write through `subresource` is accountable for.
#[cfg(test)]
pub(crate) fn tracked(mut set: FieldSet, subresource: Option<&str>) -> FieldSet {
    let status = [PathElement::field("status")];
    match subresource {
        Some("status") => set.retain(|p| p.starts_with(&status)),
        _ => set.retain(|p| !p.starts_with(&status)),
    }
    set
}

/// What a write did, at leaf granularity.
pub(crate) struct Changes {
    /// Fields added or given a different value.
    pub changed: FieldSet,
    pub removed: FieldSet,
}

pub(crate) fn compare(old: &Value, new: &Value, ctx: &WriteContext) -> Changes {
    let before = tracked_fields_of(old, ctx.schema, ctx.subresource);
    let mut changed = tracked_fields_of(new, ctx.schema, ctx.subresource);
    let removed = before.filtered(|p| !changed.contains(p));
    // Changed: new fields, and common ones with a different value (a list-map item's own
    // membership changes only by adding or removing it).
    changed.retain(|p| {
        !before.contains(p)
            || (!matches!(p.last(), Some(PathElement::Key(_)))
                && value_at(old, p) != value_at(new, p))
    });
    Changes { changed, removed }
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

/// The final entries: `old` itself when the object did not change and the entries differ only in
/// timestamps (kube-apiserver keeps the old ones, so a no-op stays a no-op); otherwise the new
/// entries in Kubernetes' order (Apply before Update, then by time, manager, apiVersion,
/// subresource).
pub(crate) fn settle(
    old: &[ManagedFieldsEntry],
    owners: Vec<Owner>,
    object_unchanged: bool,
) -> Vec<ManagedFieldsEntry> {
    let mut new = finish(owners);
    let same = || old.len() == new.len() && old.iter().zip(&new).all(|(a, b)| same_untimed(a, b));
    if object_unchanged && same() {
        return old.to_vec();
    }
    new.sort_by(|p, q| sort_key(p).cmp(&sort_key(q)));
    new
}

/// Equal but for their times (compared field by field: the fieldsV1 trees are large).
fn same_untimed(a: &ManagedFieldsEntry, b: &ManagedFieldsEntry) -> bool {
    a.manager == b.manager
        && a.operation == b.operation
        && a.api_version == b.api_version
        && a.fields_type == b.fields_type
        && a.subresource == b.subresource
        && a.fields_v1 == b.fields_v1
}

fn sort_key(e: &ManagedFieldsEntry) -> (bool, &str, &str, &str, &str) {
    (
        e.operation == Operation::Update,
        e.time.as_deref().unwrap_or(""),
        &e.manager,
        &e.api_version,
        e.subresource.as_deref().unwrap_or(""),
    )
}

/// An entry with its decoded field set (`None` when its fieldsV1 is unreadable).
pub(crate) struct Owner {
    pub entry: ManagedFieldsEntry,
    pub set: Option<FieldSet>,
    /// Whether `set` differs from the entry's fieldsV1 (an untouched entry is kept as it was).
    touched: bool,
}

impl Owner {
    pub fn lose(&mut self, changes: &Changes) {
        if let Some(set) = &mut self.set {
            let before = set.len();
            set.retain(|p| !changes.changed.contains(p) && !changes.removed.contains(p));
            self.touched |= set.len() != before;
        }
    }
}

pub(crate) fn owners(entries: &[ManagedFieldsEntry]) -> Vec<Owner> {
    owners_where(entries, |_| true)
}

/// The owners, with the field sets of those `decode` picks; the others are kept as they are
/// (as an unreadable entry is), which is right only for entries this write cannot change.
fn owners_where(
    entries: &[ManagedFieldsEntry],
    decode: impl Fn(&ManagedFieldsEntry) -> bool,
) -> Vec<Owner> {
    entries
        .iter()
        .map(|entry| Owner {
            entry: entry.clone(),
            set: decode(entry)
                .then(|| FieldSet::from_fields_v1(&entry.fields_v1).ok())
                .flatten(),
            touched: false,
        })
        .collect()
}

/// Whether `fields_v1` may hold a changed or removed path. Exact for paths of object fields,
/// which a status write's are; any other path (list items, whose keys the tree may spell
/// differently), an empty tree (dropped once decoded) or a tree that is not an object answers
/// yes, so the entry is decoded.
fn may_own_any(fields_v1: &Value, changes: &Changes) -> bool {
    fields_v1.as_object().is_none_or(Map::is_empty)
        || (changes.changed.iter())
            .chain(changes.removed.iter())
            .any(|path| may_own(fields_v1, path))
}

fn may_own(fields_v1: &Value, path: &[PathElement]) -> bool {
    let mut node = fields_v1;
    let mut key = String::new();
    for element in path {
        let PathElement::Field(_) = element else {
            return true;
        };
        key.clear();
        element.encode_into(&mut key);
        node = match node.as_object() {
            None => return true,
            Some(obj) => match obj.get(&key) {
                None => return false,
                Some(child) => child,
            },
        };
    }
    // A path is in the set when its node is a leaf (`{}`) or marks itself with ".".
    node.as_object()
        .is_none_or(|obj| obj.is_empty() || obj.contains_key("."))
}

/// Kubernetes identifies Apply managers by name and subresource, Update managers also by
/// apiVersion.
pub(crate) fn find_owner(owners: &[Owner], ctx: &WriteContext, op: Operation) -> Option<usize> {
    owners.iter().position(|o| same_manager(&o.entry, ctx, op))
}

fn same_manager(e: &ManagedFieldsEntry, ctx: &WriteContext, op: Operation) -> bool {
    e.manager == ctx.manager
        && e.operation == op
        && e.subresource.as_deref() == ctx.subresource
        && (op == Operation::Apply || e.api_version == ctx.api_version)
}

pub(crate) fn upsert(
    owners: &mut Vec<Owner>,
    index: Option<usize>,
    ctx: &WriteContext,
    operation: Operation,
    set: FieldSet,
) {
    let owner = Owner {
        entry: new_entry(ctx, operation, empty_object()),
        set: Some(set),
        touched: true,
    };
    match index {
        Some(i) => owners[i] = owner,
        None => owners.push(owner),
    }
}

fn finish(owners: Vec<Owner>) -> Vec<ManagedFieldsEntry> {
    owners
        .into_iter()
        .filter_map(|owner| match owner.set {
            None => Some(owner.entry),
            Some(set) if set.is_empty() => None,
            Some(_) if !owner.touched => Some(owner.entry),
            Some(set) => Some(ManagedFieldsEntry {
                fields_v1: set.to_fields_v1(),
                ..owner.entry
            }),
        })
        .collect()
}

#[cfg(test)]
#[path = "managed_tests.rs"]
mod tests;
