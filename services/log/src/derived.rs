//! Checking, offline, that everything a log derives from its entries still
//! matches them: the id table (dedup), the per-subject stream versions, the
//! secondary indexes and the stored Merkle nodes. Run it after
//! [`crate::offline::verify_store`] has proven the entries: then the entries
//! are the truth, and an index entry that was altered, removed or added (which
//! would hide a record from a query, or show it under another value), a
//! stream version that was moved, an id mapping or a Merkle node that was
//! changed, is found and named.
//!
//! The caller says how an entry's bytes were indexed when they were appended,
//! with the very function its writer used; what that [`NewEntry`] writes is
//! taken from [`crate::log`] itself, so appending and checking cannot drift.
//!
//! Memory stays flat however long the log is. The entries are read once, in
//! order: every id mapping, stream version, index entry and Merkle node an
//! entry writes is looked up in the store (so none is missing), and counted.
//! Then each table is walked in key order: every row is checked for what is
//! cheap to check, every stream version against its entry, and the rows are
//! counted. Stored rows that are all present where expected and as many as
//! the entries make are exactly the rows the entries make; when a count is
//! off, that table is walked again, row by row against its entry, to name the
//! first row no entry explains.

use std::collections::BTreeMap;
use std::fmt;

use crate::kv::{Kv, KvError};
use crate::log::keys;
use crate::log::{NewEntry, distinct_indexes, distinct_streams};
use crate::merkle::{Frontier, NodeId, leaf_hash};

/// Rows read per scan.
const CHUNK: usize = 4096;

/// A table a log derives from its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// Idempotency id → position (dedup).
    Ids,
    /// Per-subject stream versions.
    Streams,
    /// A secondary index, by name.
    Index(String),
    /// The stored Merkle tree nodes.
    Merkle,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Table::Ids => f.write_str("id table"),
            Table::Streams => f.write_str("stream table"),
            Table::Index(name) => write!(f, "index `{name}`"),
            Table::Merkle => f.write_str("Merkle tree"),
        }
    }
}

/// Why a log's derived tables do not match its entries.
#[derive(Debug, thiserror::Error)]
pub enum DerivedError {
    /// The store could not be read.
    #[error("cannot read the store: {0}")]
    Store(#[from] KvError),
    /// An entry could not be read back into what it writes.
    #[error("entry {position} cannot be read back into its index entries: {reason}")]
    Entry {
        /// Its position (1-based).
        position: u64,
        /// Why.
        reason: String,
    },
    /// A table holds a row its entries do not make, or lacks one they do.
    #[error("{table} does not match the entries: {problem}")]
    Mismatch {
        /// Which table.
        table: Table,
        /// The first mismatch: the key, the position and what was expected.
        problem: String,
    },
}

/// What a successful check covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// Entries read.
    pub entries: u64,
    /// Stream versions checked.
    pub stream_versions: u64,
    /// Index entries checked, per index.
    pub indexes: BTreeMap<String, u64>,
    /// Merkle nodes checked.
    pub nodes: u64,
}

/// Checks every table the log in `kv` derives from its entries; `derive`
/// gives, for an entry's stored bytes, the [`NewEntry`] its writer appended
/// (only its id, streams and indexes are used). Returns the first mismatch.
pub fn verify_derived<E: fmt::Display>(
    kv: &dyn Kv,
    mut derive: impl FnMut(&[u8]) -> Result<NewEntry, E>,
) -> Result<Derived, DerivedError> {
    let mut derive = |position: u64, bytes: &[u8]| {
        derive(bytes).map_err(|e| DerivedError::Entry { position, reason: e.to_string() })
    };
    let expected = check_entries(kv, &mut derive)?;
    check_ids(kv, expected.entries)?;
    check_streams(kv, expected.entries, expected.stream_versions, &mut derive)?;
    check_indexes(kv, expected.entries, &expected.indexes, &mut derive)?;
    check_nodes(kv, expected.entries)?;
    Ok(expected)
}

/// What the caller's derivation gives for the entry at a position, with its bytes.
type Derive<'a> = dyn FnMut(u64, &[u8]) -> Result<NewEntry, DerivedError> + 'a;

