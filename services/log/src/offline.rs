//! Checking a log store offline, not through [`crate::log::Log`]: read every
//! entry's raw bytes from the store, hash them again, rebuild the RFC 6962
//! root with a plain recursive definition (not the incremental tree the
//! writer keeps), and compare it with a signed checkpoint. A bug in the
//! writer's tree code cannot hide here, and any altered, missing or extra
//! byte in an entry up to the checkpoint is found, with the first bad entry
//! named when the stored tree can point to it.

use ed25519_dalek::VerifyingKey;

use crate::checkpoint::SignedCheckpoint;
use crate::hash::{Hash, empty_root, leaf_hash, node_hash};
use crate::kv::{Kv, KvError};
use crate::log::keys;
use crate::merkle::NodeId;

/// What a successful check covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries proven by the checkpoint.
    pub size: u64,
    /// Entries after the checkpoint (not covered by it).
    pub after: u64,
}

/// Why a store does not match its checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The store could not be read.
    #[error("cannot read the store: {0}")]
    Store(#[from] KvError),
    /// The checkpoint is not signed by the given key, or is for another log.
    #[error("the checkpoint is not valid: {0}")]
    Checkpoint(String),
    /// An entry the checkpoint covers is missing or malformed.
    #[error("entry {position} is missing or malformed")]
    Missing {
        /// Its position (1-based).
        position: u64,
    },
    /// Entry `position` is not what was appended: its bytes no longer hash to
    /// the leaf the tree recorded.
    #[error("entry {position} has been altered: its bytes do not match the tree")]
    Altered {
        /// The first altered entry (1-based).
        position: u64,
    },
    /// The entries rebuild a different root from the checkpoint's.
    #[error("the {size} entries do not rebuild the checkpoint's root (the tree or the checkpoint was altered)")]
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
    },
}

/// The RFC 6962 Merkle tree hash of `leaves`, by its definition.
pub fn tree_hash(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
        }
    }
}

/// Checks the store `kv` against `checkpoint`, signed by `key` for `origin`.
pub fn verify_store(
    kv: &dyn Kv,
    checkpoint: &SignedCheckpoint,
    key: &VerifyingKey,
    origin: &str,
) -> Result<Verified, VerifyError> {
    checkpoint.verify(key).map_err(|e| VerifyError::Checkpoint(e.to_string()))?;
    if checkpoint.checkpoint.origin != origin {
        return Err(VerifyError::Checkpoint(format!("it is for `{}`, not `{origin}`", checkpoint.checkpoint.origin)));
    }
    let size = checkpoint.checkpoint.size;
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let (start, end) = keys::entry_range();
    let mut next = start;
    let mut total = 0u64;
    loop {
        let batch = kv.scan(&next, Some(&end), 4096, false)?;
        let Some((last, _)) = batch.last() else { break };
        next = last.clone();
        next.push(0);
        for (key, value) in batch {
            total += 1;
            let position = keys::trailing_u64(&key).ok_or(VerifyError::Missing { position: total })?;
            if position != total {
                return Err(VerifyError::Missing { position: total });
            }
            if position <= size {
                // The stored value is the 16-byte id followed by the entry's bytes.
                let bytes = value.get(16..).ok_or(VerifyError::Missing { position })?;
                leaves.push(leaf_hash(bytes));
            }
        }
    }
    if total < size {
        return Err(VerifyError::Missing { position: total + 1 });
    }
    if tree_hash(&leaves) == checkpoint.checkpoint.root {
        return Ok(Verified { size, after: total - size });
    }
    // Which entry? The writer stored each leaf's hash when it appended it.
    for (i, leaf) in leaves.iter().enumerate() {
        let stored = kv.get(&keys::node(NodeId { level: 0, index: i as u64 }))?;
        if stored.as_deref() != Some(leaf.as_slice()) {
            return Err(VerifyError::Altered { position: i as u64 + 1 });
        }
    }
    Err(VerifyError::RootMismatch { size })
}

/// The latest checkpoint stored in `kv`, if any.
pub fn latest_checkpoint(kv: &dyn Kv) -> Result<Option<SignedCheckpoint>, VerifyError> {
    let (start, end) = (keys::checkpoint(0), keys::checkpoint(u64::MAX));
    let Some((_, text)) = kv.scan(&start, Some(&end), 1, true)?.pop() else { return Ok(None) };
    let text = String::from_utf8(text).map_err(|_| VerifyError::Checkpoint("stored checkpoint is not text".into()))?;
    SignedCheckpoint::parse(&text).map(Some).map_err(|e| VerifyError::Checkpoint(e.to_string()))
}
