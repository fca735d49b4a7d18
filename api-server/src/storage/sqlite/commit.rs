//! The write path of the SQLite store: a batch of queued writes applied in one transaction,
//! each checked against its precondition, and published to the watchers once committed.

use bytes::Bytes;
use rusqlite::{Connection, TransactionBehavior};

use super::sql;
use super::State;
use crate::storage::{CasOutcome, Event, StoreError};

pub(super) enum Op {
    Create(String, Bytes),
    Update(String, Bytes, i64),
    Delete(String, i64),
}

pub(super) type Reply = Result<CasOutcome, StoreError>;

pub(super) struct Pending {
    pub(super) op: Op,
    pub(super) reply: tokio::sync::oneshot::Sender<Reply>,
}

impl State {
    /// Applies the batch in one transaction; publishes its events once it is durable.
    pub(super) fn commit(&mut self, batch: Vec<Pending>) {
        match apply(&mut self.conn, self.revision, &batch) {
            Ok((replies, events)) => {
                self.revision += events.len() as i64;
                for event in events {
                    self.watchers.retain(|w| w.offer(&event));
                }
                for (pending, reply) in batch.into_iter().zip(replies) {
                    let _ = pending.reply.send(reply);
                }
            }
            Err(e) => {
                let error = StoreError::Unavailable(format!("sqlite commit: {e}"));
                for pending in batch {
                    let _ = pending.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// The replies and events of a batch written after `revision`, committed.
fn apply(
    conn: &mut Connection,
    mut revision: i64,
    batch: &[Pending],
) -> rusqlite::Result<(Vec<Reply>, Vec<Event>)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (mut replies, mut events) = (Vec::with_capacity(batch.len()), Vec::new());
    for pending in batch {
        let (reply, event) = apply_one(&tx, revision + 1, &pending.op)?;
        if let Some(event) = event {
            revision += 1;
            events.push(event);
        }
        replies.push(reply);
    }
    tx.commit()?;
    Ok((replies, events))
}

/// One write at `revision` if its precondition holds: the reply and the event it made.
fn apply_one(
    conn: &Connection,
    revision: i64,
    op: &Op,
) -> rusqlite::Result<(Reply, Option<Event>)> {
    let (key, value, expected) = match op {
        Op::Create(key, value) => (key, Some(value), None),
        Op::Update(key, value, expected) => (key, Some(value), Some(*expected)),
        Op::Delete(key, expected) => (key, None, Some(*expected)),
    };
    let current = sql::latest(conn, key)?;
    match (expected, &current) {
        (None, Some(_)) => {
            let exists = StoreError::AlreadyExists { key: key.clone() };
            return Ok((Err(exists), None));
        }
        (Some(expected), Some(cur)) if cur.mod_revision == expected => {}
        (Some(_), _) => return Ok((Ok(CasOutcome::Stale { current }), None)),
        (None, None) => {}
    }
    let (create_revision, prev_revision) = current
        .as_ref()
        .map_or((revision, 0), |c| (c.create_revision, c.mod_revision));
    sql::insert(
        conn,
        revision,
        key,
        create_revision,
        prev_revision,
        value.map(|v| v.as_ref()),
    )?;
    let row = sql::Stored {
        revision,
        key: key.clone(),
        create_revision,
        deleted: value.is_none(),
        prev_revision,
        value: value.cloned().unwrap_or_default(),
    };
    Ok((
        Ok(CasOutcome::Done { revision }),
        Some(sql::event(&row, current)),
    ))
}
