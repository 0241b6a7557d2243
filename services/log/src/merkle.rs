//! RFC 6962 / RFC 9162 (section 2.1) Merkle tree over the log, backed by stored node hashes.
//!
//! Why hand-written: crates such as `ct-merkle` keep the whole tree in memory; this log
//! must keep its tree in the KV store next to the entries, so it can grow without bound
//! and serve proofs for any historical size after a restart.
//!
//! The scheme: as leaves are appended, the hash of every *perfect* subtree that becomes
//! complete is stored (level `l`, index `i` covers leaves `[i*2^l, (i+1)*2^l)`); that is
//! on average two node writes per leaf, written in the same KV batch as the entry.
//! A [`Frontier`] (the perfect subtrees that make up the current tree, at most 64) is
//! kept in memory to compute those nodes without reads. Any root or proof for a tree
//! of size `n` is computed from O(log n) stored nodes: every range the RFC's recursion
//! visits is either a stored perfect subtree or splits into one plus a smaller range.
//!
//! Proof *verification* lives in [`crate::verify`] and shares nothing with this file
//! but the two hash functions.

pub use crate::hash::{Hash, empty_root, leaf_hash, node_hash};

/// A perfect subtree: level `level` (leaves are level 0), `index`-th from the left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height of the subtree; it covers `2^level` leaves.
    pub level: u8,
    /// Position among the subtrees of this level; it covers leaves from `index << level`.
    pub index: u64,
}

/// The right edge of the tree: the hashes of the perfect subtrees that make up a tree of
/// `size` leaves (one per set bit of `size`, largest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The perfect subtrees making up a tree of `size` leaves, largest (leftmost) first.
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        let mut ids = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if (size >> level) & 1 == 1 {
                ids.push(NodeId { level, index: start >> level });
                start += 1 << level;
            }
        }
        ids
    }

    /// Rebuilds the frontier of a tree of `size` leaves from the hashes of
    /// [`Frontier::node_ids`]`(size)`, in that order. Returns `None` if the count is wrong.
    pub fn restore(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Self { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf and returns the perfect subtrees it completes (the leaf itself
    /// first, then each parent it completes), which the caller must store.
    pub fn append(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let mut id = NodeId { level: 0, index: self.size };
        let mut hash = leaf;
        let mut completed = vec![(id, hash)];
        // Each set low bit of the old size is a perfect subtree of the same height to the
        // left of the new one: merge them.
        while (self.size >> id.level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            hash = node_hash(&left, &hash);
            id = NodeId { level: id.level + 1, index: id.index >> 1 };
            completed.push((id, hash));
        }
        self.hashes.push(hash);
        self.size += 1;
        completed
    }

    /// The root of the current tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// Largest power of two strictly less than `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])` for a non-empty range, reading stored perfect subtrees.
fn range_hash<E>(start: u64, end: u64, read: &mut impl FnMut(NodeId) -> Result<Hash, E>) -> Result<Hash, E> {
    let n = end - start;
    // A power-of-two range starting at a multiple of its size is a stored perfect subtree.
    if n.is_power_of_two() && start & (n - 1) == 0 {
        let level = n.trailing_zeros() as u8;
        return read(NodeId { level, index: start >> level });
    }
    let k = split(n);
    let left = range_hash(start, start + k, read)?;
    let right = range_hash(start + k, end, read)?;
    Ok(node_hash(&left, &right))
}

/// Root of the tree of the first `size` leaves (`SHA-256("")` for size 0).
pub fn root<E>(size: u64, read: &mut impl FnMut(NodeId) -> Result<Hash, E>) -> Result<Hash, E> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(0, size, read)
}

/// RFC 9162 2.1.3.1 inclusion proof (audit path) of leaf `index` in the tree of the first
/// `size` leaves, nearest sibling first. Requires `index < size`.
pub fn inclusion_proof<E>(
    index: u64,
    size: u64,
    read: &mut impl FnMut(NodeId) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    debug_assert!(index < size);
    let mut proof = Vec::new();
    path(index, 0, size, read, &mut proof)?;
    Ok(proof)
}

/// `PATH(m, D[start:end])` with absolute leaf index `m`.
fn path<E>(
    m: u64,
    start: u64,
    end: u64,
    read: &mut impl FnMut(NodeId) -> Result<Hash, E>,
    proof: &mut Vec<Hash>,
) -> Result<(), E> {
    if end - start <= 1 {
        return Ok(());
    }
    let mid = start + split(end - start);
    if m < mid {
        path(m, start, mid, read, proof)?;
        proof.push(range_hash(mid, end, read)?);
    } else {
        path(m, mid, end, read, proof)?;
        proof.push(range_hash(start, mid, read)?);
    }
    Ok(())
}

/// RFC 9162 2.1.4.1 consistency proof between the trees of the first `old_size` and
/// `new_size` leaves. Empty when `old_size` is 0 or equal to `new_size`.
/// Requires `old_size <= new_size`.
pub fn consistency_proof<E>(
    old_size: u64,
    new_size: u64,
    read: &mut impl FnMut(NodeId) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    debug_assert!(old_size <= new_size);
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(old_size, 0, new_size, true, read, &mut proof)?;
    }
    Ok(proof)
}

/// `SUBPROOF(m, D[start:end], b)` with absolute old size `m` (`start < m <= end`).
fn subproof<E>(
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    read: &mut impl FnMut(NodeId) -> Result<Hash, E>,
    proof: &mut Vec<Hash>,
) -> Result<(), E> {
    if m == end {
        if !complete {
            proof.push(range_hash(start, end, read)?);
        }
        return Ok(());
    }
    let mid = start + split(end - start);
    if m <= mid {
        subproof(m, start, mid, complete, read, proof)?;
        proof.push(range_hash(mid, end, read)?);
    } else {
        subproof(m, mid, end, false, read, proof)?;
        proof.push(range_hash(start, mid, read)?);
    }
    Ok(())
}
