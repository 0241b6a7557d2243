//! The node's outbox: end-to-end durability (design.md, "NATS").
//!
//! An event is written here, durably and in group commits, before the agency
//! system is answered. Receipted events are deleted in the same commits: one
//! fsync serves every write and deletion waiting at that moment. A publisher task sends what the outbox holds to the bus
//! (many in flight at once) and sends it again if no receipt has come after a
//! while, so a bus that is down, or one that lost what it had acknowledged,
//! loses nothing of ours. An event leaves the outbox only when the ledger's
//! receipt says it is durable in the log; after a restart everything still
//! here is sent again and the ledger's deduplication absorbs the repeats.
//!
//! Payloads are not kept in memory: the publisher reads what it sends from
//! the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use concord_bus::{EventBus, Outbound};
use concord_log::kv::{Kv, KvError, WriteBatch};
use futures::StreamExt;
use prost::Message;
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::Instrument;

/// Most events the publisher has in flight on the bus at once.
const IN_FLIGHT: usize = 256;
/// Most events one group commit writes.
const MAX_GROUP: usize = 1024;

/// An outbox record as stored.
#[derive(Clone, PartialEq, prost::Message)]
struct Record {
    #[prost(string, tag = "1")]
    msg_id: String,
    #[prost(string, tag = "2")]
    subject: String,
    #[prost(bytes = "vec", tag = "3")]
    payload: Vec<u8>,
    #[prost(int64, tag = "4")]
    enqueued_ms: i64,
    /// The publish's trace context, so the bus hop and the ledger's append
    /// join its trace (also after a restart).
    #[prost(string, optional, tag = "5")]
    traceparent: Option<String>,
}

/// What the outbox remembers of an event it holds (its payload is in the store).
struct Pending {
    msg_id: String,
    enqueued_ms: i64,
    last_sent: Option<Instant>,
}

#[derive(Default)]
struct State {
    pending: BTreeMap<u64, Pending>,
    by_id: HashMap<String, u64>,
    next: u64,
}

/// A caller's answer: once its write (or deletion) is durable, or why not.
type Reply = oneshot::Sender<Result<(), String>>;

/// What the group committer is asked to do.
enum Request {
    /// Store an event.
    Put(Record, Reply),
    /// Delete receipted events (by message id).
    Retire(Vec<String>, Reply),
}

/// A node's durable outbox.
pub struct Outbox {
    kv: Arc<dyn Kv>,
    state: Mutex<State>,
    requests: mpsc::Sender<Request>,
    /// How many durable commits the group committer has made.
    commits: AtomicU64,
    ready: Notify,
}

fn key(seq: u64) -> Vec<u8> {
    let mut k = b"o/".to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Outbox depth and age, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events not yet receipted by the ledger.
    pub depth: usize,
    /// Age of the oldest of them.
    pub oldest: Option<Duration>,
}

impl Outbox {
    /// Opens the outbox over its store and starts its group committer.
    pub fn open(kv: Arc<dyn Kv>) -> Result<Arc<Outbox>, KvError> {
        let mut state = State::default();
        let mut start = b"o/".to_vec();
        loop {
            let rows = kv.scan(&start, Some(b"o0"), 1024, false)?;
            let Some((last, _)) = rows.last() else { break };
            start = last.clone();
            start.push(0);
            for (k, v) in rows {
                let Some(seq) = k.get(2..10).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes) else { continue };
                let Ok(record) = Record::decode(v.as_slice()) else {
                    tracing::error!(seq, "an outbox record does not decode; it is kept and skipped");
                    continue;
                };
                state.by_id.insert(record.msg_id.clone(), seq);
                let pending = Pending { msg_id: record.msg_id, enqueued_ms: record.enqueued_ms, last_sent: None };
                state.pending.insert(seq, pending);
                state.next = state.next.max(seq + 1);
            }
        }
        let (requests, rx) = mpsc::channel(MAX_GROUP * 4);
        let outbox = Arc::new(Outbox {
            kv,
            state: Mutex::new(state),
            requests,
            commits: AtomicU64::new(0),
            ready: Notify::new(),
        });
        tokio::spawn(group_commit(Arc::downgrade(&outbox), rx));
        Ok(outbox)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores an event durably (grouped with concurrent callers into one
    /// fsync). When this returns, the event will reach the ledger.
    pub async fn put(&self, outbound: Outbound) -> Result<(), String> {
        let record = Record {
            msg_id: outbound.msg_id,
            subject: outbound.subject,
            payload: outbound.payload.to_vec(),
            enqueued_ms: now_ms(),
            traceparent: outbound.traceparent,
        };
        self.request(|reply| Request::Put(record, reply)).await
    }

    /// Removes receipted events, in the group commit shared with concurrent
    /// writes; returns once the deletion is durable.
    pub async fn retire_grouped(&self, msg_ids: Vec<String>) -> Result<(), String> {
        self.request(|reply| Request::Retire(msg_ids, reply)).await
    }

    async fn request(&self, request: impl FnOnce(Reply) -> Request) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(request(tx)).await.map_err(|_| "the outbox has stopped".to_string())?;
        rx.await.map_err(|_| "the outbox has stopped".to_string())?
    }

