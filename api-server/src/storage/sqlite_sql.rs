//! The SQL of the SQLite store ([`super::sqlite`]): a kine-like schema with one row per revision.
//!
//! `kv` is both the MVCC history and the watch log: the row with `revision = r` is the write at
//! revision r (a put, or a tombstone with `deleted = 1`), and `prev_revision` names the row that
//! held the key's previous live value (0: none), so a watch event carries its previous value
//! without a second copy. Keys are BLOBs so ranges compare bytes, as etcd's do.

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{prefix_end, Event, KeyValue, ListResult};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    revision INTEGER PRIMARY KEY,
    key BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_revision ON kv (key, revision);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// One row of `kv`.
pub(super) struct Stored {
    pub revision: i64,
    pub key: String,
    pub create_revision: i64,
    pub deleted: bool,
    pub prev_revision: i64,
    pub value: Bytes,
}

const COLUMNS: &str = "revision, key, create_revision, deleted, prev_revision, value";

fn stored(row: &Row<'_>) -> rusqlite::Result<Stored> {
    let key: Vec<u8> = row.get(1)?;
    let value: Vec<u8> = row.get(5)?;
    Ok(Stored {
        revision: row.get(0)?,
        key: String::from_utf8_lossy(&key).into_owned(),
        create_revision: row.get(2)?,
        deleted: row.get::<_, i64>(3)? != 0,
        prev_revision: row.get(4)?,
        value: Bytes::from(value),
    })
}

impl Stored {
    /// The live value this row holds (None for a tombstone).
    pub fn kv(&self) -> Option<KeyValue> {
        (!self.deleted).then(|| KeyValue {
            key: self.key.clone(),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.revision,
        })
    }
}

/// The range `[from, end)` of a prefix read starting at `start` (a full key, `""` = the prefix).
fn range(prefix: &str, start: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    let from = if start > prefix { start } else { prefix };
    (from.as_bytes().to_vec(), prefix_end(prefix.as_bytes()))
}

/// The upper-bound condition on `key` for the end bound as `?2`: a plain comparison the planner
/// can use on the index, or a condition that always holds when the range has no end.
fn upper(end: &Option<Vec<u8>>) -> &'static str {
    match end {
        Some(_) => "key < ?2",
        None => "?2 IS NULL",
    }
}

/// The key's latest live value.
pub(super) fn latest(conn: &Connection, key: &str) -> rusqlite::Result<Option<KeyValue>> {
    let sql = format!("SELECT {COLUMNS} FROM kv WHERE key = ?1 ORDER BY revision DESC LIMIT 1");
    let row = conn
        .prepare_cached(&sql)?
        .query_row([key.as_bytes()], stored)
        .optional()?;
    Ok(row.and_then(|r| r.kv()))
}

/// The row written at `revision`, if it is still kept.
fn at(conn: &Connection, revision: i64) -> rusqlite::Result<Option<Stored>> {
    let sql = format!("SELECT {COLUMNS} FROM kv WHERE revision = ?1");
    conn.prepare_cached(&sql)?
        .query_row([revision], stored)
        .optional()
}

/// Appends one write at `revision`; `value: None` is a tombstone.
pub(super) fn insert(
    conn: &Connection,
    revision: i64,
    key: &str,
    create_revision: i64,
    prev_revision: i64,
    value: Option<&[u8]>,
) -> rusqlite::Result<()> {
    let sql = "INSERT INTO kv (revision, key, create_revision, deleted, prev_revision, value) \
               VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    conn.prepare_cached(sql)?.execute(params![
        revision,
        key.as_bytes(),
        create_revision,
        value.is_none() as i64,
        prev_revision,
        value.unwrap_or_default(),
    ])?;
    Ok(())
}

