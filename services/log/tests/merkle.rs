//! Merkle tree tests: published RFC 6962 test vectors for the writer (`merkle`) and the
//! verifier (`verify`), plus a property test over random tree sizes.

use std::collections::HashMap;

use concord_log::merkle::{self, Frontier, Hash, NodeId, empty_root, leaf_hash, node_hash};
use concord_log::verify::{ProofError, verify_consistency, verify_inclusion};
use rand::Rng;

// Test vectors from transparency-dev/merkle, proof/verify_test.go (the classic
// certificate-transparency vectors): eight leaves, the root of every size 1..=8, and
// known inclusion and consistency proofs. Inclusion vectors there use 1-based leaf numbers.
const LEAVES: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// (leaf number, 1-based; tree size; proof)
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];
/// (old size, new size, proof)
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn hashes(v: &[&str]) -> Vec<Hash> {
    v.iter().map(|s| h(s)).collect()
}

/// An in-memory node store filled the way the log fills its KV store.
struct Tree {
    frontier: Frontier,
    nodes: HashMap<NodeId, Hash>,
    leaves: Vec<Hash>,
    /// `roots[n]` is the frontier's root after `n` leaves.
    roots: Vec<Hash>,
}

impl Tree {
    fn new() -> Self {
        Tree { frontier: Frontier::new(), nodes: HashMap::new(), leaves: Vec::new(), roots: vec![empty_root()] }
    }

    fn push(&mut self, data: &[u8]) {
        let leaf = leaf_hash(data);
        self.leaves.push(leaf);
        self.nodes.extend(self.frontier.append(leaf));
        self.roots.push(self.frontier.root());
    }

    fn read(&self) -> impl FnMut(NodeId) -> Result<Hash, NodeId> + '_ {
        |id| self.nodes.get(&id).copied().ok_or(id)
    }

    fn root(&self, size: u64) -> Hash {
        merkle::root(size, &mut self.read()).unwrap()
    }
    fn inclusion(&self, index: u64, size: u64) -> Vec<Hash> {
        merkle::inclusion_proof(index, size, &mut self.read()).unwrap()
    }
    fn consistency(&self, m: u64, n: u64) -> Vec<Hash> {
        merkle::consistency_proof(m, n, &mut self.read()).unwrap()
    }
}

fn vector_tree() -> Tree {
    let mut t = Tree::new();
    for leaf in LEAVES {
        t.push(&hex::decode(leaf).unwrap());
    }
    t
}

/// MTH straight from RFC 9162 2.1.1, over leaf hashes: the reference for the property test.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            // k is the largest power of two smaller than n.
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

#[test]
fn empty_tree_root() {
    assert_eq!(empty_root(), h(EMPTY_ROOT));
    assert_eq!(Tree::new().root(0), h(EMPTY_ROOT));
}

#[test]
fn roots_match_vectors() {
    let t = vector_tree();
    for (i, root) in ROOTS.iter().enumerate() {
        let size = i as u64 + 1;
        assert_eq!(t.root(size), h(root), "stored-node root at size {size}");
        assert_eq!(t.roots[i + 1], h(root), "frontier root at size {size}");
    }
}

#[test]
fn writer_produces_vector_proofs() {
    let t = vector_tree();
    for (leaf, size, proof) in INCLUSION {
        assert_eq!(t.inclusion(leaf - 1, size), hashes(proof), "inclusion {leaf}/{size}");
    }
    for (m, n, proof) in CONSISTENCY {
        assert_eq!(t.consistency(m, n), hashes(proof), "consistency {m}->{n}");
    }
}

