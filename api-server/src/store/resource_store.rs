//! Objects in etcd: key layout, encryption at rest, resourceVersion, and Kubernetes'
//! GuaranteedUpdate loop (read, decide, compare-and-swap, retry on a lost race).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::registry::ResourceInfo;
use crate::security::encryption::Transformers;
use crate::storage::{CasOutcome, KeyValue, ListResult, Store};
use crate::store::decoded::{Decoded, LineKind, Selectable};
use crate::store::encoded::Encoded;
use crate::store::metadata;
use crate::wire::errors::{ApiError, Result};

/// The largest object stored, encoded (and sealed): etcd's default `--max-request-bytes`
/// (1.5 MiB) less room for the key and the request around it. Past it a write is a 413, never
/// etcd's "request is too large" as a 500.
pub const MAX_STORED_BYTES: usize = 1536 * 1024 - 4096;

/// How many times a lost compare-and-swap race is retried before giving up.
const CAS_RETRIES: usize = 16;

/// The store as resources see it.
#[derive(Clone)]
pub struct ResourceStore {
    pub store: Arc<dyn Store>,
    prefix: String,
    transformers: Arc<Transformers>,
}

/// What an update function decided.
pub enum Decision {
    /// Write this object.
    Write(Value),
    /// Delete the object (finalizers emptied on a deleting object).
    Delete(Value),
    /// Nothing to do: answer with this object.
    Keep(Value),
}

impl ResourceStore {
    pub fn new(store: Arc<dyn Store>, prefix: &str, transformers: Arc<Transformers>) -> Self {
        ResourceStore {
            store,
            prefix: prefix.trim_end_matches('/').to_string(),
            transformers,
        }
    }

    /// `/registry/<group>/<plural>/` (built-in groups omit the group, like kube-apiserver).
    pub fn resource_prefix(&self, info: &ResourceInfo) -> String {
        match info.group.as_str() {
            "" | "coordination.k8s.io" | "events.k8s.io" => {
                format!("{}/{}/", self.prefix, info.plural)
            }
            g => format!("{}/{}/{}/", self.prefix, g, info.plural),
        }
    }

    pub fn collection_prefix(&self, info: &ResourceInfo, ns: Option<&str>) -> String {
        match ns {
            Some(ns) if info.namespaced => format!("{}{}/", self.resource_prefix(info), ns),
            _ => self.resource_prefix(info),
        }
    }

    pub fn key(&self, info: &ResourceInfo, ns: Option<&str>, name: &str) -> String {
        match ns {
            Some(ns) if info.namespaced => format!("{}{}/{}", self.resource_prefix(info), ns, name),
            _ => format!("{}{}", self.resource_prefix(info), name),
        }
    }

    /// The key of `obj`, from its own namespace and name.
    pub fn key_of(&self, info: &ResourceInfo, obj: &Value) -> String {
        let ns = obj["metadata"]["namespace"].as_str();
        self.key(info, ns, metadata::name_of(obj))
    }

    /// Decodes (and decrypts) a stored value.
    pub fn decode(&self, info: &ResourceInfo, kv: &KeyValue) -> Result<Value> {
        self.decode_checked(info, kv).map(|(obj, _)| obj)
    }

    /// Decodes a stored value and tells whether it is stale: written with an encryption key or
    /// provider that is no longer the primary one, so the next update must rewrite it.
    fn decode_checked(&self, info: &ResourceInfo, kv: &KeyValue) -> Result<(Value, bool)> {
        let (plain, stale) = if info.encrypted {
            self.transformers
                .transform_from_storage(&info.group_resource(), &kv.key, &kv.value)
                .map_err(|e| ApiError::Internal(format!("decrypting {}: {e}", kv.key)))?
        } else {
            (kv.value.to_vec(), false)
        };
        let obj = metadata::from_storage(&plain, kv.mod_revision)?;
        let obj = crate::store::event_convert::for_api(info.strategy(), obj);
        Ok((obj, stale))
    }

