//! The sled engine: one sled tree; a batch is `apply_batch` followed by `flush` (fsync).
//!
//! sled applies a batch atomically for point reads and for crash recovery, but its range
//! iterators are not snapshots: a scan can see part of a batch applied while it runs.
//! A read-write lock (scans share it, applying a batch takes it alone; the fsync runs
//! outside it) gives scans the same all-or-nothing view of batches as redb.
//! Unlike redb, a batch is visible to readers during its fsync, just before it is durable.

use std::path::Path;
use std::sync::RwLock;

use super::{CACHE_BYTES, Engine, Kv, KvError, Op, Pairs, WriteBatch, empty_range};

/// A [`Kv`] stored in sled's default tree.
pub struct SledKv {
    db: sled::Db,
    batches: RwLock<()>,
}

fn storage(e: impl std::fmt::Display) -> KvError {
    KvError::Storage { engine: Engine::Sled, message: e.to_string() }
}

impl SledKv {
    /// Opens (or creates) the sled database in `dir`.
    ///
    /// sled's background flusher keeps a dropped database (and its file lock)
    /// alive for a moment, so a store reopened straight after being closed, in
    /// this process or by a restarted one, can find the lock still held: the
    /// open is retried for up to two seconds before the lock error is returned.
    pub fn open(dir: &Path) -> Result<Self, KvError> {
        Self::open_with_cache(dir, CACHE_BYTES)
    }

    /// As [`Self::open`], with a page cache of at most `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: usize) -> Result<Self, KvError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match sled::Config::new().path(dir).cache_capacity(cache_bytes as u64).open() {
                Ok(db) => return Ok(Self { db, batches: RwLock::new(()) }),
                // sled reports a held lock only in the error's text.
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(storage(e)),
            }
        }
    }
}

impl Kv for SledKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.db.get(key).map_err(storage)?.map(|v| v.to_vec()))
    }

    fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize, reverse: bool) -> Result<Pairs, KvError> {
        if limit == 0 || empty_range(start, end) {
            return Ok(Vec::new());
        }
        let _no_batch_midway = self.batches.read().map_err(storage)?;
        let iter = match end {
            Some(end) => self.db.range(start..end),
            None => self.db.range(start..),
        };
        let iter: Box<dyn Iterator<Item = _>> = if reverse { Box::new(iter.rev()) } else { Box::new(iter) };
        iter.take(limit)
            .map(|item| {
                let (k, v) = item.map_err(storage)?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn commit(&self, batch: WriteBatch) -> Result<(), KvError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut b = sled::Batch::default();
        for op in batch.into_ops() {
            match op {
                Op::Put(k, v) => b.insert(k, v),
                Op::Delete(k) => b.remove(k),
            }
        }
        {
            let _alone = self.batches.write().map_err(storage)?;
            self.db.apply_batch(b).map_err(storage)?;
        }
        self.db.flush().map_err(storage)?;
        Ok(())
    }
}
