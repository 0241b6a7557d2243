//! Concord's tamper-evident, append-only log.
//!
//! The pieces, bottom up:
//! - [`kv`]: a small ordered key-value trait ([`kv::Kv`]) over redb, with a
//!   conformance suite any engine must pass; every write is an atomic, fsynced batch.
//! - [`hash`], [`merkle`]: RFC 6962 / RFC 9162 Merkle tree hashing, with the hashes of
//!   complete subtrees stored in the KV so roots and proofs for any size cost O(log n).
//! - [`verify`]: independent offline verification of inclusion and consistency proofs.
//! - [`checkpoint`]: signed checkpoints (size + root) as C2SP tlog-checkpoint notes.
//! - [`log`]: the log itself ([`Log`]): positions, idempotent ids, per-subject streams
//!   with expected-version appends, secondary indexes, proofs and checkpoints. It stores
//!   opaque bytes, so the event log and the audit log share it.
//! - [`group`]: group commit, so many concurrent appends share one fsync.
//! - [`offline`], [`derived`]: checking a store offline, its entries against a signed
//!   checkpoint, then every table derived from them (ids, streams, indexes, Merkle
//!   nodes) against the entries.

pub mod checkpoint;
pub mod derived;
pub mod group;
pub mod hash;
pub mod kv;
pub mod log;
pub mod merkle;
pub mod offline;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
pub use group::GroupCommitter;
pub use kv::{Engine, Kv, KvError, WriteBatch};
pub use log::{Appended, Entry, EntryError, Log, LogError, NewEntry};
pub use verify::{ProofError, verify_consistency, verify_inclusion};
