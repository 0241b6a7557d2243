//! The tables a log derives from its entries (ids, streams, indexes, Merkle
//! nodes) are checked against the entries: an untouched store passes, and an
//! altered, removed or forged row of any of them is named, on both engines.

use std::sync::Arc;

use concord_log::derived::{DerivedError, Table, verify_derived};
use concord_log::kv::{self, Engine, Kv, WriteBatch};
use concord_log::{Log, NewEntry};
use ed25519_dalek::SigningKey;

/// Entry `n`: in the streams of subjects `n % 3` and `n % 5`, indexed by its
/// parity and by `n % 4` (twice, as a writer may list a value twice).
fn entry(n: u64) -> NewEntry {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    let parity = if n.is_multiple_of(2) { "even" } else { "odd" };
    NewEntry {
        id,
        bytes: n.to_string().into_bytes(),
        streams: vec![format!("a/{}", n % 3), format!("b/{}", n % 5)],
        expected: Vec::new(),
        indexes: vec![
            ("parity".into(), parity.as_bytes().to_vec()),
            ("mod4".into(), vec![0, (n % 4) as u8]),
            ("mod4".into(), vec![0, (n % 4) as u8]),
        ],
    }
}

/// The writer's derivation, from the stored bytes.
fn derive(bytes: &[u8]) -> Result<NewEntry, String> {
    let n = std::str::from_utf8(bytes).map_err(|e| e.to_string())?.parse().map_err(|e| format!("{e}"))?;
    Ok(entry(n))
}

fn check(kv: &Arc<dyn Kv>) -> Result<concord_log::derived::Derived, DerivedError> {
    verify_derived(kv.as_ref(), derive)
}

fn commit(kv: &Arc<dyn Kv>, puts: &[(Vec<u8>, Vec<u8>)], deletes: &[Vec<u8>]) {
    let mut batch = WriteBatch::new();
    for (k, v) in puts {
        batch.put(k.clone(), v.clone());
    }
    for k in deletes {
        batch.delete(k.clone());
    }
    kv.commit(batch).unwrap();
}

