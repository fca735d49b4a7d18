//! The embedded store candidates' raw write rate, on the disk of `--dir` (not a tmpfs: fsync
//! there is free). Each case writes `--writes` new keys with values of `--value-bytes`:
//! - the SQLite store (`SqliteStore`, WAL, `synchronous=FULL`) through the `Store` trait, one
//!   write in flight and 64 in flight (its group commit shares one fsync between them), and with
//!   `synchronous=NORMAL` (no fsync per commit: survives `kill -9`, not a power loss);
//! - raw SQLite (one INSERT per transaction, WAL, FULL): the engine without the store's reads;
//! - redb, one insert per transaction with `Durability::Immediate`, and 64 per transaction
//!   (what a group commit on top of it would get);
//! - the in-memory store, 64 in flight: the ceiling without a disk.
//!
//! Count the fsyncs per write with `strace -f -c -e trace=fsync,fdatasync` around a run.
//! Figures and the choice they led to: docs/benchmark.md, docs/architecture.md.
//!
//! `cargo run --release -p flotilla-api-server --example store_bench -- --help`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use clap::Parser;
use flotilla_api_server::storage::sqlite::{SqliteStore, Sync};
use flotilla_api_server::storage::{MemoryStore, Store};

#[derive(Parser, Debug)]
struct Args {
    /// Writes per case.
    #[arg(long, default_value_t = 2000)]
    writes: usize,
    /// Bytes per value (a stored SwarmService is about 1 KiB).
    #[arg(long, default_value_t = 1024)]
    value_bytes: usize,
    /// A directory on the disk to measure (a fresh subdirectory per case, removed after).
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
    /// Only these cases (comma-separated names as printed); all when empty.
    #[arg(long, default_value = "")]
    only: String,
}

struct Row {
    case: &'static str,
    writes: usize,
    elapsed: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let value = Bytes::from(vec![b'x'; args.value_bytes]);
    let root = tempfile::tempdir_in(&args.dir)?;
    let wanted = |case: &str| args.only.is_empty() || args.only.split(',').any(|c| c == case);
    let n = args.writes;
    let mut rows = Vec::new();
    type Case = (&'static str, usize);
    let store_cases: [(Case, Option<Sync>); 4] = [
        (("sqlite-store-full-1", 1), Some(Sync::Full)),
        (("sqlite-store-full-64", 64), Some(Sync::Full)),
        (("sqlite-store-normal-64", 64), Some(Sync::Normal)),
        (("memory-store-64", 64), None),
    ];
    for ((case, inflight), sync) in store_cases {
        if !wanted(case) {
            continue;
        }
        let store: Arc<dyn Store> = match sync {
            Some(sync) => Arc::new(SqliteStore::open_with(&root.path().join(case), sync)?),
            None => Arc::new(MemoryStore::new()),
        };
        let elapsed = through_store(store, n, inflight, &value).await;
        rows.push(Row {
            case,
            writes: n,
            elapsed,
        });
    }
    if wanted("raw-sqlite-full-1") {
        let elapsed = raw_sqlite(&root.path().join("raw-sqlite"), n, &value)?;
        rows.push(Row {
            case: "raw-sqlite-full-1",
            writes: n,
            elapsed,
        });
    }
    for (case, per_txn) in [("redb-immediate-1", 1), ("redb-immediate-64", 64)] {
        if wanted(case) {
            let elapsed = redb(&root.path().join(case), n, per_txn, &value)?;
            rows.push(Row {
                case,
                writes: n,
                elapsed,
            });
        }
    }
    println!(
        "{:<24} {:>8} {:>10} {:>12}",
        "case", "writes", "writes/s", "µs/write"
    );
    for row in rows {
        let secs = row.elapsed.as_secs_f64();
        println!(
            "{:<24} {:>8} {:>10.0} {:>12.0}",
            row.case,
            row.writes,
            row.writes as f64 / secs,
            secs * 1e6 / row.writes as f64
        );
    }
    Ok(())
}

/// `n` creates through the `Store` trait with `inflight` at once.
async fn through_store(
    store: Arc<dyn Store>,
    n: usize,
    inflight: usize,
    value: &Bytes,
) -> Duration {
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..inflight {
        let (store, value) = (store.clone(), value.clone());
        workers.spawn(async move {
            for i in (w..n).step_by(inflight) {
                let key = format!("/registry/bench/default/k{i:07}");
                store.create(&key, value.clone()).await.expect("create");
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("worker");
    }
    start.elapsed()
}

fn raw_sqlite(dir: &Path, n: usize, value: &[u8]) -> anyhow::Result<Duration> {
    std::fs::create_dir_all(dir)?;
    let conn = rusqlite::Connection::open(dir.join("raw.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         CREATE TABLE kv (revision INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB NOT NULL);",
    )?;
    let start = Instant::now();
    for i in 0..n {
        let key = format!("/registry/bench/default/k{i:07}");
        conn.execute(
            "INSERT INTO kv (key, value) VALUES (?1, ?2)",
            rusqlite::params![key.as_bytes(), value],
        )?;
    }
    Ok(start.elapsed())
}

fn redb(dir: &Path, n: usize, per_txn: usize, value: &[u8]) -> anyhow::Result<Duration> {
    const KV: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("kv");
    std::fs::create_dir_all(dir)?;
    let db = redb::Database::create(dir.join("redb.db"))?;
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let mut txn = db.begin_write()?;
        txn.set_durability(redb::Durability::Immediate)?;
        {
            let mut table = txn.open_table(KV)?;
            for _ in 0..per_txn.min(n - i) {
                let key = format!("/registry/bench/default/k{i:07}");
                table.insert(key.as_bytes(), value)?;
                i += 1;
            }
        }
        txn.commit()?;
    }
    Ok(start.elapsed())
}
