//! The append-only log: entries with global positions, idempotency ids, per-subject
//! streams with optimistic concurrency, secondary indexes, and the Merkle tree over it all.
//!
//! Entries are opaque bytes, so the same code serves the event log and the audit log.
//! Positions are 1-based; the entry at position `p` is Merkle leaf `p - 1`, and after
//! appending position `p` the tree size is `p`.
//!
//! KV layout (one keyspace; `u64be` is 8 bytes big-endian so keys sort numerically;
//! see `log/keys.rs` for the encoding of names and values):
//!
//! | key                                                    | value                     |
//! |--------------------------------------------------------|---------------------------|
//! | `e` position:u64be                                     | id:16 ‖ entry bytes       |
//! | `i` id:16                                              | position:u64be            |
//! | `s` len:u32be stream version:u64be                     | position:u64be            |
//! | `x` len:u32be index escaped(value) 00 01 position:u64be| (empty)                   |
//! | `m` level:u8 index:u64be                               | Merkle node hash:32       |
//! | `c` size:u64be                                         | signed checkpoint (text)  |
//! | `u` len:u32be name                                     | cursor value (opaque)     |
//!
//! Everything one `append_batch` writes (entries, ids, stream versions, index entries and
//! the Merkle nodes they complete) goes into one KV batch, so a crash keeps all or none.
//! On open, the size is the last `e` key and the in-memory Merkle frontier is read back
//! from the `m` keys.

pub(crate) mod keys;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{SigningKey, VerifyingKey};
use tokio::sync::watch;

use crate::checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
use crate::kv::{Kv, KvError, WriteBatch};
use crate::merkle::{self, Frontier, Hash, NodeId};

/// A failure of the log as a whole (as opposed to one entry being refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The storage engine failed.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// Stored data does not have the expected shape.
    #[error("corrupt log: {0}")]
    Corrupt(String),
    /// The origin cannot be used in a checkpoint, or signing failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A position or tree size beyond the current log (or an invalid pair of sizes).
    #[error("{what} {value} is out of range for a log of size {size}")]
    OutOfRange {
        /// What was out of range.
        what: &'static str,
        /// The value asked for.
        value: u64,
        /// The current log size.
        size: u64,
    },
    /// An earlier commit failed; the log refuses writes until it is reopened.
    #[error("an earlier commit failed; reopen the log")]
    Poisoned,
    /// The group committer has stopped.
    #[error("the group committer has stopped")]
    Closed,
    /// The background append task failed.
    #[error("append task failed: {0}")]
    Task(String),
}

/// Why one entry of a batch was refused. The rest of the batch is unaffected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// A stream was not at the expected version.
    #[error("stream {stream} is at version {actual}, expected {expected}")]
    Conflict {
        /// The stream.
        stream: String,
        /// The version the entry expected.
        expected: u64,
        /// The stream's current version.
        actual: u64,
    },
    /// The id was already used for an entry with different bytes.
    #[error("id already used by a different entry at position {position}")]
    IdReused {
        /// Position of the existing entry.
        position: u64,
    },
}

/// An entry to append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewEntry {
    /// Idempotency key (a UUID).
    pub id: [u8; 16],
    /// Exact bytes to store; the Merkle leaf is `leaf_hash(bytes)`.
    pub bytes: Vec<u8>,
    /// Per-subject stream ids this entry belongs to, e.g. `person/PK1`.
    pub streams: Vec<String>,
    /// Expected current version of these streams (optimistic concurrency).
    pub expected: Vec<(String, u64)>,
    /// Secondary index entries: (index name, sortable value).
    pub indexes: Vec<(String, Vec<u8>)>,
}

/// The outcome of appending one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Written at `position`.
    New {
        /// The new entry's position.
        position: u64,
    },
    /// Already present (same id, same bytes) at `position`; nothing was written.
    Duplicate {
        /// The original entry's position.
        position: u64,
    },
}