/// A prefix range read as of `revision`; see [`super::Store::list`].
pub(super) fn list(
    conn: &Connection,
    prefix: &str,
    start: &str,
    revision: i64,
    limit: i64,
) -> rusqlite::Result<ListResult> {
    let (from, end) = range(prefix, start);
    // The newest row of each key at `revision`, then only the live ones. A missing end (the
    // prefix is empty or all 0xff) is an unbounded range: an empty blob never bounds it.
    let sql = format!(
        "SELECT kv.revision, kv.key, kv.create_revision, kv.deleted, kv.prev_revision, kv.value \
         FROM kv JOIN (SELECT MAX(revision) AS r FROM kv WHERE key >= ?1 AND {} AND \
         revision <= ?3 GROUP BY key) m ON kv.revision = m.r WHERE kv.deleted = 0 ORDER BY kv.key",
        upper(&end)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![from, end, revision])?;
    let (mut items, mut count) = (Vec::new(), 0i64);
    while let Some(row) = rows.next()? {
        count += 1;
        if limit <= 0 || (items.len() as i64) < limit {
            items.extend(stored(row)?.kv());
        }
    }
    let more = count > items.len() as i64;
    Ok(ListResult {
        items,
        revision,
        more,
        count,
    })
}

/// The events after `after_revision` under `prefix`, ascending, with previous values when
/// `with_prev`.
pub(super) fn events_after(
    conn: &Connection,
    prefix: &str,
    after_revision: i64,
    with_prev: bool,
) -> rusqlite::Result<Vec<Event>> {
    let (from, end) = range(prefix, "");
    let sql = format!(
        "SELECT {COLUMNS} FROM kv WHERE revision > ?1 AND key >= ?2 AND {} ORDER BY revision",
        upper(&end).replace("?2", "?3")
    );
    let rows: Vec<Stored> = conn
        .prepare_cached(&sql)?
        .query_map(params![after_revision, from, end], stored)?
        .collect::<Result<_, _>>()?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let prev = match (with_prev, row.prev_revision) {
            (true, p) if p > 0 => at(conn, p)?.and_then(|p| p.kv()),
            _ => None,
        };
        events.push(event(&row, prev));
    }
    Ok(events)
}

/// The watch event of a row.
pub(super) fn event(row: &Stored, prev: Option<KeyValue>) -> Event {
    match row.kv() {
        Some(kv) => Event::Put { kv, prev },
        None => Event::Delete {
            key: row.key.clone(),
            revision: row.revision,
            prev,
        },
    }
}

/// Drops the history before `revision`: tombstones older than it and every row superseded by a
/// newer one that is also older. A row superseded at or after `revision` stays, as the previous
/// value of an event that watches from `revision` still deliver.
pub(super) fn compact(conn: &Connection, revision: i64, current: i64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM kv WHERE revision < ?1 AND (deleted = 1 OR EXISTS (SELECT 1 FROM kv AS newer \
         WHERE newer.key = kv.key AND newer.revision > kv.revision AND newer.revision < ?1))",
        [revision],
    )?;
    set_meta(conn, "compacted", revision)?;
    // The current revision survives a compaction that deleted its row (a tombstone).
    set_meta(conn, "floor", current)
}

/// Turns a store made before incremental auto-vacuum into one with it: the mode takes effect
/// only through a VACUUM, once, at the first open by a version that has it.
pub(super) fn enable_incremental_vacuum(conn: &Connection) -> rusqlite::Result<()> {
    const INCREMENTAL: i64 = 2;
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode != INCREMENTAL {
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")?;
    }
    Ok(())
}

/// After a compaction: frees the pages its deletes emptied and copies the WAL back into the
/// file, which truncates it; without this the file keeps its largest size for good.
pub(super) fn shrink(conn: &Connection) -> rusqlite::Result<()> {
    // It frees one page per step, so it is stepped to the end.
    let mut vacuum = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut steps = vacuum.query([])?;
    while steps.next()?.is_some() {}
    drop(steps);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
}

pub(super) fn meta(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    let value = conn
        .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(value.unwrap_or(0))
}

pub(super) fn set_meta(conn: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

/// The highest revision written (0 in an empty table).
pub(super) fn max_revision(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(revision), 0) FROM kv", [], |r| {
        r.get(0)
    })
}