/// What the entry at `position` writes (`None` if there is no such entry).
fn derive_at(kv: &dyn Kv, derive: &mut Derive<'_>, position: u64) -> Result<Option<NewEntry>, DerivedError> {
    let Some(value) = kv.get(&keys::entry(position))? else { return Ok(None) };
    let (_, bytes) = split_entry(position, &value)?;
    derive(position, bytes).map(Some)
}

/// Reads the entries in order; checks that every row each one writes is
/// stored, and counts them.
fn check_entries(kv: &dyn Kv, derive: &mut Derive<'_>) -> Result<Derived, DerivedError> {
    let mut expected = Derived::default();
    let mut frontier = Frontier::new();
    let (start, end) = keys::entry_range();
    for_each(kv, &start, Some(&end), |key, value| {
        let position = expected.entries + 1;
        if key != keys::entry(position) {
            return Err(DerivedError::Entry { position, reason: "it is missing".into() });
        }
        expected.entries = position;
        let (id, bytes) = split_entry(position, &value)?;
        let entry = derive(position, bytes)?;
        if entry.id != id {
            return mismatch(
                Table::Ids,
                format!(
                    "entry {position} is stored under id {}, but its bytes are for id {}",
                    hex(&id),
                    hex(&entry.id)
                ),
            );
        }
        match kv.get(&keys::id(&id))? {
            Some(v) if v == position.to_be_bytes() => {}
            Some(v) => {
                return mismatch(
                    Table::Ids,
                    format!("id {} maps to {}, not to its entry {position}", hex(&id), show_position(&v)),
                );
            }
            None => return mismatch(Table::Ids, format!("id {} of entry {position} is missing", hex(&id))),
        }
        for stream in distinct_streams(&entry) {
            expected.stream_versions += 1;
            let prefix = keys::stream_prefix(stream);
            let end = keys::prefix_end(&prefix);
            let last = match kv.scan(&prefix, end.as_deref(), 1, true)?.pop() {
                Some((key, value)) => Some(stream_row(&key, &value)?.2),
                None => None,
            };
            if last.is_none_or(|last| last < position) {
                return mismatch(
                    Table::Streams,
                    format!("stream `{stream}` has no version for entry {position}, which belongs to it"),
                );
            }
        }
        for (index, value) in distinct_indexes(&entry) {
            match expected.indexes.get_mut(index) {
                Some(count) => *count += 1,
                None => {
                    expected.indexes.insert(index.to_string(), 1);
                }
            }
            if kv.get(&keys::index(index, value, position))?.is_none() {
                return mismatch(
                    Table::Index(index.to_string()),
                    format!("entry {position} is indexed under {}, but the index has no such entry", show(value)),
                );
            }
        }
        for (id, hash) in frontier.append(leaf_hash(bytes)) {
            expected.nodes += 1;
            if kv.get(&keys::node(id))?.as_deref() != Some(hash.as_slice()) {
                return mismatch(Table::Merkle, format!("{} is missing or not the hash of its entries", node(id)));
            }
        }
        Ok(())
    })?;
    Ok(expected)
}

/// Every id row maps to an entry, and there are as many as entries; if not,
/// names the first row whose entry has another id.
fn check_ids(kv: &dyn Kv, entries: u64) -> Result<(), DerivedError> {
    let (start, end) = keys::id_range();
    let mut rows = 0u64;
    for_each(kv, &start, Some(&end), |key, value| {
        rows += 1;
        id_row(&key, &value, entries).map(|_| ())
    })?;
    if rows == entries {
        return Ok(());
    }
    for_each(kv, &start, Some(&end), |key, value| {
        let (id, position) = id_row(&key, &value, entries)?;
        let stored = kv.get(&keys::entry(position))?;
        let (entry_id, _) = split_entry(position, stored.as_deref().unwrap_or_default())?;
        if entry_id != id {
            return mismatch(
                Table::Ids,
                format!("id {} maps to entry {position}, whose id is {}", hex(&id), hex(&entry_id)),
            );
        }
        Ok(())
    })?;
    mismatch(Table::Ids, format!("it has {rows} ids for {entries} entries"))
}

