//! The node's outbox: end-to-end durability (design.md, "NATS").
//!
//! An event is written here, durably and in group commits, before the agency
//! system is answered. A publisher task sends what the outbox holds to the bus
//! (many in flight at once) and sends it again if no receipt has come after a
//! while, so a bus that is down, or one that lost what it had acknowledged,
//! loses nothing of ours. An event leaves the outbox only when the ledger's
//! receipt says it is durable in the log; after a restart everything still
//! here is sent again and the ledger's deduplication absorbs the repeats.

use std::collections::{BTreeMap, HashMap};
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

struct Pending {
    record: Record,
    last_sent: Option<Instant>,
}

#[derive(Default)]
struct State {
    pending: BTreeMap<u64, Pending>,
    by_id: HashMap<String, u64>,
    next: u64,
}

type Enqueue = (Record, oneshot::Sender<Result<(), String>>);

/// A node's durable outbox.
pub struct Outbox {
    kv: Arc<dyn Kv>,
    state: Mutex<State>,
    enqueue: mpsc::Sender<Enqueue>,
    ready: Notify,
}

fn key(seq: u64) -> Vec<u8> {
    let mut k = b"o/".to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
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
                state.pending.insert(seq, Pending { record, last_sent: None });
                state.next = state.next.max(seq + 1);
            }
        }
        let (enqueue, rx) = mpsc::channel(MAX_GROUP * 4);
        let outbox = Arc::new(Outbox { kv, state: Mutex::new(state), enqueue, ready: Notify::new() });
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
        let (tx, rx) = oneshot::channel();
        self.enqueue.send((record, tx)).await.map_err(|_| "the outbox has stopped".to_string())?;
        rx.await.map_err(|_| "the outbox has stopped".to_string())?
    }

    /// Removes receipted events (one commit for all of them).
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
                state.by_id.remove(&p.record.msg_id);
            }
        }
        Ok(())
    }

    /// Depth and oldest age.
    pub fn stats(&self) -> OutboxStats {
        let state = self.state();
        let oldest = state.pending.values().map(|p| p.record.enqueued_ms).min();
        OutboxStats {
            depth: state.pending.len(),
            oldest: oldest.map(|ms| Duration::from_millis(now_ms().saturating_sub(ms).max(0) as u64)),
        }
    }

    /// Events due to be sent: never sent in this run, or sent more than
    /// `resend_after` ago without a receipt.
    fn due(&self, resend_after: Duration, limit: usize) -> Vec<(u64, Outbound)> {
        let now = Instant::now();
        let mut state = self.state();
        let mut due = Vec::new();
        for (seq, p) in state.pending.iter_mut() {
            if p.last_sent.is_some_and(|t| now.duration_since(t) < resend_after) {
                continue;
            }
            p.last_sent = Some(now);
            due.push((
                *seq,
                Outbound {
                    subject: p.record.subject.clone(),
                    msg_id: p.record.msg_id.clone(),
                    payload: p.record.payload.clone().into(),
                    traceparent: p.record.traceparent.clone(),
                },
            ));
            if due.len() == limit {
                break;
            }
        }
        due
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

async fn group_commit(outbox: Weak<Outbox>, mut rx: mpsc::Receiver<Enqueue>) {
    while let Some(first) = rx.recv().await {
        let Some(outbox) = outbox.upgrade() else { return };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(item) => group.push(item),
                Err(_) => break,
            }
        }
        let mut batch = WriteBatch::default();
        let mut seqs = Vec::with_capacity(group.len());
        {
            // An event already waiting (an agency system re-submitting it) is not stored twice.
            let mut state = outbox.state();
            let mut seen = std::collections::HashSet::new();
            for (record, _) in &group {
                if state.by_id.contains_key(&record.msg_id) || !seen.insert(record.msg_id.clone()) {
                    seqs.push(None);
                    continue;
                }
                let seq = state.next;
                state.next += 1;
                batch.put(key(seq), record.encode_to_vec());
                seqs.push(Some(seq));
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
        if result.is_ok() {
            let mut state = outbox.state();
            for ((record, _), seq) in group.iter().zip(&seqs) {
                if let Some(seq) = seq {
                    state.by_id.insert(record.msg_id.clone(), *seq);
                    state.pending.insert(*seq, Pending { record: record.clone(), last_sent: None });
                }
            }
        }
        outbox.ready.notify_one();
        for (_, reply) in group {
            let _ = reply.send(result.clone());
        }
    }
}
