//! Log semantics (positions, dedup, streams, indexes, proofs, checkpoints, recovery) and
//! group commit, run against both KV engines.

use std::path::Path;
use std::sync::Arc;

use concord_log::kv::{self, Engine};
use concord_log::merkle::{empty_root, leaf_hash};
use concord_log::{
    Appended, EntryError, GroupCommitter, Log, LogError, NewEntry, SignedCheckpoint, verify_consistency,
    verify_inclusion,
};
use ed25519_dalek::SigningKey;

const ORIGIN: &str = "concord.test/log";

fn open(engine: Engine, dir: &Path) -> Log {
    let kv = kv::open(engine, dir).unwrap();
    Log::open(kv, ORIGIN, SigningKey::from_bytes(&[3; 32])).unwrap()
}

fn id(n: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    id
}

fn entry(n: u64) -> NewEntry {
    NewEntry { id: id(n), bytes: format!("entry {n}").into_bytes(), ..NewEntry::default() }
}

fn new(position: u64) -> Result<Appended, EntryError> {
    Ok(Appended::New { position })
}

/// Root of the leaves per RFC 9162 2.1.1, computed without the log's stored
/// nodes (by the offline verifier's plain recursive definition).
fn reference_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    concord_log::offline::tree_hash(leaves)
}

fn for_each_engine(test: impl Fn(Engine, &Path)) {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        test(engine, dir.path());
    }
}

#[test]
fn log_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Log>();
    check::<GroupCommitter>();
}

#[test]
fn positions_and_reads() {
    for_each_engine(|engine, dir| {
        let log = open(engine, dir);
        assert_eq!(log.size(), 0);
        assert_eq!(log.append_batch(vec![]).unwrap(), vec![]);
        let results = log.append_batch((1..=3).map(entry).collect()).unwrap();
        assert_eq!(results, vec![new(1), new(2), new(3)]);
        assert_eq!(log.append_batch(vec![entry(4)]).unwrap(), vec![new(4)]);
        assert_eq!(log.size(), 4);
        let e = log.get(2).unwrap().unwrap();
        assert_eq!((e.position, e.id, e.bytes), (2, id(2), b"entry 2".to_vec()));
        assert_eq!(log.get(0).unwrap(), None);
        assert_eq!(log.get(5).unwrap(), None);
        assert_eq!(log.position_of(&id(3)).unwrap(), Some(3));
        assert_eq!(log.position_of(&id(9)).unwrap(), None);
        let read: Vec<u64> = log.read_from(1, 2).unwrap().iter().map(|e| e.position).collect();
        assert_eq!(read, vec![2, 3]);
        assert_eq!(log.read_from(0, 100).unwrap().len(), 4);
        assert!(log.read_from(4, 100).unwrap().is_empty());
        // Arbitrary bytes, including empty, are stored exactly.
        let mut odd = entry(5);
        odd.bytes = vec![];
        let mut bin = entry(6);
        bin.bytes = vec![0, 0xFF, 0, 1];
        log.append_batch(vec![odd, bin]).unwrap();
        assert_eq!(log.get(5).unwrap().unwrap().bytes, Vec::<u8>::new());
        assert_eq!(log.get(6).unwrap().unwrap().bytes, vec![0, 0xFF, 0, 1]);
    });
}

#[test]
fn duplicates_and_reused_ids() {
    for_each_engine(|engine, dir| {
        let log = open(engine, dir);
        log.append_batch(vec![entry(1), entry(2)]).unwrap();
        let mut changed = entry(2);
        changed.bytes = b"something else".to_vec();
        let results = log
            .append_batch(vec![entry(2), changed.clone(), entry(3), entry(3), {
                let mut c = entry(3);
                c.bytes = b"other".to_vec();
                c
            }])
            .unwrap();
        assert_eq!(
            results,
            vec![
                Ok(Appended::Duplicate { position: 2 }),
                Err(EntryError::IdReused { position: 2 }),
                new(3),
                Ok(Appended::Duplicate { position: 3 }),
                Err(EntryError::IdReused { position: 3 }),
            ]
        );
        assert_eq!(log.size(), 3);
        // A batch of only duplicates writes nothing and changes no root.
        let root = log.root_at(3).unwrap();
        let results = log.append_batch(vec![entry(1), entry(3)]).unwrap();
        assert_eq!(results[0].as_ref().unwrap().position(), 1);
        assert_eq!(log.size(), 3);
        assert_eq!(log.root_at(3).unwrap(), root);
    });
}