/// An id row: the id and the position it maps to, which must be an entry's.
fn id_row(key: &[u8], value: &[u8], entries: u64) -> Result<([u8; 16], u64), DerivedError> {
    let id = keys::parse_id(key).ok_or_else(|| bad_key(Table::Ids, key))?;
    match keys::decode_u64(value) {
        Some(position) if (1..=entries).contains(&position) => Ok((id, position)),
        _ => mismatch(Table::Ids, format!("id {} maps to {}, which is no entry", hex(&id), show_position(value))),
    }
}

/// Walks the stream versions: each stream runs 1, 2, 3, … over entries in
/// log order that belong to it, and there are as many as the entries make.
fn check_streams(kv: &dyn Kv, entries: u64, expected: u64, derive: &mut Derive<'_>) -> Result<(), DerivedError> {
    let (start, end) = keys::stream_range();
    let mut rows = 0u64;
    let mut previous: Option<(String, u64, u64)> = None;
    for_each(kv, &start, Some(&end), |key, value| {
        rows += 1;
        let (stream, version, position) = stream_row(&key, &value)?;
        let (want, after) = match &previous {
            Some((s, v, p)) if *s == stream => (v + 1, *p),
            _ => (1, 0),
        };
        let problem = if version != want {
            Some(format!("stream `{stream}` has version {version} where version {want} should be"))
        } else if position <= after {
            Some(format!(
                "stream `{stream}` version {version} is entry {position}, not one after version {}'s entry {after}",
                want - 1
            ))
        } else if position > entries
            || !derive_at(kv, derive, position)?.is_some_and(|e| distinct_streams(&e).contains(&stream.as_str()))
        {
            Some(format!("stream `{stream}` version {version} is entry {position}, which does not belong to it"))
        } else {
            None
        };
        if let Some(problem) = problem {
            return mismatch(Table::Streams, problem);
        }
        previous = Some((stream, version, position));
        Ok(())
    })?;
    if rows != expected {
        return mismatch(Table::Streams, format!("it has {rows} stream versions, but the entries make {expected}"));
    }
    Ok(())
}

/// A stream row: the stream, the version and the entry's position.
fn stream_row(key: &[u8], value: &[u8]) -> Result<(String, u64, u64), DerivedError> {
    let (stream, version) = keys::parse_stream(key).ok_or_else(|| bad_key(Table::Streams, key))?;
    match keys::decode_u64(value) {
        Some(position) => Ok((stream, version, position)),
        None => mismatch(Table::Streams, format!("stream `{stream}` version {version} is {}", show_position(value))),
    }
}

/// Walks the index entries, one index after another: each names an entry and
/// is empty, and each index has as many as the entries make; if not, names
/// the first index entry its entry does not make.
fn check_indexes(
    kv: &dyn Kv,
    entries: u64,
    expected: &BTreeMap<String, u64>,
    derive: &mut Derive<'_>,
) -> Result<(), DerivedError> {
    let mut unseen = expected.clone();
    let mut current: Option<(String, u64)> = None;
    let (start, end) = keys::index_range();
    for_each(kv, &start, Some(&end), |key, value| {
        let (index, value_of, position) =
            keys::parse_index(&key).ok_or_else(|| bad_key(Table::Index("?".into()), &key))?;
        if !(1..=entries).contains(&position) {
            return mismatch(
                Table::Index(index),
                format!("it lists entry {position} under {}, but there is no such entry", show(&value_of)),
            );
        }
        if !value.is_empty() {
            return mismatch(Table::Index(index), format!("its entry {position} under {} holds data", show(&value_of)));
        }
        match &mut current {
            Some((name, rows)) if *name == index => *rows += 1,
            _ => {
                if let Some((name, rows)) = current.replace((index, 1)) {
                    finish_index(kv, &name, rows, unseen.remove(&name).unwrap_or(0), derive)?;
                }
            }
        }
        Ok(())
    })?;
    if let Some((name, rows)) = current {
        finish_index(kv, &name, rows, unseen.remove(&name).unwrap_or(0), derive)?;
    }
    match unseen.into_iter().find(|(_, count)| *count > 0) {
        Some((name, count)) => mismatch(Table::Index(name), format!("it is empty, but the entries make {count}")),
        None => Ok(()),
    }
}

