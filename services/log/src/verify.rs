//! Offline proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2).
//!
//! This is what an auditor runs. It is written independently of the proof writer in
//! [`crate::merkle`] (only the two hash functions are shared), so a bug in the writer
//! cannot hide behind the same bug here.

use crate::hash::{Hash, node_hash};

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index (0-based).
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The new tree is smaller than the old one.
    #[error("new size {new_size} is smaller than old size {old_size}")]
    SizeDecreased {
        /// The old tree size.
        old_size: u64,
        /// The new tree size.
        new_size: u64,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has the wrong number of hashes")]
    WrongLength,
    /// The hashes computed from the proof do not match the given root(s).
    #[error("computed root does not match")]
    RootMismatch,
}

/// Checks that `leaf_hash` is leaf `index` (0-based) of the tree of `tree_size` leaves
/// whose root is `root`, using the audit path `proof` (RFC 9162 2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, size: tree_size });
    }
    let mut fnode = index;
    let mut snode = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree
/// of `new_size` leaves with root `new_root` (RFC 9162 2.1.4.2).
///
/// As in transparency-dev/merkle: equal sizes need equal roots and an empty proof; the
/// empty tree is a prefix of every tree (empty proof).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if new_size < old_size {
        return Err(ProofError::SizeDecreased { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        if old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if old_size == 0 {
        return if proof.is_empty() { Ok(()) } else { Err(ProofError::WrongLength) };
    }
    // Step 1: a non-trivial proof is never empty.
    let Some((first, rest)) = proof.split_first() else {
        return Err(ProofError::WrongLength);
    };
    // Step 2: if old_size is a power of two, the old root is the implicit first element.
    let (start, path): (Hash, &[Hash]) = if old_size.is_power_of_two() { (*old_root, proof) } else { (*first, rest) };
    // Steps 3 and 4.
    let mut fnode = old_size - 1;
    let mut snode = new_size - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 5.
    let mut fr = start;
    let mut sr = start;
    // Step 6.
    for c in path {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 7.
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}