    /// How many durable commits the group committer has made (writes and
    /// deletions waiting together share one).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Removes receipted events now, in a commit of their own.
    pub fn retire(&self, msg_ids: &[String]) -> Result<(), KvError> {
        let mut batch = WriteBatch::default();
        let seqs: Vec<u64> = {
            let state = self.state();
            msg_ids.iter().filter_map(|id| state.by_id.get(id).copied()).collect()
        };
        if seqs.is_empty() {
            return Ok(());
        }
        for seq in &seqs {
            batch.delete(key(*seq));
        }
        self.kv.commit(batch)?;
        let mut state = self.state();
        for seq in seqs {
            if let Some(p) = state.pending.remove(&seq) {
                state.by_id.remove(&p.msg_id);
            }
        }
        Ok(())
    }

    /// Depth and oldest age.
    pub fn stats(&self) -> OutboxStats {
        let state = self.state();
        // Sequence numbers follow the order events were stored in.
        let oldest = state.pending.first_key_value().map(|(_, p)| p.enqueued_ms);
        OutboxStats {
            depth: state.pending.len(),
            oldest: oldest.map(|ms| Duration::from_millis(now_ms().saturating_sub(ms).max(0) as u64)),
        }
    }

    /// Events due to be sent: never sent in this run, or sent more than
    /// `resend_after` ago without a receipt.
    fn due(&self, resend_after: Duration, limit: usize) -> Vec<u64> {
        let now = Instant::now();
        let mut state = self.state();
        let mut due = Vec::new();
        for (seq, p) in state.pending.iter_mut() {
            if p.last_sent.is_some_and(|t| now.duration_since(t) < resend_after) {
                continue;
            }
            p.last_sent = Some(now);
            due.push(*seq);
            if due.len() == limit {
                break;
            }
        }
        due
    }