/// One index walked: `rows` stored, `expected` made by the entries (all of
/// which were found). More rows than that: name the first its entry does not make.
fn finish_index(
    kv: &dyn Kv,
    index: &str,
    rows: u64,
    expected: u64,
    derive: &mut Derive<'_>,
) -> Result<(), DerivedError> {
    if rows == expected {
        return Ok(());
    }
    let prefix = keys::index_prefix(index);
    let end = keys::prefix_end(&prefix);
    for_each(kv, &prefix, end.as_deref(), |key, _| {
        let (_, value, position) = keys::parse_index(&key).ok_or_else(|| bad_key(Table::Index(index.into()), &key))?;
        let entry = derive_at(kv, derive, position)?.unwrap_or_default();
        let values: Vec<&[u8]> =
            distinct_indexes(&entry).into_iter().filter(|(name, _)| *name == index).map(|(_, v)| v).collect();
        if !values.contains(&value.as_slice()) {
            let made = if values.is_empty() {
                "has no value in this index".to_string()
            } else {
                format!("is indexed under {}", values.iter().map(|v| show(v)).collect::<Vec<_>>().join(", "))
            };
            return mismatch(
                Table::Index(index.into()),
                format!("it lists entry {position} under {}, but that entry {made}", show(&value)),
            );
        }
        Ok(())
    })?;
    mismatch(Table::Index(index.into()), format!("it has {rows} entries, but the entries make {expected}"))
}

/// Every stored Merkle node is one the entries complete (those were all
/// found while reading the entries, so none is missing).
fn check_nodes(kv: &dyn Kv, entries: u64) -> Result<(), DerivedError> {
    let (start, end) = keys::node_range();
    for_each(kv, &start, Some(&end), |key, _| {
        let id = keys::parse_node(&key).ok_or_else(|| bad_key(Table::Merkle, &key))?;
        let last_leaf = id.index.checked_add(1).and_then(|n| n.checked_mul(1u64.checked_shl(u32::from(id.level))?));
        if last_leaf.is_none_or(|last| last > entries) {
            return mismatch(Table::Merkle, format!("{} covers entries beyond the last, {entries}", node(id)));
        }
        Ok(())
    })
}

/// Calls `f` on every key-value pair in [start, end), in key order, reading
/// [`CHUNK`] at a time (`end = None`: to the last key).
fn for_each(
    kv: &dyn Kv,
    start: &[u8],
    end: Option<&[u8]>,
    mut f: impl FnMut(Vec<u8>, Vec<u8>) -> Result<(), DerivedError>,
) -> Result<(), DerivedError> {
    let mut next = start.to_vec();
    loop {
        let rows = kv.scan(&next, end, CHUNK, false)?;
        let Some((last, _)) = rows.last() else { return Ok(()) };
        next = last.clone();
        next.push(0);
        let full = rows.len() == CHUNK;
        for (key, value) in rows {
            f(key, value)?;
        }
        if !full {
            return Ok(());
        }
    }
}

/// A stored entry value: the 16-byte id, then the entry's bytes.
fn split_entry(position: u64, value: &[u8]) -> Result<([u8; 16], &[u8]), DerivedError> {
    let (id, bytes) = value
        .split_first_chunk::<16>()
        .ok_or(DerivedError::Entry { position, reason: "it is missing or malformed".into() })?;
    Ok((*id, bytes))
}

fn mismatch<T>(table: Table, problem: String) -> Result<T, DerivedError> {
    Err(DerivedError::Mismatch { table, problem })
}

fn bad_key(table: Table, key: &[u8]) -> DerivedError {
    DerivedError::Mismatch { table, problem: format!("key {} is not one the log writes", hex(key)) }
}

fn node(id: NodeId) -> String {
    format!("node (level {}, index {})", id.level, id.index)
}

/// An index value as text when it is text, else as hex.
fn show(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) if !text.chars().any(char::is_control) => format!("{text:?}"),
        _ => hex(value),
    }
}

fn show_position(value: &[u8]) -> String {
    keys::decode_u64(value).map_or_else(|| format!("{} (not a position)", hex(value)), |p| format!("entry {p}"))
}

fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("0x{digits}")
}