#[test]
fn verifier_accepts_vector_proofs() {
    for (leaf, size, proof) in INCLUSION {
        let data = hex::decode(LEAVES[leaf as usize - 1]).unwrap();
        let root = h(ROOTS[size as usize - 1]);
        verify_inclusion(&leaf_hash(&data), leaf - 1, size, &hashes(proof), &root).unwrap();
        assert_inclusion_tamper_fails(&leaf_hash(&data), leaf - 1, size, &hashes(proof), &root);
        // Wrong index or size (as in the upstream corruption probes).
        let lh = leaf_hash(&data);
        let p = hashes(proof);
        if leaf > 1 {
            assert!(verify_inclusion(&lh, leaf - 2, size, &p, &root).is_err());
        }
        assert!(verify_inclusion(&lh, leaf, size, &p, &root).is_err());
        assert!(verify_inclusion(&lh, leaf - 1, size * 2, &p, &root).is_err());
        assert!(verify_inclusion(&lh, leaf - 1, size / 2, &p, &root).is_err());
    }
    for (m, n, proof) in CONSISTENCY {
        let (r1, r2) = (h(ROOTS[m as usize - 1]), h(ROOTS[n as usize - 1]));
        verify_consistency(m, n, &r1, &r2, &hashes(proof)).unwrap();
        if m < n {
            let p = hashes(proof);
            assert_consistency_tamper_fails(m, n, &r1, &r2, &p);
            assert!(verify_consistency(m - 1, n, &r1, &r2, &p).is_err());
            assert!(verify_consistency(m + 1, n, &r1, &r2, &p).is_err());
            assert!(verify_consistency(m, n * 2, &r1, &r2, &p).is_err());
            assert!(verify_consistency(m, n / 2, &r1, &r2, &p).is_err());
            assert!(verify_consistency(m, n, &r2, &r1, &p).is_err());
        }
    }
}

#[test]
fn verifier_edge_cases() {
    let some = [7u8; 32];
    let e = h(EMPTY_ROOT);
    // Index outside the tree.
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert!(matches!(verify_inclusion(&some, index, size, &[], &e), Err(ProofError::IndexOutOfRange { .. })));
    }
    // A one-leaf tree: the root is the leaf hash and the proof is empty.
    let leaf = leaf_hash(b"data");
    verify_inclusion(&leaf, 0, 1, &[], &leaf).unwrap();
    assert!(verify_inclusion(&leaf, 0, 1, &[leaf], &leaf).is_err());
    // Consistency: equal sizes need equal roots, the empty tree precedes anything,
    // sizes never shrink, and a non-trivial proof is never empty.
    verify_consistency(0, 0, &e, &e, &[]).unwrap();
    verify_consistency(0, 5, &e, &some, &[]).unwrap();
    verify_consistency(3, 3, &some, &some, &[]).unwrap();
    assert!(verify_consistency(3, 3, &some, &e, &[]).is_err());
    assert!(verify_consistency(0, 1, &e, &some, &[e]).is_err());
    assert!(verify_consistency(1, 1, &e, &e, &[e]).is_err());
    assert!(matches!(verify_consistency(2, 1, &some, &some, &[]), Err(ProofError::SizeDecreased { .. })));
    assert!(verify_consistency(1, 2, &some, &e, &[]).is_err());
}

fn assert_inclusion_tamper_fails(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) {
    let mut bad_root = *root;
    bad_root[0] ^= 1;
    assert!(verify_inclusion(leaf, index, size, proof, &bad_root).is_err());
    let mut bad_leaf = *leaf;
    bad_leaf[31] ^= 0x80;
    assert!(verify_inclusion(&bad_leaf, index, size, proof, root).is_err());
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i][i % 32] ^= 8;
        assert!(verify_inclusion(leaf, index, size, &p, root).is_err(), "flipped proof[{i}]");
    }
    if !proof.is_empty() {
        assert!(verify_inclusion(leaf, index, size, &proof[..proof.len() - 1], root).is_err());
    }
    let longer = [proof, &[*root]].concat();
    assert!(verify_inclusion(leaf, index, size, &longer, root).is_err());
    let front = [&[*root][..], proof].concat();
    assert!(verify_inclusion(leaf, index, size, &front, root).is_err());
}

