//! The events every system is fed: simulated boroughs' events (the project's
//! simulator), and the same events validated, sealed and signed by real
//! agency nodes, as they travel on the bus.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use concord::layout::Layout;
use concord_core::pb;
use concord_core::{EventType, SubjectId};
use concord_log::kv::{self, Engine};
use concord_node::{Node, Outbox};
use concord_simulator::{BoroughConfig, Simulator};

/// Volume multiplier of each simulated borough: about 40,000 events a year
/// over its cohort of 600 children.
pub const SCALE: f64 = 5.0;
/// Events per simulated borough-year at [`SCALE`] (roughly).
const PER_BOROUGH: usize = 40_000;

/// `n` simulated submissions: as many simulated boroughs (seeds) as it takes
/// at [`SCALE`], day by day from 2025-01-01, their days interleaved.
pub fn simulate(n: usize) -> Vec<pb::Event> {
    let boroughs = n.div_ceil(PER_BOROUGH).max(1);
    let start = jiff::civil::date(2025, 1, 1);
    let config = BoroughConfig { scale: SCALE, ..BoroughConfig::harrow() };
    let mut sims: Vec<Simulator> =
        (0..boroughs).map(|i| Simulator::new(config.clone(), 1000 + i as u64, start)).collect();
    let mut events = Vec::with_capacity(n + 1000);
    while events.len() < n {
        for sim in &mut sims {
            events.extend(sim.next_day());
        }
    }
    events.truncate(n);
    events
}

/// How many simulated boroughs [`simulate`] uses for `n` events.
pub fn boroughs(n: usize) -> usize {
    n.div_ceil(PER_BOROUGH).max(1)
}

/// One event as signed by its agency's node, with what the baselines index.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The event id.
    pub event_id: uuid::Uuid,
    /// The first subject.
    pub subject: pb::SubjectRef,
    /// The first subject as `kind/key`.
    pub subject_id: String,
    /// The event type (`arrest`, ...).
    pub event_type: &'static str,
    /// The publishing agency.
    pub agency: String,
    /// When it happened, ms since the epoch.
    pub occurred_ms: i64,
    /// The NATS subject a node publishes it on.
    pub nats_subject: String,
    /// The encoded `SignedEvent`.
    pub payload: Bytes,
}

/// Validates, seals and signs `events` with real nodes (`Node::prepare`) of
/// the agencies whose keys are in `layout` (created if missing), subjects'
/// keys in its key directory; the nodes' outboxes (unused) go in `scratch`.
/// Uses every core.
pub async fn prepare(layout: &Layout, scratch: &Path, events: Vec<pb::Event>) -> Result<Vec<Prepared>> {
    let agencies = BoroughConfig::harrow().agencies;
    let keys = layout.ensure_keys(&agencies)?;
    let vault = Arc::new(concord::platform::open_vault(layout, None).await?);
    let mut nodes = HashMap::new();
    for key in keys {
        let agency = key.agency().to_string();
        let store = kv::open(Engine::Redb, &scratch.join(&agency)).context("opening a scratch outbox")?;
        let bus: Arc<dyn concord_bus::EventBus> = Arc::new(concord_bus::EmbeddedBus::new());
        let node = Node::start(key, vault.clone(), bus, Outbox::open(store)?).await?;
        nodes.insert(agency, node);
    }
    let nodes = Arc::new(nodes);
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) * 2;
    let chunk = events.len().div_ceil(workers).max(1);
    let mut tasks = Vec::new();
    let mut events = events.into_iter();
    loop {
        let part: Vec<pb::Event> = events.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        let nodes = nodes.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(part.len());
            for event in part {
                out.push(prepare_one(&nodes, event).await?);
            }
            Ok(out)
        }));
    }
    let mut prepared = Vec::new();
    for task in tasks {
        let part: Result<Vec<Prepared>> = task.await.context("a preparing task failed")?;
        prepared.extend(part?);
    }
    Ok(prepared)
}

async fn prepare_one(nodes: &HashMap<String, Arc<Node>>, event: pb::Event) -> Result<Prepared> {
    let node = nodes.get(&event.agency_id).with_context(|| format!("no node for {}", event.agency_id))?;
    let first = event.subjects.first().cloned().context("an event without a subject")?;
    let subject_id = SubjectId::from_ref(&first).map(|s| s.to_string()).context("a bad subject")?;
    let event_type = event.body.as_ref().map(|b| EventType::of(b).as_str()).context("an event without a body")?;
    let occurred_ms = event.occurred_at.as_ref().map(|t| t.seconds * 1000).unwrap_or_default();
    let agency = event.agency_id.clone();
    let (id, outbound) = node.prepare(event).await.context("a node refused a simulated event")?;
    Ok(Prepared {
        event_id: uuid::Uuid::from_bytes(*id.as_bytes()),
        subject: first,
        subject_id,
        event_type,
        agency,
        occurred_ms,
        nats_subject: outbound.subject,
        payload: outbound.payload,
    })
}

/// The mean encoded payload, bytes.
pub fn mean_payload(prepared: &[Prepared]) -> f64 {
    prepared.iter().map(|p| p.payload.len() as f64).sum::<f64>() / prepared.len().max(1) as f64
}

/// Publishes `prepared` to JetStream as nodes do (subject, `Nats-Msg-Id`),
/// `in_flight` PubAcks outstanding at most; waits for every PubAck.
pub async fn publish_raw(js: &async_nats::jetstream::Context, prepared: &[Prepared], in_flight: usize) -> Result<()> {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;
    use std::future::IntoFuture;
    let mut pending = FuturesUnordered::new();
    for p in prepared {
        let message = async_nats::jetstream::message::PublishMessage::build()
            .payload(p.payload.clone())
            .message_id(p.event_id.hyphenated().to_string());
        let ack = js.send_publish(p.nats_subject.clone(), message).await.context("publishing to JetStream")?;
        pending.push(ack.into_future());
        while pending.len() >= in_flight {
            if let Some(ack) = pending.next().await {
                ack.context("a PubAck failed")?;
            }
        }
    }
    while let Some(ack) = pending.next().await {
        ack.context("a PubAck failed")?;
    }
    Ok(())
}
