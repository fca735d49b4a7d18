//! The worker join token's secret and node-name claims, kept in the store (Swarm keeps its join
//! tokens in its Raft store), so that every api-server replica checks the same secret and a
//! rotation on one is seen by all at once.
//!
//! Keys: `<prefix>/join.flotilla.dev/tokens/worker` holds `{"secret", "retired"}`, where
//! `retired` lists the SHA-256 of earlier secrets (so a rotated token is told apart from a wrong
//! one, and a restarted api-server does not bring a rotated `--join-token-file` back);
//! `<prefix>/join.flotilla.dev/claims/<node>` holds the time a join was approved for that name.

use std::sync::Arc;

use bytes::Bytes;
use flotilla_api::join::{is_valid_secret, secret_digest, secrets_equal, SECRET_LEN};
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::storage::{CasOutcome, KeyValue, Store, StoreError};

/// How many retired secrets are remembered.
const RETIRED_KEPT: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum TokenStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored join token record {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
}

/// What a presented secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    Valid,
    /// It was valid once and has been rotated away.
    Rotated,
    Wrong,
}

/// What adopting a `--join-token-file` secret did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopted {
    AlreadyCurrent,
    /// It replaced the stored secret (which is now retired).
    Installed,
    /// It was rotated away earlier; the stored secret stays.
    Rotated,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Record {
    secret: String,
    #[serde(default)]
    retired: Vec<String>,
}

impl Record {
    fn replaced_by(&self, secret: String) -> Record {
        let mut retired = self.retired.clone();
        retired.push(secret_digest(&self.secret));
        let excess = retired.len().saturating_sub(RETIRED_KEPT);
        retired.drain(..excess);
        Record { secret, retired }
    }

    fn is_retired(&self, secret: &str) -> bool {
        let digest = secret_digest(secret);
        self.retired.contains(&digest)
    }
}

/// A fresh secret: [`SECRET_LEN`] lowercase alphanumerics.
pub fn new_secret() -> String {
    Alphanumeric
        .sample_string(&mut rand::rng(), SECRET_LEN)
        .to_lowercase()
}

/// The worker token's secret and the node-name claims, over the api-server's store.
#[derive(Clone)]
pub struct JoinTokens {
    store: Arc<dyn Store>,
    key: String,
    claims: String,
}

impl JoinTokens {
    pub fn new(store: Arc<dyn Store>, prefix: &str) -> JoinTokens {
        let base = format!("{}/join.flotilla.dev", prefix.trim_end_matches('/'));
        JoinTokens {
            store,
            key: format!("{base}/tokens/worker"),
            claims: format!("{base}/claims/"),
        }
    }

    async fn read(&self) -> Result<Option<(Record, i64)>, TokenStoreError> {
        let Some(kv) = self.store.get(&self.key).await? else {
            return Ok(None);
        };
        Ok(Some((self.decode(&kv)?, kv.mod_revision)))
    }

    fn decode(&self, kv: &KeyValue) -> Result<Record, TokenStoreError> {
        serde_json::from_slice(&kv.value).map_err(|e| TokenStoreError::Corrupt {
            key: self.key.clone(),
            reason: e.to_string(),
        })
    }

    /// Replaces the record with `change(current)` (created when absent), retrying on races.
    /// `change` returning `None` leaves it as it is. Returns the record now stored.
    async fn modify(
        &self,
        mut change: impl FnMut(Option<&Record>) -> Option<Record>,
    ) -> Result<Record, TokenStoreError> {
        loop {
            let current = self.read().await?;
            let Some(next) = change(current.as_ref().map(|(r, _)| r)) else {
                return Ok(current.map(|(r, _)| r).unwrap_or_default());
            };
            let value = Bytes::from(serde_json::to_vec(&next).expect("a record serializes"));
            match current {
                None => match self.store.create(&self.key, value).await {
                    Ok(_) => return Ok(next),
                    Err(StoreError::AlreadyExists { .. }) => continue,
                    Err(e) => return Err(e.into()),
                },
                Some((_, rev)) => match self.store.update(&self.key, value, rev).await? {
                    CasOutcome::Done { .. } => return Ok(next),
                    CasOutcome::Stale { .. } => continue,
                },
            }
        }
    }

