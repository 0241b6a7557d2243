//! One conformance suite for every KV engine: each check is a function generic over an
//! opener (`Fn(&Path) -> Arc<dyn Kv>`), instantiated below for each engine (redb).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use concord_log::kv::{self, Engine, Kv, WriteBatch};

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn put_all(kv: &dyn Kv, pairs: &[(&[u8], &[u8])]) {
    let mut b = WriteBatch::new();
    for (k, v) in pairs {
        b.put(*k, *v);
    }
    kv.commit(b).unwrap();
}

fn keys(pairs: &Pairs) -> Vec<Vec<u8>> {
    pairs.iter().map(|(k, _)| k.clone()).collect()
}

fn numbered(n: u8) -> Vec<u8> {
    vec![b'k', n]
}

pub fn ordering(open: &impl Fn(&Path) -> Arc<dyn Kv>) {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    // Written out of order, in several batches.
    for chunk in [[7u8, 3, 9], [1, 8, 2], [5, 4, 6]] {
        let mut b = WriteBatch::new();
        for n in chunk {
            b.put(numbered(n), vec![n]);
        }
        kv.commit(b).unwrap();
    }
    let all = kv.scan(b"", None, usize::MAX, false).unwrap();
    assert_eq!(keys(&all), (1..=9).map(numbered).collect::<Vec<_>>());
    assert!(all.iter().all(|(k, v)| v[0] == k[1]));
    assert_eq!(kv.get(&numbered(5)).unwrap(), Some(vec![5]));
    assert_eq!(kv.get(&numbered(10)).unwrap(), None);
}

pub fn ranges_reverse_and_limits(open: &impl Fn(&Path) -> Arc<dyn Kv>) {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let mut b = WriteBatch::new();
    for n in 1..=9 {
        b.put(numbered(n), vec![n]);
    }
    kv.commit(b).unwrap();
    let scan = |start: &[u8], end: Option<&[u8]>, limit, reverse| keys(&kv.scan(start, end, limit, reverse).unwrap());
    let nums = |ns: &[u8]| ns.iter().map(|&n| numbered(n)).collect::<Vec<_>>();
    // [start, end): start included, end excluded.
    assert_eq!(scan(&numbered(3), Some(&numbered(6)), 100, false), nums(&[3, 4, 5]));
    assert_eq!(scan(&numbered(3), Some(&numbered(6)), 100, true), nums(&[5, 4, 3]));
    // Bounds between keys.
    assert_eq!(scan(b"k\x03\x00", Some(b"k\x05\x00"), 100, false), nums(&[4, 5]));
    // Unbounded end.
    assert_eq!(scan(&numbered(8), None, 100, false), nums(&[8, 9]));
    assert_eq!(scan(&numbered(8), None, 100, true), nums(&[9, 8]));
    // Limits apply from the scan direction's start.
    assert_eq!(scan(b"", None, 2, false), nums(&[1, 2]));
    assert_eq!(scan(b"", None, 2, true), nums(&[9, 8]));
    assert_eq!(scan(&numbered(2), Some(&numbered(7)), 2, true), nums(&[6, 5]));
    assert!(scan(b"", None, 0, false).is_empty());
    // Empty and inverted ranges.
    assert!(scan(&numbered(4), Some(&numbered(4)), 10, false).is_empty());
    assert!(scan(&numbered(6), Some(&numbered(2)), 10, true).is_empty());
    assert!(scan(b"l", None, 10, false).is_empty());
}

pub fn overwrite_and_delete(open: &impl Fn(&Path) -> Arc<dyn Kv>) {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    put_all(kv.as_ref(), &[(b"a", b"1"), (b"b", b"2")]);
    put_all(kv.as_ref(), &[(b"a", b"one")]);
    assert_eq!(kv.get(b"a").unwrap(), Some(b"one".to_vec()));
    let mut b = WriteBatch::new();
    b.delete(b"b".to_vec());
    b.delete(b"missing".to_vec());
    assert_eq!(b.len(), 2);
    kv.commit(b).unwrap();
    assert_eq!(kv.get(b"b").unwrap(), None);
    assert_eq!(keys(&kv.scan(b"", None, 10, false).unwrap()), vec![b"a".to_vec()]);
    // Within a batch the last operation on a key wins.
    let mut b = WriteBatch::new();
    b.put(b"c".to_vec(), b"x".to_vec());
    b.delete(b"c".to_vec());
    b.put(b"d".to_vec(), b"x".to_vec());
    b.put(b"d".to_vec(), b"y".to_vec());
    b.delete(b"a".to_vec());
    b.put(b"a".to_vec(), b"again".to_vec());
    kv.commit(b).unwrap();
    assert_eq!(kv.get(b"c").unwrap(), None);
    assert_eq!(kv.get(b"d").unwrap(), Some(b"y".to_vec()));
    assert_eq!(kv.get(b"a").unwrap(), Some(b"again".to_vec()));
    // Empty values are values.
    put_all(kv.as_ref(), &[(b"e", b"")]);
    assert_eq!(kv.get(b"e").unwrap(), Some(Vec::new()));
    // Many keys at once: each as `get` answers it, in the order asked.
    let asked: Vec<&[u8]> = vec![b"d", b"missing", b"a", b"e", b"d"];
    let many = kv.get_many(&asked).unwrap();
    let one_by_one: Vec<Option<Vec<u8>>> = asked.iter().map(|k| kv.get(k).unwrap()).collect();
    assert_eq!(many, one_by_one);
    assert_eq!(many[0], Some(b"y".to_vec()));
    assert!(kv.get_many(&[]).unwrap().is_empty());
}