impl Appended {
    /// The entry's position, new or original.
    pub fn position(&self) -> u64 {
        match *self {
            Appended::New { position } | Appended::Duplicate { position } => position,
        }
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based global position.
    pub position: u64,
    /// Idempotency id.
    pub id: [u8; 16],
    /// The stored bytes.
    pub bytes: Vec<u8>,
}

/// State owned by the single writer.
struct Writer {
    frontier: Frontier,
    poisoned: bool,
    /// The newest version of recently appended streams. The writer is the only one
    /// that appends to its store (as with the frontier), so an entry here is exact;
    /// a stream not here is read from the store. Reading a stream's head is a reverse
    /// seek, which on an LSM-tree merges every level: 22 % of the ledger's time
    /// catching up a stream before this cache.
    heads: quick_cache::unsync::Cache<String, u64>,
}

/// How many stream heads the writer keeps (a few MiB at most).
const HEADS: usize = 100_000;

/// The append-only log. `Send + Sync`; appends are serialised, reads run concurrently.
pub struct Log {
    kv: Arc<dyn Kv>,
    origin: String,
    signer: SigningKey,
    size: AtomicU64,
    writer: Mutex<Writer>,
    notify: watch::Sender<u64>,
}

impl Log {
    /// Opens the log stored in `kv`, recovering its size and Merkle frontier.
    /// `origin` names the log in checkpoints and is also the signing key's name.
    pub fn open(kv: Arc<dyn Kv>, origin: &str, signer: SigningKey) -> Result<Log, LogError> {
        // Fail early on an origin that cannot be signed.
        Checkpoint { origin: origin.to_string(), size: 0, root: merkle::empty_root(), timestamp_ms: 0 }
            .sign(&signer, origin)?;

        let (start, end) = keys::entry_range();
        let size = match kv.scan(&start, Some(&end), 1, true)?.pop() {
            Some((key, _)) => keys::trailing_u64(&key).ok_or_else(|| corrupt("entry key"))?,
            None => 0,
        };
        let hashes =
            Frontier::node_ids(size).into_iter().map(|id| read_node(kv.as_ref(), id)).collect::<Result<Vec<_>, _>>()?;
        let frontier = Frontier::restore(size, hashes).ok_or_else(|| corrupt("merkle frontier"))?;
        Ok(Log {
            kv,
            origin: origin.to_string(),
            signer,
            size: AtomicU64::new(size),
            writer: Mutex::new(Writer { frontier, poisoned: false, heads: quick_cache::unsync::Cache::new(HEADS) }),
            notify: watch::channel(size).0,
        })
    }

    /// One atomic KV commit (so one fsync) for the whole batch. Per-entry failures don't fail the batch.
    ///
    /// For each entry, in order: an id already used with the same bytes is a
    /// `Duplicate` (nothing written), with other bytes `IdReused`; then every expected
    /// stream version must equal the stream's version (counting earlier entries of this
    /// batch), else `Conflict`; otherwise the entry is written at the next position.
    pub fn append_batch(&self, entries: Vec<NewEntry>) -> Result<Vec<Result<Appended, EntryError>>, LogError> {
        self.append_batch_at(entries, None)
    }

    /// As [`Log::append_batch`], also recording a named cursor (e.g. how far
    /// into a source stream the log has applied) in the same atomic commit,
    /// so the cursor and the entries can never disagree after a crash.
    pub fn append_batch_at(
        &self,
        entries: Vec<NewEntry>,
        cursor: Option<(&str, Vec<u8>)>,
    ) -> Result<Vec<Result<Appended, EntryError>>, LogError> {
        let mut writer = self.writer.lock().map_err(|_| LogError::Poisoned)?;
        if writer.poisoned {
            return Err(LogError::Poisoned);
        }
        let mut frontier = writer.frontier.clone();
        let mut batch = WriteBatch::new();
        let mut batch_ids: HashMap<[u8; 16], (u64, usize)> = HashMap::new();
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut results = Vec::with_capacity(entries.len());
        let heads = &writer.heads;

        for (i, entry) in entries.iter().enumerate() {
            if let Some(outcome) = self.check_id(entry, &entries, &batch_ids)? {
                results.push(outcome);
                continue;
            }
            if let Some(conflict) = self.check_expected(entry, heads, &mut versions)? {
                results.push(Err(conflict));
                continue;
            }
            let position = frontier.size() + 1;
            let mut value = entry.id.to_vec();
            value.extend_from_slice(&entry.bytes);
            batch.put(keys::entry(position), value);
            batch.put(keys::id(&entry.id), position.to_be_bytes());
            for stream in distinct_streams(entry) {
                let version = self.version_in_batch(stream, heads, &mut versions)? + 1;
                versions.insert(stream.to_string(), version);
                batch.put(keys::stream(stream, version), position.to_be_bytes());
            }
            for (index, value) in distinct_indexes(entry) {
                batch.put(keys::index(index, value, position), Vec::new());
            }
            for (id, hash) in frontier.append(merkle::leaf_hash(&entry.bytes)) {
                batch.put(keys::node(id), hash);
            }
            batch_ids.insert(entry.id, (position, i));
            results.push(Ok(Appended::New { position }));
        }

        if let Some((name, value)) = cursor {
            batch.put(keys::cursor(name), value);
        }
        if !batch.is_empty() {
            if let Err(e) = self.kv.commit(batch) {
                // The engine may hold part of the batch in memory; don't build on it.
                writer.poisoned = true;
                return Err(e.into());
            }
            let size = frontier.size();
            writer.frontier = frontier;
            for (stream, version) in versions {
                writer.heads.insert(stream, version);
            }
            self.size.store(size, Ordering::Release);
            self.notify.send_replace(size);
        }
        Ok(results)
    }