    /// The current secret, generated on first use.
    pub async fn current(&self) -> Result<String, TokenStoreError> {
        let record = self
            .modify(|current| match current {
                Some(_) => None,
                None => Some(Record {
                    secret: new_secret(),
                    retired: vec![],
                }),
            })
            .await?;
        Ok(record.secret)
    }

    /// Replaces the secret with a new one; the old one is refused from now on.
    pub async fn rotate(&self) -> Result<String, TokenStoreError> {
        let fresh = new_secret();
        let record = self
            .modify(|current| {
                Some(match current {
                    Some(r) => r.replaced_by(fresh.clone()),
                    None => Record {
                        secret: fresh.clone(),
                        retired: vec![],
                    },
                })
            })
            .await?;
        Ok(record.secret)
    }

    /// Makes `secret` (from `--join-token-file`) the current one, unless it was rotated away.
    pub async fn adopt(&self, secret: &str) -> Result<Adopted, TokenStoreError> {
        let mut outcome = Adopted::Installed;
        self.modify(|current| match current {
            Some(r) if secrets_equal(&r.secret, secret) => {
                outcome = Adopted::AlreadyCurrent;
                None
            }
            Some(r) if r.is_retired(secret) => {
                outcome = Adopted::Rotated;
                None
            }
            Some(r) => Some(r.replaced_by(secret.to_string())),
            None => Some(Record {
                secret: secret.to_string(),
                retired: vec![],
            }),
        })
        .await?;
        Ok(outcome)
    }

    /// Whether `secret` is the current worker secret.
    pub async fn check(&self, secret: &str) -> Result<SecretCheck, TokenStoreError> {
        let Some((record, _)) = self.read().await? else {
            return Ok(SecretCheck::Wrong);
        };
        Ok(if !is_valid_secret(secret) {
            SecretCheck::Wrong
        } else if secrets_equal(&record.secret, secret) {
            SecretCheck::Valid
        } else if record.is_retired(secret) {
            SecretCheck::Rotated
        } else {
            SecretCheck::Wrong
        })
    }

    /// Claims `node` at `now` unless `taken` (given the previous claim's time) says why not.
    /// A claim that loses a race to another is refused like a taken name.
    pub async fn claim(
        &self,
        node: &str,
        now: OffsetDateTime,
        taken: impl FnOnce(Option<OffsetDateTime>) -> Option<String>,
    ) -> Result<Result<(), String>, TokenStoreError> {
        let key = format!("{}{node}", self.claims);
        let previous = self.store.get(&key).await?;
        let claimed_at = previous.as_ref().and_then(|kv| {
            let secs: i64 = std::str::from_utf8(&kv.value).ok()?.parse().ok()?;
            OffsetDateTime::from_unix_timestamp(secs).ok()
        });
        if let Some(why) = taken(claimed_at) {
            return Ok(Err(why));
        }
        let value = Bytes::from(now.unix_timestamp().to_string());
        let raced = || {
            Ok(Err(
                "another node is joining under that name right now".into()
            ))
        };
        match previous {
            None => match self.store.create(&key, value).await {
                Ok(_) => Ok(Ok(())),
                Err(StoreError::AlreadyExists { .. }) => raced(),
                Err(e) => Err(e.into()),
            },
            Some(kv) => match self.store.update(&key, value, kv.mod_revision).await? {
                CasOutcome::Done { .. } => Ok(Ok(())),
                CasOutcome::Stale { .. } => raced(),
            },
        }
    }
}

#[cfg(test)]
#[path = "join_tokens_tests.rs"]
mod tests;