    /// What etcd stores (sealed when the resource is encrypted), and the plain encoding the
    /// write's answer is made from.
    fn encode(&self, info: &ResourceInfo, key: &str, obj: &Value) -> Result<(Bytes, Encoded)> {
        let encoded = Encoded::of(obj);
        let stored = match info.encrypted {
            false => encoded.storage().clone(),
            true => Bytes::from(
                self.transformers
                    .transform_to_storage(&info.group_resource(), key, encoded.storage())
                    .map_err(|e| ApiError::Internal(format!("encrypting {key}: {e}")))?,
            ),
        };
        if stored.len() > MAX_STORED_BYTES {
            return Err(ApiError::TooLarge(format!(
                "the object is {} bytes as stored; the limit is {MAX_STORED_BYTES}",
                stored.len()
            )));
        }
        Ok((stored, encoded))
    }

    pub async fn get(&self, info: &ResourceInfo, ns: Option<&str>, name: &str) -> Result<Value> {
        let key = self.key(info, ns, name);
        match self.store.get(&key).await? {
            Some(kv) => self.decode(info, &kv),
            None => Err(not_found(info, name)),
        }
    }

    pub async fn list(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        start: &str,
        revision: i64,
        limit: i64,
    ) -> Result<(Vec<Value>, ListResult)> {
        let res = self.list_stored(info, ns, start, revision, limit).await?;
        let items = res
            .items
            .iter()
            .map(|kv| self.decode(info, kv))
            .collect::<Result<Vec<_>>>()?;
        Ok((items, res))
    }

    /// [`ResourceStore::list`] as stored: each value is decoded by the caller, one at a time.
    pub async fn list_stored(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        start: &str,
        revision: i64,
        limit: i64,
    ) -> Result<ListResult> {
        let prefix = self.collection_prefix(info, ns);
        Ok(self.store.list(&prefix, start, revision, limit).await?)
    }