    /// The stored events `seqs` (one read), those still here.
    fn read(&self, seqs: Vec<u64>) -> Result<Vec<(u64, Outbound)>, KvError> {
        let keys: Vec<Vec<u8>> = seqs.iter().map(|seq| key(*seq)).collect();
        let values = self.kv.get_many(&keys.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
        let mut out = Vec::with_capacity(seqs.len());
        for (seq, value) in seqs.into_iter().zip(values) {
            // Gone: retired since it was found due.
            let Some(value) = value else { continue };
            let Ok(record) = Record::decode(value.as_slice()) else {
                tracing::error!(seq, "an outbox record does not decode; it is kept and skipped");
                continue;
            };
            out.push((
                seq,
                Outbound {
                    subject: record.subject,
                    msg_id: record.msg_id,
                    payload: record.payload.into(),
                    traceparent: record.traceparent,
                },
            ));
        }
        Ok(out)
    }

    fn unsend(&self, seq: u64) {
        if let Some(p) = self.state().pending.get_mut(&seq) {
            p.last_sent = None;
        }
    }

    /// Sends what is due to the bus until the outbox is dropped.
    pub async fn run_publisher(self: Arc<Self>, bus: Arc<dyn EventBus>, resend_after: Duration) {
        let weak = Arc::downgrade(&self);
        drop(self);
        loop {
            let Some(outbox) = weak.upgrade() else { return };
            let due = outbox.due(resend_after, 4 * IN_FLIGHT);
            if due.is_empty() {
                tokio::select! {
                    _ = outbox.ready.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                continue;
            }
            let reading = outbox.clone();
            let seqs = due.clone();
            let read = match tokio::task::spawn_blocking(move || reading.read(seqs)).await {
                Ok(Ok(read)) => Ok(read),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let due = match read {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(%error, "could not read the outbox; retrying");
                    for seq in due {
                        outbox.unsend(seq);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let results: Vec<(u64, bool)> = futures::stream::iter(due)
                .map(|(seq, mut outbound)| {
                    let bus = bus.clone();
                    // The bus hop, in the publish's trace; the receiver's work is its child.
                    let span = tracing::info_span!(
                        "bus.publish",
                        "otel.kind" = "producer",
                        event_id = %outbound.msg_id,
                        subject = %outbound.subject,
                        trace_id = tracing::field::Empty,
                    );
                    concord_telemetry::trace::continue_trace(&span, outbound.traceparent.as_deref());
                    outbound.traceparent = concord_telemetry::trace::traceparent(&span);
                    async move {
                        match bus.publish(outbound).await {
                            Ok(()) => (seq, true),
                            Err(e) => {
                                tracing::debug!(error = %e, "publish failed; the event stays in the outbox");
                                (seq, false)
                            }
                        }
                    }
                    .instrument(span)
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
            let failed: Vec<u64> = results.iter().filter(|(_, ok)| !ok).map(|(s, _)| *s).collect();
            if !failed.is_empty() {
                for seq in failed {
                    outbox.unsend(seq);
                }
                tracing::warn!(depth = outbox.stats().depth, "the bus is not accepting events; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn group_commit(outbox: Weak<Outbox>, mut rx: mpsc::Receiver<Request>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let Some(outbox) = outbox.upgrade() else { return };
        let mut batch = WriteBatch::default();
        // What this commit retires and stores, to apply once it is durable.
        let mut retired = std::collections::HashSet::new();
        let mut stored = Vec::new();
        {
            let mut state = outbox.state();
            for request in &group {
                if let Request::Retire(msg_ids, _) = request {
                    for seq in msg_ids.iter().filter_map(|id| state.by_id.get(id)) {
                        batch.delete(key(*seq));
                        retired.insert(*seq);
                    }
                }
            }
            // An event already waiting (an agency system re-submitting it) is not stored twice.
            let mut seen = std::collections::HashSet::new();
            for request in &group {
                let Request::Put(record, _) = request else { continue };
                let waiting = state.by_id.get(&record.msg_id).is_some_and(|seq| !retired.contains(seq));
                if waiting || !seen.insert(record.msg_id.as_str()) {
                    continue;
                }
                let seq = state.next;
                state.next += 1;
                batch.put(key(seq), record.encode_to_vec());
                stored.push((seq, record.msg_id.clone(), record.enqueued_ms));
            }
        }
        let kv = outbox.kv.clone();
        let committed =
            if batch.is_empty() { Ok(Ok(())) } else { tokio::task::spawn_blocking(move || kv.commit(batch)).await };
        let result = match committed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the outbox could not be written: {e}")),
            Err(e) => Err(format!("the outbox task failed: {e}")),
        };
        outbox.commits.fetch_add(1, Ordering::Relaxed);
        if result.is_ok() {
            let mut state = outbox.state();
            for seq in retired {
                if let Some(p) = state.pending.remove(&seq) {
                    state.by_id.remove(&p.msg_id);
                }
            }
            for (seq, msg_id, enqueued_ms) in stored {
                state.by_id.insert(msg_id.clone(), seq);
                state.pending.insert(seq, Pending { msg_id, enqueued_ms, last_sent: None });
            }
        }
        outbox.ready.notify_one();
        for request in group.drain(..) {
            let (Request::Put(_, reply) | Request::Retire(_, reply)) = request;
            let _ = reply.send(result.clone());
        }
    }
}