pub fn empty_batch(open: &impl Fn(&Path) -> Arc<dyn Kv>) {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let b = WriteBatch::new();
    assert!(b.is_empty());
    assert_eq!(b.len(), 0);
    kv.commit(b).unwrap();
    assert!(kv.scan(b"", None, 10, false).unwrap().is_empty());
}

/// A reader running beside the writer never sees half a batch: every batch rewrites all
/// keys with the same generation number.
pub fn atomic_batch(open: &impl Fn(&Path) -> Arc<dyn Kv>) {
    const KEYS: u8 = 20;
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let write = |generation: u32| {
        let mut b = WriteBatch::new();
        for n in 0..KEYS {
            b.put(numbered(n), generation.to_be_bytes());
        }
        kv.commit(b).unwrap();
    };
    write(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !done.load(Ordering::Acquire) || reads == 0 {
                let all = kv.scan(b"", None, usize::MAX, false).unwrap();
                assert_eq!(all.len(), usize::from(KEYS));
                assert!(all.windows(2).all(|w| w[0].1 == w[1].1), "saw a torn batch");
                reads += 1;
            }
        });
        for generation in 1..=30 {
            write(generation);
        }
        done.store(true, Ordering::Release);
        reader.join().unwrap();
    });
}

pub fn reopen_recovers_commits(open: &impl Fn(&Path) -> Arc<dyn Kv>) {
    let dir = tempfile::tempdir().unwrap();
    let expected: Pairs = (0..50u8).filter(|n| n % 7 != 0).map(|n| (numbered(n), vec![n; usize::from(n)])).collect();
    {
        let kv = open(dir.path());
        let mut b = WriteBatch::new();
        for n in 0..50u8 {
            b.put(numbered(n), b"first".to_vec());
        }
        kv.commit(b).unwrap();
        let mut b = WriteBatch::new();
        for n in 0..50u8 {
            if n % 7 == 0 {
                b.delete(numbered(n));
            } else {
                b.put(numbered(n), vec![n; usize::from(n)]);
            }
        }
        kv.commit(b).unwrap();
    }
    let kv = open(dir.path());
    assert_eq!(kv.scan(b"", None, usize::MAX, false).unwrap(), expected);
    // Still writable after reopening.
    put_all(kv.as_ref(), &[(b"z", b"z")]);
    assert_eq!(kv.get(b"z").unwrap(), Some(b"z".to_vec()));
}

pub fn binary_keys(open: &impl Fn(&Path) -> Arc<dyn Kv>) {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let sorted: Vec<Vec<u8>> = vec![
        vec![0x00],
        vec![0x00, 0x00],
        vec![0x00, 0xFF],
        vec![0x01],
        vec![0x7F, 0xFF, 0x00],
        vec![0x80],
        vec![0xFF],
        vec![0xFF, 0x00],
        vec![0xFF, 0xFF],
        vec![0xFF, 0xFF, 0xFF],
    ];
    let mut b = WriteBatch::new();
    for k in sorted.iter().rev() {
        b.put(k.clone(), [k.as_slice(), b"\x00\xFF"].concat());
    }
    kv.commit(b).unwrap();
    let all = kv.scan(&[], None, usize::MAX, false).unwrap();
    assert_eq!(keys(&all), sorted);
    assert!(all.iter().all(|(k, v)| *v == [k.as_slice(), b"\x00\xFF"].concat()));
    let mut rev = sorted.clone();
    rev.reverse();
    assert_eq!(keys(&kv.scan(&[], None, usize::MAX, true).unwrap()), rev);
    assert_eq!(keys(&kv.scan(&[0x00, 0x00], Some(&[0xFF, 0x00]), 100, false).unwrap()), sorted[1..7].to_vec());
    assert_eq!(
        keys(&kv.scan(&[0xFF], Some(&[0xFF, 0xFF, 0xFF]), 100, true).unwrap()),
        vec![vec![0xFF, 0xFF], vec![0xFF, 0x00], vec![0xFF]]
    );
    assert_eq!(kv.get(&[0x00, 0xFF]).unwrap(), Some(vec![0x00, 0xFF, 0x00, 0xFF]));
    assert_eq!(kv.get(&[0x00, 0x01]).unwrap(), None);
}