#[test]
fn streams_and_expected_versions() {
    for_each_engine(|engine, dir| {
        let log = open(engine, dir);
        let with = |n, streams: &[&str], expected: &[(&str, u64)]| NewEntry {
            streams: streams.iter().map(|s| s.to_string()).collect(),
            expected: expected.iter().map(|(s, v)| (s.to_string(), *v)).collect(),
            ..entry(n)
        };
        let results = log
            .append_batch(vec![
                with(1, &["person/PK1"], &[("person/PK1", 0)]),
                with(2, &["person/PK1", "place/P9", "person/PK1"], &[("person/PK1", 1)]),
                // Stale: PK1 is at 2 counting the batch so far.
                with(3, &["person/PK1"], &[("person/PK1", 1)]),
                with(4, &["person/PK10"], &[("person/PK1", 2), ("place/P9", 1)]),
            ])
            .unwrap();
        assert_eq!(
            results,
            vec![
                new(1),
                new(2),
                Err(EntryError::Conflict { stream: "person/PK1".to_string(), expected: 1, actual: 2 }),
                new(3),
            ]
        );
        assert_eq!(log.stream_version("person/PK1").unwrap(), 2);
        assert_eq!(log.stream_version("place/P9").unwrap(), 1);
        assert_eq!(log.stream_version("person/PK10").unwrap(), 1);
        assert_eq!(log.stream_version("person/PK").unwrap(), 0);
        assert_eq!(log.stream("person/PK1", 0, 10).unwrap(), vec![(1, 1), (2, 2)]);
        assert_eq!(log.stream("person/PK1", 1, 10).unwrap(), vec![(2, 2)]);
        assert_eq!(log.stream("person/PK1", 0, 1).unwrap(), vec![(1, 1)]);
        assert_eq!(log.stream("person/PK10", 0, 10).unwrap(), vec![(1, 3)]);
        assert!(log.stream("nobody", 0, 10).unwrap().is_empty());
        // Next batch sees committed versions; entries without expectations always go in.
        let results = log
            .append_batch(vec![with(5, &["person/PK1"], &[("person/PK1", 1)]), with(6, &["person/PK1"], &[])])
            .unwrap();
        assert!(matches!(results[0], Err(EntryError::Conflict { actual: 2, .. })));
        assert_eq!(results[1], new(4));
        assert_eq!(log.stream_version("person/PK1").unwrap(), 3);
    });
}

#[test]
fn index_scans() {
    for_each_engine(|engine, dir| {
        let log = open(engine, dir);
        let values: [&[u8]; 8] = [b"a", b"ab", b"a", b"b", b"a\x00", b"", b"ab", b"c"];
        let entries = values
            .iter()
            .enumerate()
            .map(|(i, v)| NewEntry {
                indexes: vec![("type".to_string(), v.to_vec()), ("other".to_string(), b"a".to_vec())],
                ..entry(i as u64 + 1)
            })
            .collect();
        log.append_batch(entries).unwrap();
        let scan = |from: &[u8], to: &[u8], after, limit| log.scan_index("type", from, to, after, limit).unwrap();
        // Exact value "a": "ab" and "a\0" must not match although "a" is their prefix.
        assert_eq!(scan(b"a", b"a\x00", 0, 10), vec![1, 3]);
        assert_eq!(scan(b"a\x00", b"a\x00\x00", 0, 10), vec![5]);
        assert_eq!(scan(b"ab", b"ab\x00", 0, 10), vec![2, 7]);
        assert_eq!(scan(b"", b"\x00", 0, 10), vec![6]);
        // Ranges come back in position order, after `after`, at most `limit`.
        assert_eq!(scan(b"a", b"b", 0, 10), vec![1, 2, 3, 5, 7]);
        assert_eq!(scan(b"a", b"b", 2, 10), vec![3, 5, 7]);
        assert_eq!(scan(b"a", b"b", 2, 2), vec![3, 5]);
        assert_eq!(scan(b"", b"\xFF", 0, 100), (1..=8).collect::<Vec<_>>());
        assert_eq!(scan(b"b", b"a", 0, 10), Vec::<u64>::new());
        assert_eq!(scan(b"a", b"b", 8, 10), Vec::<u64>::new());
        // Index names are separate namespaces.
        assert_eq!(log.scan_index("other", b"a", b"b", 0, 3).unwrap(), vec![1, 2, 3]);
        assert!(log.scan_index("typ", b"", b"\xFF", 0, 10).unwrap().is_empty());
    });
}