    /// Removes every entry of the secondary index `index` (one its entries
    /// no longer write), in commits of at most 10,000 rows; returns how many
    /// were removed. Only derived rows go: entries, proofs and every other
    /// table stay as they are.
    pub fn drop_index(&self, index: &str) -> Result<u64, LogError> {
        const CHUNK: usize = 10_000;
        let prefix = keys::index_prefix(index);
        let end = keys::prefix_end(&prefix);
        let mut removed = 0;
        loop {
            let writer = self.writer.lock().map_err(|_| LogError::Poisoned)?;
            if writer.poisoned {
                return Err(LogError::Poisoned);
            }
            let rows = self.kv.scan(&prefix, end.as_deref(), CHUNK, false)?;
            if rows.is_empty() {
                return Ok(removed);
            }
            let mut batch = WriteBatch::new();
            removed += rows.len() as u64;
            for (key, _) in rows {
                batch.delete(key);
            }
            self.kv.commit(batch)?;
            drop(writer);
        }
    }

    /// Dedup check: `Some(outcome)` if the entry's id is already taken (stored or earlier in the batch).
    fn check_id(
        &self,
        entry: &NewEntry,
        entries: &[NewEntry],
        batch_ids: &HashMap<[u8; 16], (u64, usize)>,
    ) -> Result<Option<Result<Appended, EntryError>>, LogError> {
        let (position, same) = if let Some(&(position, i)) = batch_ids.get(&entry.id) {
            (position, entries[i].bytes == entry.bytes)
        } else if let Some(position) = self.position_of(&entry.id)? {
            let stored = self.get(position)?.ok_or_else(|| corrupt("id points to a missing entry"))?;
            (position, stored.bytes == entry.bytes)
        } else {
            return Ok(None);
        };
        Ok(Some(if same { Ok(Appended::Duplicate { position }) } else { Err(EntryError::IdReused { position }) }))
    }

    /// Optimistic concurrency check: the first stream not at its expected version.
    fn check_expected(
        &self,
        entry: &NewEntry,
        heads: &quick_cache::unsync::Cache<String, u64>,
        versions: &mut HashMap<String, u64>,
    ) -> Result<Option<EntryError>, LogError> {
        for (stream, expected) in &entry.expected {
            let actual = self.version_in_batch(stream, heads, versions)?;
            if actual != *expected {
                return Ok(Some(EntryError::Conflict { stream: stream.clone(), expected: *expected, actual }));
            }
        }
        Ok(None)
    }

    /// A stream's version counting the batch being built (cached in `versions`), from
    /// the writer's `heads` where it has it.
    fn version_in_batch(
        &self,
        stream: &str,
        heads: &quick_cache::unsync::Cache<String, u64>,
        versions: &mut HashMap<String, u64>,
    ) -> Result<u64, LogError> {
        if let Some(&v) = versions.get(stream) {
            return Ok(v);
        }
        let v = match heads.get(stream) {
            Some(&v) => v,
            None => self.stream_version(stream)?,
        };
        versions.insert(stream.to_string(), v);
        Ok(v)
    }

