//! Crash recovery: a child process (this test binary re-executed with `CHILD_ENV` set)
//! appends batches in a loop and prints each committed position after `append_batch`
//! returns; the parent SIGKILLs it at a random moment, several times in a row, reopens
//! the log and checks that nothing acknowledged was lost and the tree is intact.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use concord_log::kv::{self, Engine};
use concord_log::merkle::{empty_root, leaf_hash, node_hash};
use concord_log::{Appended, EntryError, Log, NewEntry, SignedCheckpoint, verify_consistency};
use ed25519_dalek::SigningKey;
use rand::Rng;

const CHILD_ENV: &str = "CONCORD_LOG_CRASH_CHILD";
const ORIGIN: &str = "concord.test/crash";
const ROUNDS: u64 = 3;
const STREAMS: u64 = 7;

fn open(engine: Engine, dir: &Path) -> Log {
    let kv = kv::open(engine, dir).unwrap();
    Log::open(kv, ORIGIN, SigningKey::from_bytes(&[5; 32])).unwrap()
}

/// Entry `n` of round `round`; its bytes and stream are derived from its id, so the
/// parent can check every stored entry without being told what the child wrote.
fn make_entry(round: u64, n: u64) -> NewEntry {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&round.to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    NewEntry {
        id,
        bytes: entry_bytes(&id),
        streams: vec![stream_of(&id)],
        expected: vec![],
        indexes: vec![("round".to_string(), round.to_be_bytes().to_vec())],
    }
}

fn entry_bytes(id: &[u8; 16]) -> Vec<u8> {
    let mut bytes = id.to_vec();
    bytes.resize(16 + usize::from(id[15] % 50), id[15]);
    bytes
}

fn stream_of(id: &[u8; 16]) -> String {
    format!("person/PK{}", u64::from(id[15]) % STREAMS)
}

/// The child's side: append random-sized batches forever, reporting what committed.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return; // A normal test run: nothing to do.
    };
    let mut parts = spec.splitn(3, ':');
    let engine: Engine = parts.next().unwrap().parse().unwrap();
    let round: u64 = parts.next().unwrap().parse().unwrap();
    let log = open(engine, Path::new(parts.next().unwrap()));
    let mut rng = rand::thread_rng();
    let mut n = 0u64;
    for batch_no in 0u64.. {
        let mut batch: Vec<NewEntry> = (0..rng.gen_range(1..=16))
            .map(|_| {
                n += 1;
                make_entry(round, n)
            })
            .collect();
        // Resend an earlier entry now and then: dedup must hold across crashes too.
        if n > 20 && batch_no % 3 == 0 {
            batch.push(make_entry(round, rng.gen_range(1..n - 16)));
        }
        let results = log.append_batch(batch.clone()).unwrap();
        let mut out = std::io::stdout().lock();
        for (e, r) in batch.iter().zip(results) {
            if let Ok(Appended::New { position }) = r {
                writeln!(out, "committed {position} {}", B64.encode(e.id)).unwrap();
            }
        }
        if batch_no % 4 == 0 {
            let cp = log.checkpoint().unwrap();
            writeln!(out, "checkpoint {}", B64.encode(cp.text())).unwrap();
        }
        out.flush().unwrap();
    }
}

/// Runs one child until it is killed; returns its stdout lines.
fn run_child_and_kill(engine: Engine, dir: &Path, round: u64) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{engine}:{round}:{}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
        }
    });
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // Wait for the first commit, then kill at a random moment.
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => {
                let started = line.starts_with("committed ");
                lines.push(line);
                if started {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("child made no progress: {}", errors.join().unwrap());
            }
        }
    }
    std::thread::sleep(Duration::from_millis(rand::thread_rng().gen_range(20..400)));
    let early_exit = child.try_wait().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    let stderr = errors.join().unwrap();
    assert!(early_exit.is_none(), "child exited by itself: {early_exit:?}\n{stderr}");
    lines.extend(rx.try_iter());
    lines
}

fn reference_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