/// Enough writes, overwrites and deletes to make an engine move data out of memory
/// (fjall flushes memtables of 8 MiB into tables and compacts them): what was read
/// before must read the same after, and after a reopen.
pub fn survives_flushes(open: &impl Fn(&Path) -> Arc<dyn Kv>) {
    const KEYS: u32 = 12_000;
    let dir = tempfile::tempdir().unwrap();
    let key = |n: u32| format!("key/{:08}", n.wrapping_mul(2_654_435_761) % 1_000_000_007).into_bytes();
    let value = |n: u32, round: u32| {
        let mut v = format!("{n}:{round}:").into_bytes();
        v.resize(1_000, (n % 251) as u8);
        v
    };
    let expected = |n: u32| match n % 10 {
        0 => None,
        1..=3 => Some(value(n, 1)),
        _ => Some(value(n, 0)),
    };
    {
        let kv = open(dir.path());
        for round in 0..2u32 {
            for chunk in (0..KEYS).collect::<Vec<_>>().chunks(400) {
                let mut b = WriteBatch::new();
                for &n in chunk {
                    match (round, n % 10) {
                        (0, _) => b.put(key(n), value(n, 0)),
                        (1, 0) => b.delete(key(n)),
                        (1, 1..=3) => b.put(key(n), value(n, 1)),
                        _ => {}
                    }
                }
                kv.commit(b).unwrap();
            }
        }
        for n in (0..KEYS).step_by(97) {
            assert_eq!(kv.get(&key(n)).unwrap(), expected(n), "key {n} before reopening");
        }
    }
    let kv = open(dir.path());
    let all = kv.scan(b"key/", Some(b"key0"), usize::MAX, false).unwrap();
    let mut want: Vec<(Vec<u8>, Vec<u8>)> = (0..KEYS).filter_map(|n| expected(n).map(|v| (key(n), v))).collect();
    want.sort();
    assert_eq!(all.len(), want.len());
    assert!(all == want, "the store after reopening differs from what was written");
}

fn opener(engine: Engine) -> impl Fn(&Path) -> Arc<dyn Kv> {
    move |dir| kv::open(engine, dir).unwrap()
}

macro_rules! conformance {
    ($name:ident, $engine:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn ordering() {
                super::ordering(&opener($engine));
            }
            #[test]
            fn ranges_reverse_and_limits() {
                super::ranges_reverse_and_limits(&opener($engine));
            }
            #[test]
            fn overwrite_and_delete() {
                super::overwrite_and_delete(&opener($engine));
            }
            #[test]
            fn empty_batch() {
                super::empty_batch(&opener($engine));
            }
            #[test]
            fn atomic_batch() {
                super::atomic_batch(&opener($engine));
            }
            #[test]
            fn reopen_recovers_commits() {
                super::reopen_recovers_commits(&opener($engine));
            }
            #[test]
            fn binary_keys() {
                super::binary_keys(&opener($engine));
            }
            #[test]
            fn survives_flushes() {
                super::survives_flushes(&opener($engine));
            }
        }
    };
}

conformance!(redb, Engine::Redb);
conformance!(fjall, Engine::Fjall);

#[test]
fn a_store_is_recognised_by_its_files() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(kv::stored_engine(dir.path()).unwrap(), None, "{engine}: an empty directory");
        drop(kv::open(engine, dir.path()).unwrap());
        assert_eq!(kv::stored_engine(dir.path()).unwrap(), Some(engine));
        // Asking for another engine is refused, naming the one there, rather than
        // starting an empty store beside it.
        for other in Engine::ALL.into_iter().filter(|&other| other != engine) {
            let refused = kv::open(other, dir.path()).err().expect("another engine's store opened");
            assert_eq!(
                refused,
                kv::KvError::EngineMismatch { path: dir.path().display().to_string(), stored: engine, asked: other }
            );
            assert!(refused.to_string().contains(&format!("--engine {engine}")), "{refused}");
        }
        assert_eq!(kv::stored_engine(dir.path()).unwrap(), Some(engine), "left as it was");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("conf"), "sled").unwrap();
    assert!(matches!(kv::stored_engine(dir.path()), Err(kv::KvError::SledDropped)));
}

#[test]
fn engine_names_round_trip() {
    for engine in Engine::ALL {
        assert_eq!(engine.to_string().parse::<Engine>().unwrap(), engine);
    }
    assert_eq!(Engine::DEFAULT, Engine::Redb);
    assert!("lmdb".parse::<Engine>().is_err());
    // sled was dropped: asking for it says so and what to do.
    let sled = "sled".parse::<Engine>().unwrap_err().to_string();
    assert!(sled.contains("dropped") && sled.contains("use redb"), "{sled}");
}