    /// Stores a new object; `dry_run` does everything but the write.
    pub async fn create(&self, info: &ResourceInfo, obj: Value, dry_run: bool) -> Result<Decoded> {
        let name = metadata::name_of(&obj).to_string();
        let key = self.key_of(info, &obj);
        let (bytes, encoded) = self.encode(info, &key, &obj)?;
        if dry_run {
            if self.store.get(&key).await?.is_some() {
                return Err(already_exists(info, &name));
            }
            return Ok(Decoded::new(obj));
        }
        let selectable = Selectable::of(&obj);
        drop(obj); // freed before the round trip: the answer and the cache use `encoded`
        match self.store.create(&key, bytes).await {
            Ok(rev) => Ok(written(&encoded, rev, LineKind::Added, selectable)),
            Err(crate::storage::StoreError::AlreadyExists { .. }) => {
                Err(already_exists(info, &name))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// GuaranteedUpdate (`decide` sees the current object and returns what to do; a lost race
    /// re-reads and decides again), starting from `guess` (the watch cache's copy) instead of a
    /// read: the compare-and-swap catches a stale guess, whose answer then carries the current
    /// value, so an update usually costs one etcd round trip instead of two. Also tells whether
    /// the object was stored (not deleted, answered without a write, or a dry run).
    pub async fn update_from<F>(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        dry_run: bool,
        guess: Option<Current>,
        mut decide: F,
    ) -> Result<(Decoded, bool)>
    where
        F: FnMut(&Value) -> Result<Decision>,
    {
        let key = self.key(info, ns, name);
        // Whether an encrypted value must be rewritten shows only in its stored bytes.
        let mut current = match guess.filter(|_| !info.encrypted) {
            Some(guess) => guess,
            None => self.read_current(info, &key, name).await?,
        };
        for _ in 0..CAS_RETRIES {
            let attempt = self
                .attempt(info, &key, &current, dry_run, &mut decide)
                .await;
            current = match attempt {
                Ok(Attempt::Written(obj)) => return Ok((obj, true)),
                Ok(Attempt::Deleted(obj)) => return Ok((Decoded::new(obj), false)),
                // An answer or an error decided on a guess may be an artefact of its staleness:
                // decide again on what etcd holds (kube-apiserver does the same).
                Ok(Attempt::Answered(_)) | Err(_) if current.guess => {
                    self.read_current(info, &key, name).await?
                }
                Ok(Attempt::Answered(obj)) => return Ok((Decoded::new(obj), false)),
                Err(e) => return Err(e),
                Ok(Attempt::Stale(None)) => return Err(not_found(info, name)),
                Ok(Attempt::Stale(Some(kv))) => self.current_of(info, &kv)?,
            };
        }
        Err(ApiError::Conflict {
            resource: info.group_resource(),
            name: name.to_string(),
            message: "too many concurrent writers; please retry".into(),
        })
    }

    async fn read_current(&self, info: &ResourceInfo, key: &str, name: &str) -> Result<Current> {
        let kv = self
            .store
            .get(key)
            .await?
            .ok_or_else(|| not_found(info, name))?;
        self.current_of(info, &kv)
    }

    fn current_of(&self, info: &ResourceInfo, kv: &KeyValue) -> Result<Current> {
        let (obj, stale) = self.decode_checked(info, kv)?;
        Ok(Current {
            mod_revision: kv.mod_revision,
            obj: Arc::new(Decoded::new(obj)),
            stale,
            guess: false,
        })
    }

    /// One decision and, if it writes, one compare-and-swap.
    async fn attempt<F>(
        &self,
        info: &ResourceInfo,
        key: &str,
        current: &Current,
        dry_run: bool,
        decide: &mut F,
    ) -> Result<Attempt>
    where
        F: FnMut(&Value) -> Result<Decision>,
    {
        let base = current.obj.obj();
        let outcome = match decide(&base)? {
            Decision::Keep(obj) => return Ok(Attempt::Answered(obj)),
            // A no-op update keeps the RV and emits no event, unless the stored value is
            // stale: rewriting it is how encryption keys are rotated (kube-apiserver does the same).
            Decision::Write(obj)
                if !current.stale && crate::store::encoded::same_in_storage(&obj, &base) =>
            {
                return Ok(Attempt::Answered(base.into_owned()));
            }
            Decision::Write(obj) | Decision::Delete(obj) if dry_run => {
                return Ok(Attempt::Answered(obj))
            }
            Decision::Write(obj) => {
                drop(base); // a decoded tree, not held across the round trip
                let (bytes, encoded) = self.encode(info, key, &obj)?;
                let selectable = Selectable::of(&obj);
                drop(obj);
                match self.store.update(key, bytes, current.mod_revision).await? {
                    CasOutcome::Done { revision } => {
                        return Ok(Attempt::Written(written(
                            &encoded,
                            revision,
                            LineKind::Modified,
                            selectable,
                        )))
                    }
                    CasOutcome::Stale { current } => current,
                }
            }
            Decision::Delete(obj) => match self.store.delete(key, current.mod_revision).await? {
                CasOutcome::Done { revision } => {
                    return Ok(Attempt::Deleted(metadata::with_rv(obj, revision)))
                }
                CasOutcome::Stale { current } => current,
            },
        };
        Ok(Attempt::Stale(outcome))
    }
}

/// The object an update starts from.
pub struct Current {
    mod_revision: i64,
    /// Shared with the watch cache when taken from it: each attempt's decision gets one copy.
    obj: Arc<Decoded>,
    /// Stored under an encryption key that is no longer the primary one: rewrite even if unchanged.
    stale: bool,
    /// Taken from the watch cache rather than read from etcd.
    guess: bool,
}

impl Current {
    /// The watch cache's copy of an object, as a first guess for an update.
    pub fn cached(mod_revision: i64, obj: Arc<Decoded>) -> Current {
        Current {
            mod_revision,
            obj,
            stale: false,
            guess: true,
        }
    }
}

enum Attempt {
    /// Stored: final.
    Written(Decoded),
    /// Deleted: final.
    Deleted(Value),
    /// Answered without a write (no-op, `Keep`, dry run).
    Answered(Value),
    /// The compare-and-swap lost; the key's present value, if any.
    Stale(Option<KeyValue>),
}

/// The object as stored at `rev`: its JSON spliced from the stored encoding into its watch line
/// of `kind` (the tree of the write is dropped; see [`Decoded`]), with what selectors read of it.
fn written(encoded: &Encoded, rev: i64, kind: LineKind, selectable: Selectable) -> Decoded {
    let (line, json) = encoded.line_with_rv(kind.as_str(), &rev.to_string());
    Decoded::written_line(line, json, kind, rev, selectable)
}

pub fn not_found(info: &ResourceInfo, name: &str) -> ApiError {
    ApiError::NotFound {
        resource: info.group_resource(),
        name: name.to_string(),
    }
}

pub fn already_exists(info: &ResourceInfo, name: &str) -> ApiError {
    ApiError::AlreadyExists {
        resource: info.group_resource(),
        name: name.to_string(),
    }
}

#[cfg(test)]
#[path = "resource_store_tests.rs"]
mod tests;