/// Checks the reopened log against everything reported before the crash.
fn check_recovered(log: &Log, reported: &BTreeMap<u64, [u8; 16]>, checkpoints: &[SignedCheckpoint]) {
    let size = log.size();
    let entries = log.read_from(0, usize::MAX).unwrap();
    // Contiguous positions 1..=size, each entry intact.
    assert_eq!(entries.len() as u64, size);
    let mut streams: HashMap<String, Vec<u64>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1, "gap in positions");
        assert_eq!(e.bytes, entry_bytes(&e.id), "entry {} corrupted", e.position);
        assert_eq!(log.position_of(&e.id).unwrap(), Some(e.position));
        streams.entry(stream_of(&e.id)).or_default().push(e.position);
    }
    // Every acknowledged position survived with its entry.
    for (position, id) in reported {
        let e = log.get(*position).unwrap().unwrap_or_else(|| panic!("lost {position}"));
        assert_eq!(e.id, *id, "position {position} holds another entry");
    }
    // Streams: versions 1..=k in position order.
    for (stream, positions) in streams {
        let got = log.stream(&stream, 0, usize::MAX).unwrap();
        let want: Vec<(u64, u64)> = (1..).zip(positions).collect();
        assert_eq!(got, want, "stream {stream}");
        assert_eq!(log.stream_version(&stream).unwrap(), got.len() as u64);
    }
    // The stored tree matches the entries.
    let leaves: Vec<_> = entries.iter().map(|e| leaf_hash(&e.bytes)).collect();
    let root = log.root_at(size).unwrap();
    assert_eq!(root, reference_root(&leaves));
    // Checkpoints from before the kill are consistent with the recovered log.
    for cp in checkpoints {
        cp.verify(&log.verifying_key()).unwrap();
        let old = &cp.checkpoint;
        assert!(old.size <= size, "checkpoint at {} beyond recovered size {size}", old.size);
        let proof = log.consistency_proof(old.size, size).unwrap();
        verify_consistency(old.size, size, &old.root, &root, &proof).unwrap();
    }
}

fn crash_and_recover(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let mut reported: BTreeMap<u64, [u8; 16]> = BTreeMap::new();
    let mut checkpoints: Vec<SignedCheckpoint> = Vec::new();
    for round in 1..=ROUNDS {
        for line in run_child_and_kill(engine, dir.path(), round) {
            if let Some(rest) = line.strip_prefix("committed ") {
                let (position, id) = rest.split_once(' ').unwrap();
                let id: [u8; 16] = B64.decode(id).unwrap().try_into().unwrap();
                let previous = reported.insert(position.parse().unwrap(), id);
                assert!(previous.is_none_or(|p| p == id), "position {position} reported twice");
            } else if let Some(text) = line.strip_prefix("checkpoint ") {
                let text = String::from_utf8(B64.decode(text).unwrap()).unwrap();
                checkpoints.push(SignedCheckpoint::parse(&text).unwrap());
            }
        }
        let log = open(engine, dir.path());
        check_recovered(&log, &reported, &checkpoints);
        // Dedup still works for ids written before the crash.
        let (&position, id) = reported.iter().next_back().unwrap();
        let round_of = u64::from_be_bytes(id[..8].try_into().unwrap());
        let n = u64::from_be_bytes(id[8..].try_into().unwrap());
        let again = make_entry(round_of, n);
        let mut altered = again.clone();
        altered.bytes.push(0);
        let size = log.size();
        assert_eq!(
            log.append_batch(vec![again, altered]).unwrap(),
            vec![Ok(Appended::Duplicate { position }), Err(EntryError::IdReused { position })]
        );
        assert_eq!(log.size(), size);
        // A checkpoint taken now must be consistent with the log after the next crash.
        checkpoints.push(log.checkpoint().unwrap());
    }
    assert!(reported.len() > ROUNDS as usize, "too little was written to test anything");
}

#[test]
fn crash_recovery_redb() {
    crash_and_recover(Engine::Redb);
}

#[test]
fn crash_recovery_fjall() {
    crash_and_recover(Engine::Fjall);
}
