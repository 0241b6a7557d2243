//! The offline verifier finds an altered, missing or unsigned log, naming the
//! first bad entry, on both engines.

use concord_log::kv::{self, Engine, WriteBatch};
use concord_log::offline::{VerifyError, latest_checkpoint, verify_store};
use concord_log::{Log, NewEntry};
use ed25519_dalek::SigningKey;

const ORIGIN: &str = "concord.test/offline";

fn entry(n: u64) -> NewEntry {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    NewEntry { id, bytes: format!("entry {n}").into_bytes(), ..NewEntry::default() }
}

/// The store key of the entry at `position` (b'e' then the position, big-endian).
fn entry_key(position: u64) -> Vec<u8> {
    let mut k = vec![b'e'];
    k.extend_from_slice(&position.to_be_bytes());
    k
}

#[test]
fn a_flipped_byte_or_a_missing_entry_is_found() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        let kv = kv::open(engine, dir.path()).unwrap();
        let signer = SigningKey::from_bytes(&[5; 32]);
        let log = Log::open(kv.clone(), ORIGIN, signer.clone()).unwrap();
        log.append_batch((1..=37).map(entry).collect()).unwrap();
        let checkpoint = log.checkpoint().unwrap();
        log.append_batch((38..=40).map(entry).collect()).unwrap();
        let key = signer.verifying_key();

        let ok = verify_store(kv.as_ref(), &checkpoint, &key, ORIGIN).unwrap();
        assert_eq!((ok.size, ok.after), (37, 3), "{engine:?}");
        assert_eq!(latest_checkpoint(kv.as_ref()).unwrap().unwrap().text(), checkpoint.text());

        let stranger = SigningKey::from_bytes(&[6; 32]).verifying_key();
        assert!(matches!(verify_store(kv.as_ref(), &checkpoint, &stranger, ORIGIN), Err(VerifyError::Checkpoint(_))));
        assert!(matches!(verify_store(kv.as_ref(), &checkpoint, &key, "other"), Err(VerifyError::Checkpoint(_))));

        // One byte of entry 20 flipped in the store.
        let original = kv.get(&entry_key(20)).unwrap().unwrap();
        let mut altered = original.clone();
        let last = altered.len() - 1;
        altered[last] ^= 0x01;
        let mut batch = WriteBatch::new();
        batch.put(entry_key(20), altered);
        kv.commit(batch).unwrap();
        let err = verify_store(kv.as_ref(), &checkpoint, &key, ORIGIN).unwrap_err();
        assert!(matches!(err, VerifyError::Altered { position: 20 }), "{engine:?}: {err}");

        // Put back, then lose entry 31.
        let mut batch = WriteBatch::new();
        batch.put(entry_key(20), original);
        batch.delete(entry_key(31));
        kv.commit(batch).unwrap();
        let err = verify_store(kv.as_ref(), &checkpoint, &key, ORIGIN).unwrap_err();
        assert!(matches!(err, VerifyError::Missing { position: 31 }), "{engine:?}: {err}");
    }
}