fn assert_consistency_tamper_fails(m: u64, n: u64, r1: &Hash, r2: &Hash, proof: &[Hash]) {
    let mut bad = *r1;
    bad[5] ^= 2;
    assert!(verify_consistency(m, n, &bad, r2, proof).is_err());
    let mut bad = *r2;
    bad[5] ^= 2;
    assert!(verify_consistency(m, n, r1, &bad, proof).is_err());
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i][i % 32] ^= 16;
        assert!(verify_consistency(m, n, r1, r2, &p).is_err(), "flipped proof[{i}]");
    }
    assert!(verify_consistency(m, n, r1, r2, &[]).is_err());
    assert!(verify_consistency(m, n, r1, r2, &proof[..proof.len() - 1]).is_err());
    let longer = [proof, &[*r2]].concat();
    assert!(verify_consistency(m, n, r1, r2, &longer).is_err());
    let front = [&[proof[0]][..], proof].concat();
    assert!(verify_consistency(m, n, r1, r2, &front).is_err());
}

/// For a random tree of up to 300 leaves: every root matches the reference, every
/// inclusion proof and every consistency proof for all (m, n) verifies, and tampered
/// proofs and roots fail (checked at a set of edge and random sizes).
#[test]
fn all_proofs_verify_for_random_sizes() {
    let mut rng = rand::thread_rng();
    let mut sizes = vec![1u64, 2, 3, 4, 5, 7, 8, 9, 16, 17, 63, 64, 65];
    sizes.extend((0..3).map(|_| rng.gen_range(100..=300)));
    let max = *sizes.iter().max().unwrap();
    let mut t = Tree::new();
    for i in 0..max {
        let len = rng.gen_range(0..40);
        let mut data: Vec<u8> = (0..len).map(|_| rng.gen_range(0..=255)).collect();
        data.extend_from_slice(&i.to_be_bytes());
        t.push(&data);
    }
    for n in 0..=max {
        let expected = reference_root(&t.leaves[..n as usize]);
        assert_eq!(t.root(n), expected, "root at {n}");
        assert_eq!(t.roots[n as usize], expected, "frontier root at {n}");
    }
    for n in 0..=max {
        let sampled = sizes.contains(&n);
        let root_n = t.root(n);
        for index in 0..n {
            let proof = t.inclusion(index, n);
            let leaf = t.leaves[index as usize];
            verify_inclusion(&leaf, index, n, &proof, &root_n).unwrap();
            if sampled && index % 5 == 0 {
                assert_inclusion_tamper_fails(&leaf, index, n, &proof, &root_n);
            }
        }
        for m in 0..=n {
            let proof = t.consistency(m, n);
            let root_m = t.root(m);
            verify_consistency(m, n, &root_m, &root_n, &proof).unwrap();
            if sampled && 0 < m && m < n && m % 5 == 0 {
                assert_consistency_tamper_fails(m, n, &root_m, &root_n, &proof);
            }
        }
    }
}

#[test]
fn node_writes_are_amortised_constant() {
    let mut f = Frontier::new();
    let mut writes = 0;
    for i in 0..1024u64 {
        writes += f.append(leaf_hash(&i.to_be_bytes())).len();
    }
    // A perfect tree of 1024 leaves has 2047 nodes; each is written exactly once.
    assert_eq!(writes, 2047);
    assert_eq!(Frontier::node_ids(1024).len(), 1);
    assert_eq!(Frontier::node_ids(0b1011).len(), 3);
}

#[test]
fn frontier_restores_from_node_ids() {
    let mut t = Tree::new();
    for i in 0..45u64 {
        t.push(&i.to_be_bytes());
    }
    let ids = Frontier::node_ids(45);
    let hashes = ids.iter().map(|id| t.nodes[id]).collect();
    let mut restored = Frontier::restore(45, hashes).unwrap();
    assert_eq!(restored, t.frontier);
    assert!(Frontier::restore(45, vec![]).is_none());
    let leaf = leaf_hash(b"next");
    t.frontier.append(leaf);
    restored.append(leaf);
    assert_eq!(restored.root(), t.frontier.root());
}