/// An index key as the log writes it (`x`, name length, name, value with 00 escaped, 00 01, position).
fn index_key(name: &str, value: &[u8], position: u64) -> Vec<u8> {
    let mut k = vec![b'x'];
    k.extend_from_slice(&(name.len() as u32).to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    for &b in value {
        k.push(b);
        if b == 0 {
            k.push(0xFF);
        }
    }
    k.extend_from_slice(&[0, 1]);
    k.extend_from_slice(&position.to_be_bytes());
    k
}

fn stream_key(stream: &str, version: u64) -> Vec<u8> {
    let mut k = vec![b's'];
    k.extend_from_slice(&(stream.len() as u32).to_be_bytes());
    k.extend_from_slice(stream.as_bytes());
    k.extend_from_slice(&version.to_be_bytes());
    k
}

fn id_key(n: u64) -> Vec<u8> {
    let mut k = vec![b'i'];
    k.extend_from_slice(&entry(n).id);
    k
}

fn node_key(level: u8, index: u64) -> Vec<u8> {
    let mut k = vec![b'm', level];
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// Expects `result` to name `table`, with `words` in the problem.
fn names(result: Result<concord_log::derived::Derived, DerivedError>, table: Table, words: &str) {
    match result {
        Err(DerivedError::Mismatch { table: t, problem }) if t == table && problem.contains(words) => {}
        other => panic!("expected {table} with `{words}`, got {other:?}"),
    }
}

/// Applies a change, expects it named, and undoes it.
fn tampered(kv: &Arc<dyn Kv>, puts: &[(Vec<u8>, Vec<u8>)], deletes: &[Vec<u8>], table: Table, words: &str) {
    let before: Vec<_> = deletes.iter().map(|k| (k.clone(), kv.get(k).unwrap())).collect();
    let replaced: Vec<_> = puts.iter().map(|(k, _)| (k.clone(), kv.get(k).unwrap())).collect();
    commit(kv, puts, deletes);
    names(check(kv), table, words);
    let mut batch = WriteBatch::new();
    for (k, v) in replaced.into_iter().chain(before) {
        match v {
            Some(v) => batch.put(k, v),
            None => batch.delete(k),
        }
    }
    kv.commit(batch).unwrap();
    check(kv).unwrap();
}

#[test]
fn every_derived_table_matches_and_any_tampering_is_named() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        let kv = kv::open(engine, dir.path()).unwrap();
        let log = Log::open(kv.clone(), "concord.test/derived", SigningKey::from_bytes(&[5; 32])).unwrap();
        for chunk in (1..=60).collect::<Vec<u64>>().chunks(7) {
            log.append_batch(chunk.iter().map(|&n| entry(n)).collect()).unwrap();
        }
        drop(log);

        let ok = check(&kv).unwrap();
        assert_eq!((ok.entries, ok.stream_versions), (60, 120), "{engine}");
        assert_eq!(ok.indexes.get("parity"), Some(&60));
        assert_eq!(ok.indexes.get("mod4"), Some(&60));

        let empty = Vec::new();
        let at = |n: u64| n.to_be_bytes().to_vec();
        let parity = || Table::Index("parity".into());
        let mod4 = || Table::Index("mod4".into());
        // Index entries: removed, moved to another value or entry, forged.
        tampered(&kv, &[], &[index_key("parity", b"odd", 7)], parity(), "entry 7 is indexed under \"odd\"");
        tampered(
            &kv,
            &[(index_key("parity", b"even", 7), empty.clone())],
            &[index_key("parity", b"odd", 7)],
            parity(),
            "entry 7 is indexed under \"odd\"",
        );
        tampered(
            &kv,
            &[(index_key("parity", b"odd", 8), empty.clone())],
            &[],
            parity(),
            "it lists entry 8 under \"odd\", but that entry is indexed under \"even\"",
        );
        tampered(&kv, &[(index_key("mod4", &[0, 1], 8), empty.clone())], &[], mod4(), "under 0x0001");
        tampered(&kv, &[(index_key("parity", b"odd", 61), empty.clone())], &[], parity(), "no such entry");
        tampered(&kv, &[(index_key("secret", b"x", 3), empty.clone())], &[], Table::Index("secret".into()), "entry 3");
        tampered(&kv, &[(index_key("parity", b"odd", 7), b"x".to_vec())], &[], parity(), "holds data");

        // Stream versions: the last removed, one in the middle removed, moved, forged.
        // Stream a/0 is entries 3, 6, …, 60 (versions 1 to 20).
        tampered(&kv, &[], &[stream_key("a/0", 20)], Table::Streams, "no version for entry 60");
        tampered(&kv, &[], &[stream_key("a/0", 4)], Table::Streams, "version 5 where version 4 should be");
        tampered(&kv, &[(stream_key("a/0", 4), at(13))], &[], Table::Streams, "does not belong to it");
        tampered(&kv, &[(stream_key("a/0", 21), at(60))], &[], Table::Streams, "not one after");
        tampered(&kv, &[(stream_key("c/1", 1), at(5))], &[], Table::Streams, "does not belong to it");
        // Removing the last version and moving the one before it to the gap's entry
        // leaves every row plausible: the count finds it.
        tampered(
            &kv,
            &[(stream_key("a/0", 19), at(60))],
            &[stream_key("a/0", 20)],
            Table::Streams,
            "119 stream versions",
        );

        // Ids (dedup): removed, pointed elsewhere, forged.
        tampered(&kv, &[], &[id_key(9)], Table::Ids, "missing");
        tampered(&kv, &[(id_key(9), at(10))], &[], Table::Ids, "not to its entry 9");
        tampered(&kv, &[(id_key(99), at(10))], &[], Table::Ids, "whose id is");

        // Merkle nodes: altered, forged beyond the log.
        tampered(&kv, &[(node_key(2, 3), vec![0; 32])], &[], Table::Merkle, "node (level 2, index 3)");
        tampered(&kv, &[(node_key(2, 15), vec![0; 32])], &[], Table::Merkle, "beyond the last");

        // An entry stored under another id than its bytes say.
        let mut value = kv.get(&[b"e".as_slice(), &5u64.to_be_bytes()].concat()).unwrap().unwrap();
        value[15] ^= 1;
        tampered(
            &kv,
            &[([b"e".as_slice(), &5u64.to_be_bytes()].concat(), value)],
            &[],
            Table::Ids,
            "entry 5 is stored under id",
        );
    }
}

#[test]
fn an_entry_that_does_not_derive_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let kv = kv::open(Engine::DEFAULT, dir.path()).unwrap();
    let log = Log::open(kv.clone(), "concord.test/derived", SigningKey::from_bytes(&[5; 32])).unwrap();
    log.append_batch(vec![entry(1), NewEntry { id: [9; 16], bytes: b"nine?".to_vec(), ..NewEntry::default() }])
        .unwrap();
    let err = check(&kv).unwrap_err();
    assert!(matches!(err, DerivedError::Entry { position: 2, .. }), "{err}");
}

#[test]
fn an_index_dropped_when_the_writer_stops_writing_it_leaves_a_store_that_verifies() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        let kv = kv::open(engine, dir.path()).unwrap();
        let log = Log::open(kv.clone(), "concord.test/derived", SigningKey::from_bytes(&[5; 32])).unwrap();
        log.append_batch((1..=30).map(entry).collect()).unwrap();
        let root = log.root_at(30).unwrap();
        assert_eq!(log.drop_index("mod4").unwrap(), 30, "{engine}");
        assert_eq!(log.drop_index("mod4").unwrap(), 0, "{engine}: nothing left to drop");
        // The other index, the entries and the tree are untouched.
        assert_eq!(log.scan_index("parity", b"odd", b"odd\0", 0, 100).unwrap().len(), 15, "{engine}");
        assert!(log.scan_index("mod4", &[0], &[1], 0, 100).unwrap().is_empty(), "{engine}");
        assert_eq!(log.root_at(30).unwrap(), root, "{engine}");
        drop(log);
        // A writer that no longer indexes `mod4`: the store matches it.
        let without_mod4 = |bytes: &[u8]| {
            derive(bytes).map(|mut e| {
                e.indexes.retain(|(index, _)| index != "mod4");
                e
            })
        };
        let ok = verify_derived(kv.as_ref(), without_mod4).unwrap();
        assert_eq!(ok.indexes.values().sum::<u64>(), 30, "{engine}");
    }
}
