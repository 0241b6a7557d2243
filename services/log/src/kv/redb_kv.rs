//! The redb engine: one table of `&[u8] -> &[u8]`; a batch is one durable write transaction.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::{CACHE_BYTES, Engine, Kv, KvError, Op, Pairs, WriteBatch, empty_range};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("concord");
/// The store's one file in its directory.
pub(super) const FILE_NAME: &str = "concord.redb";

/// A [`Kv`] stored in one redb table.
pub struct RedbKv {
    db: Database,
}

fn storage(e: impl Into<redb::Error>) -> KvError {
    KvError::Storage { engine: Engine::Redb, message: e.into().to_string() }
}

impl RedbKv {
    /// Opens (or creates) `concord.redb` in `dir` and makes sure the table exists.
    ///
    /// A store that another part of this process is just closing (its last
    /// handle on a thread finishing a step) is waited for, up to two
    /// seconds, before `DatabaseAlreadyOpen` is returned.
    pub fn open(dir: &Path) -> Result<Self, KvError> {
        Self::open_with_cache(dir, CACHE_BYTES)
    }

    /// As [`Self::open`], with a page cache of at most `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: usize) -> Result<Self, KvError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let db = loop {
            match Database::builder().set_cache_size(cache_bytes).create(dir.join(FILE_NAME)) {
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                result => break result.map_err(storage)?,
            }
        };
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(TABLE).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(Self { db })
    }
}

impl Kv for RedbKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(TABLE).map_err(storage)?;
        Ok(table.get(key).map_err(storage)?.map(|v| v.value().to_vec()))
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(TABLE).map_err(storage)?;
        keys.iter().map(|key| Ok(table.get(*key).map_err(storage)?.map(|v| v.value().to_vec()))).collect()
    }

    fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize, reverse: bool) -> Result<Pairs, KvError> {
        if limit == 0 || empty_range(start, end) {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(TABLE).map_err(storage)?;
        let range = match end {
            Some(end) => table.range(start..end),
            None => table.range(start..),
        }
        .map_err(storage)?;
        let iter: Box<dyn Iterator<Item = _>> = if reverse { Box::new(range.rev()) } else { Box::new(range) };
        iter.take(limit)
            .map(|item| {
                let (k, v) = item.map_err(storage)?;
                Ok((k.value().to_vec(), v.value().to_vec()))
            })
            .collect()
    }

    /// One write transaction with redb's default `Durability::Immediate` (fsync on commit).
    /// After a failed commit redb refuses further writes until the database is reopened.
    fn commit(&self, batch: WriteBatch) -> Result<(), KvError> {
        if batch.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut table = txn.open_table(TABLE).map_err(storage)?;
            // In key order, each leaf is reached once and the next from the
            // same path (a stable sort keeps the last op of a key last).
            let mut ops = batch.into_ops();
            ops.sort_by(|a, b| a.key().cmp(b.key()));
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        table.insert(k.as_slice(), v.as_slice()).map_err(storage)?;
                    }
                    Op::Delete(k) => {
                        table.remove(k.as_slice()).map_err(storage)?;
                    }
                }
            }
        }
        txn.commit().map_err(storage)
    }
}