    /// The value of a cursor recorded with [`Log::append_batch_at`].
    pub fn cursor(&self, name: &str) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self.kv.get(&keys::cursor(name))?)
    }

    /// The entry at `position`, if it exists.
    pub fn get(&self, position: u64) -> Result<Option<Entry>, LogError> {
        if position == 0 || position > self.size() {
            return Ok(None);
        }
        self.kv.get(&keys::entry(position))?.map(|value| decode_entry(position, value)).transpose()
    }

    /// The entries at `positions`, in order (`None` where there is none),
    /// read together.
    pub fn get_many(&self, positions: &[u64]) -> Result<Vec<Option<Entry>>, LogError> {
        let size = self.size();
        let keys: Vec<Vec<u8>> = positions.iter().map(|p| keys::entry(*p)).collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let values = self.kv.get_many(&refs)?;
        positions
            .iter()
            .zip(values)
            .map(|(&position, value)| match value {
                Some(value) if position != 0 && position <= size => decode_entry(position, value).map(Some),
                _ => Ok(None),
            })
            .collect()
    }

    /// The position of the entry with idempotency id `id`, if any.
    pub fn position_of(&self, id: &[u8; 16]) -> Result<Option<u64>, LogError> {
        self.kv.get(&keys::id(id))?.map(|v| keys::decode_u64(&v).ok_or_else(|| corrupt("id value"))).transpose()
    }

    /// Entries at positions > `after`, ascending, at most `limit`.
    pub fn read_from(&self, after: u64, limit: usize) -> Result<Vec<Entry>, LogError> {
        let size = self.size();
        if after >= size {
            return Ok(Vec::new());
        }
        let rows = self.kv.scan(&keys::entry(after + 1), Some(&keys::entry(size + 1)), limit, false)?;
        rows.into_iter()
            .map(|(key, value)| {
                let position = keys::trailing_u64(&key).ok_or_else(|| corrupt("entry key"))?;
                decode_entry(position, value)
            })
            .collect()
    }

    /// `(version, position)` pairs of `stream` with version > `after_version`, ascending, at most `limit`.
    pub fn stream(&self, stream: &str, after_version: u64, limit: usize) -> Result<Vec<(u64, u64)>, LogError> {
        let Some(first) = after_version.checked_add(1) else {
            return Ok(Vec::new());
        };
        let end = keys::prefix_end(&keys::stream_prefix(stream));
        let size = self.size();
        let mut out = Vec::new();
        for (key, value) in self.kv.scan(&keys::stream(stream, first), end.as_deref(), limit, false)? {
            let version = keys::trailing_u64(&key).ok_or_else(|| corrupt("stream key"))?;
            let position = keys::decode_u64(&value).ok_or_else(|| corrupt("stream value"))?;
            if position <= size {
                out.push((version, position));
            }
        }
        Ok(out)
    }

    /// The current version of `stream` (0 = empty stream).
    pub fn stream_version(&self, stream: &str) -> Result<u64, LogError> {
        let prefix = keys::stream_prefix(stream);
        let end = keys::prefix_end(&prefix);
        match self.kv.scan(&prefix, end.as_deref(), 1, true)?.pop() {
            Some((key, _)) => keys::trailing_u64(&key).ok_or_else(|| corrupt("stream key")),
            None => Ok(0),
        }
    }

    /// positions whose index value is in [from, to), position > after, ascending, at most limit
    ///
    /// Cost: two KV seeks per distinct value in [from, to) (plus up to `limit` rows each), so
    /// it is cheap for exact values (`to` = `from` followed by `0x00`) and few-valued ranges.
    pub fn scan_index(
        &self,
        index: &str,
        from: &[u8],
        to: &[u8],
        after: u64,
        limit: usize,
    ) -> Result<Vec<u64>, LogError> {
        let size = self.size();
        if from >= to || limit == 0 || after >= size {
            return Ok(Vec::new());
        }
        let end = keys::index_value(index, to);
        let mut cursor = keys::index_value(index, from);
        let mut found = BTreeSet::new();
        // Within one value, keys are ordered by position: seek to each value's first
        // position after `after` and keep the `limit` smallest positions overall.
        while let Some((key, _)) = self.kv.scan(&cursor, Some(&end), 1, false)?.pop() {
            let value_prefix = key.get(..key.len().saturating_sub(8)).ok_or_else(|| corrupt("index key"))?;
            let next = keys::prefix_end(value_prefix);
            let mut start = value_prefix.to_vec();
            start.extend_from_slice(&(after + 1).to_be_bytes());
            for (key, _) in self.kv.scan(&start, next.as_deref(), limit, false)? {
                let position = keys::trailing_u64(&key).ok_or_else(|| corrupt("index key"))?;
                if position <= size {
                    found.insert(position);
                }
            }
            while found.len() > limit {
                found.pop_last();
            }
            match next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        Ok(found.into_iter().collect())
    }

    /// Number of entries, which is also the last position and the tree size.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// A receiver notified with the new size after each commit.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Signs a checkpoint at the current size and stores it (key `c` size).
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, LogError> {
        let size = self.size();
        let signed =
            Checkpoint { origin: self.origin.clone(), size, root: self.root_at(size)?, timestamp_ms: now_ms() }
                .sign(&self.signer, &self.origin)?;
        let mut batch = WriteBatch::new();
        batch.put(keys::checkpoint(size), signed.text().as_bytes());
        self.kv.commit(batch)?;
        Ok(signed)
    }

    /// The checkpoint stored by [`Log::checkpoint`] at `size`, if any.
    pub fn stored_checkpoint(&self, size: u64) -> Result<Option<SignedCheckpoint>, LogError> {
        let Some(bytes) = self.kv.get(&keys::checkpoint(size))? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| corrupt("checkpoint text"))?;
        Ok(Some(SignedCheckpoint::parse(&text)?))
    }

    /// The public key that verifies this log's checkpoints.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signer.verifying_key()
    }

    /// The log's origin (checkpoint first line and key name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Merkle root of the first `size` entries.
    pub fn root_at(&self, size: u64) -> Result<[u8; 32], LogError> {
        self.check_size("tree size", size)?;
        merkle::root(size, &mut |id| read_node(self.kv.as_ref(), id))
    }

    /// Inclusion proof of the entry at `position` in the tree of size `size`.
    pub fn inclusion_proof(&self, position: u64, size: u64) -> Result<Vec<[u8; 32]>, LogError> {
        self.check_size("tree size", size)?;
        if position == 0 || position > size {
            return Err(LogError::OutOfRange { what: "position", value: position, size });
        }
        merkle::inclusion_proof(position - 1, size, &mut |id| read_node(self.kv.as_ref(), id))
    }

    /// Consistency proof between the trees of sizes `old_size` and `new_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<[u8; 32]>, LogError> {
        self.check_size("tree size", new_size)?;
        if old_size > new_size {
            return Err(LogError::OutOfRange { what: "old size", value: old_size, size: new_size });
        }
        merkle::consistency_proof(old_size, new_size, &mut |id| read_node(self.kv.as_ref(), id))
    }

    /// The underlying store.
    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    fn check_size(&self, what: &'static str, value: u64) -> Result<(), LogError> {
        let size = self.size();
        if value > size {
            return Err(LogError::OutOfRange { what, value, size });
        }
        Ok(())
    }
}

