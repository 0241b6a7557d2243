//! A small ordered key-value trait and the engines behind it (redb, fjall).
//!
//! Everything the log stores goes through [`Kv`]: point reads, ordered range scans and
//! atomic, durable write batches. An engine must pass the conformance suite
//! (`tests/kv_conformance.rs`). sled, the product brief's first choice, was measured
//! and dropped (issue #24): its event log took 4,393 bytes per event (7.4× the signed
//! payload; redb 2,042) and it ingested no faster.

mod fjall_kv;
mod redb_kv;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

/// The most memory one store's page cache takes. Each engine's default is 1 GiB
/// per store, and `concord up` opens ten stores: a process would grow
/// towards gigabytes with the log. Reads past it come from the operating
/// system's page cache; on the benchmark's 100,000-event log, 8 MiB rather
/// than 64 MiB per store halved `concord up`'s peak memory (350 to 180 MiB
/// after the query runs) and changed no latency beyond the runs' noise.
pub const CACHE_BYTES: usize = 8 << 20;

/// The page cache of the event log's store, which every read goes through:
/// at 1,000,000 events (a 2 GB store) 8 MiB no longer held the tree's inner
/// pages, and a Search that scans far for the few events a reader may see
/// took three times as long (p99 125 → 404 ms).
pub const LOG_CACHE_BYTES: usize = 32 << 20;

pub use fjall_kv::FjallKv;
pub use redb_kv::RedbKv;

/// A failure of the storage engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The engine reported an error (I/O, corruption, lock held by another process, ...).
    #[error("{engine} storage error: {message}")]
    Storage {
        /// Which engine failed.
        engine: Engine,
        /// The engine's error message.
        message: String,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {message}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error message.
        message: String,
    },
    /// An engine name other than `redb` or `fjall`.
    #[error("unknown storage engine {0:?} (expected \"redb\" or \"fjall\")")]
    UnknownEngine(String),
    /// The directory holds another engine's store: opening it with this one would start an
    /// empty store beside it.
    #[error(
        "{path} holds a {stored} store, not {asked}: run with --engine {stored} \
         (or follow the stream again into an empty data directory to move to {asked})"
    )]
    EngineMismatch {
        /// The store's directory.
        path: String,
        /// The engine whose files are there.
        stored: Engine,
        /// The engine asked for.
        asked: Engine,
    },
    /// `sled`, which earlier versions offered.
    #[error(
        "the sled engine was dropped in this version (7.4x the payload on disk, no faster): use redb; \
         rebuild a replica's log by following the stream again into an empty data directory"
    )]
    SledDropped,
}

/// Key-value pairs returned by [`Kv::scan`].
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// An ordered map from byte keys to byte values.
///
/// Keys compare as unsigned bytes (lexicographically). Implementations are safe to use
/// from many threads at once; readers see only committed batches.
pub trait Kv: Send + Sync + 'static {
    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;

    /// The values stored under `keys`, in order, read together (one read
    /// transaction where the engine has them).
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    /// Keys in [start, end) in order (reverse = descending), at most `limit` pairs. `end = None` means unbounded.
    fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize, reverse: bool) -> Result<Pairs, KvError>;

    /// Applies all puts/deletes atomically and durably (fsync) before returning: one fsync per batch.
    fn commit(&self, batch: WriteBatch) -> Result<(), KvError>;
}

/// One write inside a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Store `value` under `key`, replacing any previous value.
    Put(Vec<u8>, Vec<u8>),
    /// Remove `key` if present.
    Delete(Vec<u8>),
}

impl Op {
    /// The key it writes.
    pub fn key(&self) -> &[u8] {
        match self {
            Op::Put(key, _) | Op::Delete(key) => key,
        }
    }
}

/// Puts and deletes applied together by [`Kv::commit`]; for the same key the last one wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put of `value` under `key`.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put(key.into(), value.into()));
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete(key.into()));
    }

    /// True if the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// The operations, in the order they were added.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }
}

/// A storage engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// redb (stable file format): a copy-on-write B-tree.
    Redb,
    /// fjall: an LSM-tree with compressed tables.
    Fjall,
}

impl Engine {
    /// The engine used when none is configured.
    pub const DEFAULT: Engine = Engine::Redb;

    /// Every engine, for tests and benchmarks.
    pub const ALL: [Engine; 2] = [Engine::Redb, Engine::Fjall];
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Redb => "redb",
            Engine::Fjall => "fjall",
        })
    }
}

impl FromStr for Engine {
    type Err = KvError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sled" => Err(KvError::SledDropped),
            "redb" => Ok(Engine::Redb),
            "fjall" => Ok(Engine::Fjall),
            other => Err(KvError::UnknownEngine(other.to_string())),
        }
    }
}

/// Opens (creating if needed) the store of `engine` in directory `dir`.
pub fn open(engine: Engine, dir: &Path) -> Result<Arc<dyn Kv>, KvError> {
    open_with_cache(engine, dir, CACHE_BYTES)
}

/// As [`open`], with a page cache of `cache_bytes` (e.g. [`LOG_CACHE_BYTES`]).
///
/// A directory holding another engine's store is refused ([`KvError::EngineMismatch`]).
pub fn open_with_cache(engine: Engine, dir: &Path, cache_bytes: usize) -> Result<Arc<dyn Kv>, KvError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| KvError::CreateDir { path: dir.display().to_string(), message: e.to_string() })?;
    if let Some(stored) = stored_engine(dir)?
        && stored != engine
    {
        return Err(KvError::EngineMismatch { path: dir.display().to_string(), stored, asked: engine });
    }
    Ok(match engine {
        Engine::Redb => Arc::new(RedbKv::open_with_cache(dir, cache_bytes)?),
        Engine::Fjall => Arc::new(FjallKv::open_with_cache(dir, cache_bytes)?),
    })
}

/// Which engine's store `dir` holds, recognised by its files: `None` if it holds no
/// store; a sled store (its `conf` file) is refused with [`KvError::SledDropped`].
pub fn stored_engine(dir: &Path) -> Result<Option<Engine>, KvError> {
    if dir.join(redb_kv::FILE_NAME).is_file() {
        Ok(Some(Engine::Redb))
    } else if dir.join("keyspaces").is_dir() && dir.join("version").is_file() {
        Ok(Some(Engine::Fjall))
    } else if dir.join("conf").is_file() {
        Err(KvError::SledDropped)
    } else {
        Ok(None)
    }
}

/// True if the range [start, end) is empty, so engines never see an inverted range.
fn empty_range(start: &[u8], end: Option<&[u8]>) -> bool {
    end.is_some_and(|end| end <= start)
}
