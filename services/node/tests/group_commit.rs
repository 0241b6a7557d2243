//! The outbox's group commits: concurrent writes and deletions share one
//! durable commit, and each caller is answered only once its own is durable.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_bus::Outbound;
use concord_log::kv::{Engine, Kv, KvError, Op, Pairs, WriteBatch, open};
use concord_node::Outbox;

/// A store whose commits are slow (as an fsync is), remembering every value
/// written and every key deleted once the commit is done.
struct Slow {
    inner: Arc<dyn Kv>,
    written: Mutex<Vec<Vec<u8>>>,
    deleted: Mutex<Vec<Vec<u8>>>,
}

impl Kv for Slow {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(key)
    }

    fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize, reverse: bool) -> Result<Pairs, KvError> {
        self.inner.scan(start, end, limit, reverse)
    }

    fn commit(&self, batch: WriteBatch) -> Result<(), KvError> {
        std::thread::sleep(Duration::from_millis(20));
        let ops = batch.clone().into_ops();
        self.inner.commit(batch)?;
        for op in ops {
            match op {
                Op::Put(_, value) => self.written.lock().unwrap().push(value),
                Op::Delete(key) => self.deleted.lock().unwrap().push(key),
            }
        }
        Ok(())
    }
}

impl Slow {
    /// Whether a value naming `msg_id` has been durably written.
    fn wrote(&self, msg_id: &str) -> bool {
        self.written.lock().unwrap().iter().any(|v| v.windows(msg_id.len()).any(|w| w == msg_id.as_bytes()))
    }
}

fn outbound(i: u32) -> Outbound {
    Outbound {
        subject: format!("concord.events.police.police.met.nw.arrest.{i}"),
        msg_id: format!("event-{i:05}"),
        payload: vec![i as u8; 8].into(),
        traceparent: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_and_deletions_share_commits_and_each_waits_for_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let inner = open(Engine::Redb, dir.path()).unwrap();
    let slow = Arc::new(Slow { inner: inner.clone(), written: Mutex::default(), deleted: Mutex::default() });
    let outbox = Outbox::open(slow.clone()).unwrap();

    let puts = (0..300).map(|i| {
        let (outbox, slow) = (outbox.clone(), slow.clone());
        tokio::spawn(async move {
            let event = outbound(i);
            let id = event.msg_id.clone();
            outbox.put(event).await.unwrap();
            assert!(slow.wrote(&id), "{id} was answered before it was durable");
        })
    });
    futures::future::try_join_all(puts).await.unwrap();
    assert_eq!(outbox.stats().depth, 300);
    let commits = outbox.commits();
    assert!(commits < 30, "300 concurrent writes took {commits} commits");

    // Deleting the first 300 while 300 more are written: shared commits too.
    let ids: Vec<String> = (0..300).map(|i| outbound(i).msg_id).collect();
    let retiring = {
        let outbox = outbox.clone();
        tokio::spawn(async move { outbox.retire_grouped(ids).await.unwrap() })
    };
    let puts = (300..600).map(|i| {
        let outbox = outbox.clone();
        tokio::spawn(async move { outbox.put(outbound(i)).await.unwrap() })
    });
    futures::future::try_join_all(puts).await.unwrap();
    retiring.await.unwrap();
    assert_eq!(slow.deleted.lock().unwrap().len(), 300, "deleted durably before retire_grouped returned");
    let more = outbox.commits() - commits;
    assert!(more < 30, "300 writes and a deletion took {more} commits");
    assert_eq!(outbox.stats().depth, 300);

    // A re-submitted event still waiting is not stored twice; a retired one is stored again.
    outbox.put(outbound(450)).await.unwrap();
    outbox.put(outbound(7)).await.unwrap();
    assert_eq!(outbox.stats().depth, 301);

    // What was committed is what a restart finds.
    drop(outbox);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reopened = Outbox::open(inner).unwrap();
    assert_eq!(reopened.stats().depth, 301);
}