/// The streams an entry is appended to: each of its streams once, in order.
/// Appending and [`crate::derived`] both use this, so they cannot disagree.
pub(crate) fn distinct_streams(entry: &NewEntry) -> Vec<&str> {
    let mut streams: Vec<&str> = Vec::with_capacity(entry.streams.len());
    for stream in &entry.streams {
        if !streams.contains(&stream.as_str()) {
            streams.push(stream);
        }
    }
    streams
}

/// The index entries an entry writes: each (index, value) pair once, in order.
/// Appending and [`crate::derived`] both use this, so they cannot disagree.
pub(crate) fn distinct_indexes(entry: &NewEntry) -> Vec<(&str, &[u8])> {
    let mut seen = std::collections::HashSet::with_capacity(entry.indexes.len());
    entry
        .indexes
        .iter()
        .map(|(index, value)| (index.as_str(), value.as_slice()))
        .filter(|pair| seen.insert(*pair))
        .collect()
}

fn read_node(kv: &dyn Kv, id: NodeId) -> Result<Hash, LogError> {
    kv.get(&keys::node(id))?.and_then(|v| Hash::try_from(v).ok()).ok_or_else(|| corrupt("missing or bad merkle node"))
}

fn decode_entry(position: u64, mut value: Vec<u8>) -> Result<Entry, LogError> {
    if value.len() < 16 {
        return Err(corrupt("entry value"));
    }
    let bytes = value.split_off(16);
    let id = <[u8; 16]>::try_from(value).map_err(|_| corrupt("entry id"))?;
    Ok(Entry { position, id, bytes })
}

fn corrupt(what: &str) -> LogError {
    LogError::Corrupt(what.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