#[test]
fn occurred_index_orders_signed_times() {
    // The documented encoding for times: i64 millis, big-endian with the sign bit flipped.
    let enc = |t: i64| ((t as u64) ^ (1 << 63)).to_be_bytes().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let log = open(Engine::DEFAULT, dir.path());
    let times = [-5_000i64, 10, -1, 0, 7_000];
    let entries = times
        .iter()
        .enumerate()
        .map(|(i, t)| NewEntry { indexes: vec![("occurred".to_string(), enc(*t))], ..entry(i as u64 + 1) })
        .collect();
    log.append_batch(entries).unwrap();
    assert_eq!(log.scan_index("occurred", &enc(-1), &enc(10), 0, 10).unwrap(), vec![3, 4]);
    assert_eq!(log.scan_index("occurred", &enc(-10_000), &enc(0), 0, 10).unwrap(), vec![1, 3]);
}

#[test]
fn roots_and_proofs_verify() {
    for_each_engine(|engine, dir| {
        let log = open(engine, dir);
        let mut leaves = Vec::new();
        let mut n = 0;
        // Uneven batches so that nodes are completed across batch boundaries.
        for batch_len in [1, 2, 3, 5, 8, 1, 13, 4, 3] {
            let batch: Vec<NewEntry> = (0..batch_len)
                .map(|_| {
                    n += 1;
                    entry(n)
                })
                .collect();
            leaves.extend(batch.iter().map(|e| leaf_hash(&e.bytes)));
            log.append_batch(batch).unwrap();
        }
        let size = log.size();
        assert_eq!(size, 40);
        let roots: Vec<[u8; 32]> = (0..=size).map(|s| log.root_at(s).unwrap()).collect();
        for s in 0..=size {
            assert_eq!(roots[s as usize], reference_root(&leaves[..s as usize]), "root at {s}");
        }
        for new_size in 1..=size {
            for position in 1..=new_size {
                let proof = log.inclusion_proof(position, new_size).unwrap();
                let leaf = leaves[position as usize - 1];
                verify_inclusion(&leaf, position - 1, new_size, &proof, &roots[new_size as usize]).unwrap();
            }
            for old_size in 0..=new_size {
                let proof = log.consistency_proof(old_size, new_size).unwrap();
                let (r1, r2) = (roots[old_size as usize], roots[new_size as usize]);
                verify_consistency(old_size, new_size, &r1, &r2, &proof).unwrap();
                if 0 < old_size && old_size < new_size {
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert!(verify_consistency(old_size, new_size, &r1, &r2, &bad).is_err());
                }
            }
        }
        // Out of range requests are errors, not panics.
        assert!(matches!(log.root_at(41), Err(LogError::OutOfRange { .. })));
        assert!(log.inclusion_proof(0, 5).is_err());
        assert!(log.inclusion_proof(6, 5).is_err());
        assert!(log.inclusion_proof(1, 41).is_err());
        assert!(log.consistency_proof(6, 5).is_err());
        assert!(log.consistency_proof(1, 41).is_err());
    });
}

#[test]
fn checkpoints_are_signed_and_stored() {
    for_each_engine(|engine, dir| {
        let log = open(engine, dir);
        let empty = log.checkpoint().unwrap();
        assert_eq!((empty.checkpoint.size, empty.checkpoint.root), (0, empty_root()));
        log.append_batch((1..=5).map(entry).collect()).unwrap();
        let cp = log.checkpoint().unwrap();
        assert_eq!(cp.checkpoint.origin, ORIGIN);
        assert_eq!(cp.checkpoint.size, 5);
        assert_eq!(cp.checkpoint.root, log.root_at(5).unwrap());
        assert!(cp.checkpoint.timestamp_ms > 1_600_000_000_000);
        let parsed = SignedCheckpoint::parse(cp.text()).unwrap();
        parsed.verify(&log.verifying_key()).unwrap();
        assert_eq!(log.stored_checkpoint(5).unwrap(), Some(cp));
        assert_eq!(log.stored_checkpoint(4).unwrap(), None);
    });
}

