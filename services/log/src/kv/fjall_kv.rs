//! The fjall engine: one LSM-tree keyspace; a batch is one journal write, fsynced before
//! `commit` returns.
//!
//! An LSM-tree writes sorted, compressed tables once, where a B-tree rewrites half-full
//! pages: for the event log's append-mostly keys (content-derived ids, subject
//! streams, indexes) that is the difference between about 3× and under 2× the signed
//! payload on disk (issue #24; figures in `tests/bench/results.md`).

use std::path::Path;
use std::time::{Duration, Instant};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};

use super::{Engine, Kv, KvError, Op, Pairs, WriteBatch, empty_range};

const KEYSPACE: &str = "concord";

/// The memtable is flushed to a table when it reaches this size; every store of a
/// process keeps at most about two of them in memory (the one being written and the
/// one being flushed), so ten stores stay well inside the memory budget.
const MEMTABLE_BYTES: u64 = 8 << 20;

/// The journal is rotated (and the memtables behind it flushed) past this size: the
/// least fjall allows.
const JOURNAL_BYTES: u64 = 64 << 20;

/// Background flush and compaction threads per store.
const WORKER_THREADS: usize = 1;

/// A [`Kv`] stored in one fjall keyspace.
///
/// Every read goes through a snapshot: the keyspace's own `get` and `range` read at
/// the newest sequence number, which includes a batch still being applied (a reader
/// would see half of it).
pub struct FjallKv {
    db: Database,
    keyspace: Keyspace,
}

fn storage(e: impl std::fmt::Display) -> KvError {
    KvError::Storage { engine: Engine::Fjall, message: e.to_string() }
}

fn keyspace_options() -> KeyspaceCreateOptions {
    use fjall::CompressionType::Lz4;
    use fjall::config::CompressionPolicy;
    KeyspaceCreateOptions::default()
        .max_memtable_size(MEMTABLE_BYTES)
        // Every level compressed: the log's keys share long prefixes and its entries
        // carry repeated field names, so LZ4 pays for itself on the first level too.
        .data_block_compression_policy(CompressionPolicy::all(Lz4))
}

impl FjallKv {
    /// Opens (or creates) a fjall database in `dir` with a block cache of at most
    /// `cache_bytes`.
    ///
    /// A store that another part of this process is just closing is waited for, up to
    /// two seconds, before the lock error is returned.
    pub fn open_with_cache(dir: &Path, cache_bytes: usize) -> Result<Self, KvError> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let db = loop {
            let opened = Database::builder(dir)
                .cache_size(cache_bytes as u64)
                .max_journaling_size(JOURNAL_BYTES)
                .worker_threads(WORKER_THREADS)
                .open();
            match opened {
                Err(fjall::Error::Locked) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                result => break result.map_err(storage)?,
            }
        };
        let keyspace = db.keyspace(KEYSPACE, keyspace_options).map_err(storage)?;
        Ok(Self { db, keyspace })
    }
}

impl Kv for FjallKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let snapshot = self.db.snapshot();
        Ok(snapshot.get(&self.keyspace, key).map_err(storage)?.map(|v| v.to_vec()))
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let snapshot = self.db.snapshot();
        keys.iter().map(|key| Ok(snapshot.get(&self.keyspace, key).map_err(storage)?.map(|v| v.to_vec()))).collect()
    }

    fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize, reverse: bool) -> Result<Pairs, KvError> {
        if limit == 0 || empty_range(start, end) {
            return Ok(Vec::new());
        }
        let snapshot = self.db.snapshot();
        let range = match end {
            Some(end) => snapshot.range(&self.keyspace, start..end),
            None => snapshot.range(&self.keyspace, start..),
        };
        let iter: Box<dyn Iterator<Item = fjall::Guard>> =
            if reverse { Box::new(range.rev()) } else { Box::new(range) };
        iter.take(limit)
            .map(|guard| {
                let (k, v) = guard.into_inner().map_err(storage)?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    /// One journal write, fsynced (`PersistMode::SyncAll`) before returning. Entries of
    /// one batch share a sequence number, so where a batch writes a key twice only the
    /// last write is handed to fjall. After a failed write fjall refuses further writes
    /// until the database is reopened.
    fn commit(&self, batch: WriteBatch) -> Result<(), KvError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut ops = batch.into_ops();
        // A stable sort keeps a key's writes in order; the last of each run wins.
        ops.sort_by(|a, b| a.key().cmp(b.key()));
        let mut write = self.db.batch().durability(Some(PersistMode::SyncAll));
        let mut ops = ops.into_iter().peekable();
        while let Some(op) = ops.next() {
            if ops.peek().is_some_and(|next| next.key() == op.key()) {
                continue;
            }
            match op {
                Op::Put(k, v) => write.insert(&self.keyspace, k, v),
                Op::Delete(k) => write.remove(&self.keyspace, k),
            }
        }
        write.commit().map_err(storage)
    }
}
