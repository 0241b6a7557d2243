//! The keys of sealed records this reader has opened, kept on disk so that
//! reading a record again (after a restart too) costs no key agreement.
//!
//! What is stored is masked with the records' subjects' private keys (see
//! [`OpenedKeys`]): worthless without them, so erasing a subject's key
//! leaves nothing here that opens their records. It is a cache: writes are
//! batched by a thread of their own and may be lost, reads that fail count
//! as misses, and the directory may be deleted while the process is down.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use concord_core::seal::{KeyMemory, OpenedKeys};
use concord_log::kv::{Engine, Kv, KvError, WriteBatch};

/// Keys waiting to be written at most; more are dropped (recomputed later).
const QUEUE: usize = 65_536;
/// Where the cursor is kept (no id is this short).
const CURSOR: &[u8] = b"cursor";
/// Keys written in one batch at most.
const BATCH: usize = 4_096;
/// How long a key waits for others to share its write at most.
const LINGER: Duration = Duration::from_millis(200);

/// A [`KeyMemory`] in a key-value store of its own.
pub struct OpenedStore {
    kv: Arc<dyn Kv>,
    /// Always `Some` until dropped.
    queue: Option<SyncSender<([u8; 16], [u8; 32])>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl OpenedStore {
    /// Opens (creating) the store in `dir`, with its writer thread.
    pub fn open(engine: Engine, dir: &Path) -> Result<Self, KvError> {
        let kv = concord_log::kv::open(engine, dir)?;
        let (queue, keys) = std::sync::mpsc::sync_channel(QUEUE);
        let store = kv.clone();
        let writer = std::thread::Builder::new()
            .name("opened-keys".into())
            .spawn(move || write_batches(store.as_ref(), &keys))
            .map_err(|e| KvError::CreateDir { path: dir.display().to_string(), message: e.to_string() })?;
        Ok(OpenedStore { kv, queue: Some(queue), writer: Some(writer) })
    }

    /// [`OpenedKeys`] remembered here.
    pub fn into_opened_keys(self) -> OpenedKeys {
        OpenedKeys::new(Arc::new(self))
    }
}

impl KeyMemory for OpenedStore {
    fn recall(&self, id: &[u8; 16]) -> Option<[u8; 32]> {
        match self.kv.get(id) {
            Ok(value) => value.and_then(|v| v.try_into().ok()),
            Err(error) => {
                tracing::warn!(%error, "cannot read the opened records' keys; opening afresh");
                None
            }
        }
    }

    fn recall_many(&self, ids: &[[u8; 16]]) -> Vec<Option<[u8; 32]>> {
        let keys: Vec<&[u8]> = ids.iter().map(|id| id.as_slice()).collect();
        match self.kv.get_many(&keys) {
            Ok(values) => values.into_iter().map(|v| v.and_then(|v| v.try_into().ok())).collect(),
            Err(error) => {
                tracing::warn!(%error, "cannot read the opened records' keys; opening afresh");
                vec![None; ids.len()]
            }
        }
    }

    fn cursor(&self) -> u64 {
        self.read_cursor().unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read how far records were opened ahead; starting again");
            0
        })
    }

    fn set_cursor(&self, position: u64) {
        let mut batch = WriteBatch::new();
        batch.put(CURSOR.to_vec(), position.to_be_bytes().to_vec());
        commit(self.kv.as_ref(), batch);
    }

    fn remember(&self, id: [u8; 16], masked: [u8; 32]) {
        // A full queue drops the key: it is worked out again when next needed.
        if let Some(Err(TrySendError::Disconnected(_))) = self.queue.as_ref().map(|q| q.try_send((id, masked))) {
            tracing::warn!("the opened records' keys are no longer written");
        }
    }
}

impl OpenedStore {
    fn read_cursor(&self) -> Result<u64, KvError> {
        let bytes = self.kv.get(CURSOR)?;
        Ok(bytes.and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes))
    }
}

impl Drop for OpenedStore {
    /// Writes what is queued and closes the store before returning.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Writes queued keys in batches until every sender is gone.
fn write_batches(kv: &dyn Kv, keys: &Receiver<([u8; 16], [u8; 32])>) {
    while let Ok(first) = keys.recv() {
        let mut batch = WriteBatch::new();
        batch.put(first.0.to_vec(), first.1.to_vec());
        let until = Instant::now() + LINGER;
        let mut count = 1;
        while count < BATCH {
            match keys.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok((id, masked)) => {
                    batch.put(id.to_vec(), masked.to_vec());
                    count += 1;
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    commit(kv, batch);
                    return;
                }
            }
        }
        commit(kv, batch);
    }
}

fn commit(kv: &dyn Kv, batch: WriteBatch) {
    if let Err(error) = kv.commit(batch) {
        tracing::warn!(%error, "cannot write the opened records' keys; they will be worked out again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_written_in_the_background_and_outlive_the_process() {
        for engine in Engine::ALL {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("opened");
            {
                let store = OpenedStore::open(engine, &path).unwrap();
                for n in 0..100u8 {
                    store.remember([n; 16], [n ^ 0xff; 32]);
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                while store.recall(&[99; 16]).is_none() {
                    assert!(Instant::now() < deadline, "{engine}: not written");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let store = OpenedStore::open(engine, &path).unwrap();
            for n in 0..100u8 {
                assert_eq!(store.recall(&[n; 16]), Some([n ^ 0xff; 32]), "{engine}");
            }
            assert_eq!(store.recall(&[200; 16]), None);
            let many = store.recall_many(&[[3; 16], [200; 16], [99; 16]]);
            assert_eq!(many, [Some([3 ^ 0xff; 32]), None, Some([99 ^ 0xff; 32])], "{engine}");
            assert_eq!(store.cursor(), 0);
            store.set_cursor(1234);
            assert_eq!(store.cursor(), 1234);
        }
    }
}