#[test]
fn reopen_recovers_state() {
    for_each_engine(|engine, dir| {
        let (root7, cp) = {
            let log = open(engine, dir);
            log.append_batch((1..=7).map(|n| NewEntry { streams: vec!["s".into()], ..entry(n) }).collect()).unwrap();
            (log.root_at(7).unwrap(), log.checkpoint().unwrap())
        };
        let log = open(engine, dir);
        assert_eq!(log.size(), 7);
        assert_eq!(log.root_at(7).unwrap(), root7);
        assert_eq!(log.stream_version("s").unwrap(), 7);
        assert_eq!(log.stored_checkpoint(7).unwrap(), Some(cp.clone()));
        // Dedup survives the restart, and appends continue the same tree.
        assert_eq!(
            log.append_batch(vec![entry(3), entry(8)]).unwrap(),
            vec![Ok(Appended::Duplicate { position: 3 }), new(8)]
        );
        let leaves: Vec<_> = (1..=8).map(|n| leaf_hash(&entry(n).bytes)).collect();
        assert_eq!(log.root_at(8).unwrap(), reference_root(&leaves));
        let proof = log.consistency_proof(7, 8).unwrap();
        verify_consistency(7, 8, &cp.checkpoint.root, &log.root_at(8).unwrap(), &proof).unwrap();
        // Stream versions continue from the store, then from what this log appended.
        let on_s =
            |n, expected| NewEntry { streams: vec!["s".into()], expected: vec![("s".into(), expected)], ..entry(n) };
        assert_eq!(
            log.append_batch(vec![on_s(9, 6)]).unwrap()[0],
            Err(EntryError::Conflict { stream: "s".into(), expected: 6, actual: 7 })
        );
        assert_eq!(log.append_batch(vec![on_s(9, 7)]).unwrap(), vec![new(9)]);
        assert_eq!(
            log.append_batch(vec![on_s(10, 8), on_s(11, 8)]).unwrap()[1],
            Err(EntryError::Conflict { stream: "s".into(), expected: 8, actual: 9 })
        );
        assert_eq!(log.stream_version("s").unwrap(), 9);
    });
}

#[test]
fn bad_origin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let kv = kv::open(Engine::DEFAULT, dir.path()).unwrap();
    let key = SigningKey::from_bytes(&[3; 32]);
    assert!(matches!(Log::open(kv.clone(), "has space", key.clone()), Err(LogError::Checkpoint(_))));
    assert!(Log::open(kv, "", key).is_err());
}

#[tokio::test]
async fn watch_sees_new_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(Engine::DEFAULT, dir.path()));
    let mut rx = log.watch();
    assert_eq!(*rx.borrow(), 0);
    let writer = log.clone();
    tokio::task::spawn_blocking(move || writer.append_batch(vec![entry(1), entry(2)])).await.unwrap().unwrap();
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow_and_update(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_concurrent_callers() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(open(engine, dir.path()));
        let group = Arc::new(GroupCommitter::spawn(log.clone(), 64));
        let callers = 200u64;
        let tasks: Vec<_> = (1..=callers)
            .map(|n| {
                let group = group.clone();
                tokio::spawn(async move { (n, group.append(entry(n)).await) })
            })
            .collect();
        let mut positions = Vec::new();
        for task in tasks {
            let (n, result) = task.await.unwrap();
            let position = result.unwrap().unwrap().position();
            // Each caller's answer is its own entry's position.
            assert_eq!(log.get(position).unwrap().unwrap().id, id(n));
            positions.push(position);
        }
        positions.sort_unstable();
        assert_eq!(positions, (1..=callers).collect::<Vec<_>>());
        assert!(group.commits() < callers, "{} commits for {callers} callers", group.commits());
        // Per-entry outcomes are routed back too.
        let again = group.append(entry(7)).await.unwrap();
        assert_eq!(again.unwrap(), Appended::Duplicate { position: log.position_of(&id(7)).unwrap().unwrap() });
    }
}

#[test]
fn cursors_commit_with_their_entries_and_survive_reopen() {
    for_each_engine(|engine, dir| {
        {
            let log = open(engine, dir);
            assert_eq!(log.cursor("source").unwrap(), None);
            log.append_batch_at(vec![entry(1), entry(2)], Some(("source", 7u64.to_be_bytes().to_vec()))).unwrap();
            // A batch of duplicates still moves the cursor.
            let results = log.append_batch_at(vec![entry(1)], Some(("source", 9u64.to_be_bytes().to_vec()))).unwrap();
            assert_eq!(results, vec![Ok(Appended::Duplicate { position: 1 })]);
        }
        let log = open(engine, dir);
        assert_eq!(log.size(), 2);
        assert_eq!(log.cursor("source").unwrap(), Some(9u64.to_be_bytes().to_vec()));
        assert_eq!(log.cursor("other").unwrap(), None);
    });
}
