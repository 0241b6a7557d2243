//! The ledger's ingest loop: check, append, receipt, acknowledge.

use std::sync::Arc;

use concord_bus::{BusError, Delivery, EventBus, StreamPosition, parse_event_subject};
use concord_core::AgencyId;
use concord_core::consent;
use concord_core::sign::{KeyRegistry, VerifyError};
use concord_core::{metric, pb};
use concord_log::log::{Appended, EntryError, Log, NewEntry};
use prost::Message;
use tracing::Instrument;

use crate::briefing;
use concord_eventlog::entry_for;
use concord_follow::{BUS_CURSOR, FollowError, Follower, InOrder, Quarantine, applied, follow, in_order};

/// The largest signed event the ledger accepts.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Whether this ledger answers publishers or only follows the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The partnership's ledger: appends and sends each agency its receipts.
    Writer,
    /// A replica (e.g. under `concord serve`) building its own local log from
    /// the same stream, deterministically, without answering anyone.
    Follower,
}

/// What one ingest batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestStats {
    /// Newly appended events.
    pub appended: usize,
    /// Events the log already had.
    pub duplicates: usize,
    /// Verified events refused by the log (conflict, id reused).
    pub rejected: usize,
    /// Messages quarantined.
    pub quarantined: usize,
    /// Redeliveries of messages already applied (acknowledged, not re-applied).
    pub redelivered: usize,
}

/// The ledger: the log's only writer.
pub struct Ledger {
    log: Arc<Log>,
    registry: Arc<KeyRegistry>,
    bus: Arc<dyn EventBus>,
    quarantine: Arc<Quarantine>,
    role: Role,
}

impl Ledger {
    /// A ledger appending to `log`, trusting the agency keys in `registry`.
    pub fn new(
        log: Arc<Log>,
        registry: KeyRegistry,
        bus: Arc<dyn EventBus>,
        quarantine: Arc<Quarantine>,
        role: Role,
    ) -> Self {
        Ledger { log, registry: Arc::new(registry), bus, quarantine, role }
    }

    /// The last bus position applied to the log.
    pub fn applied(&self) -> Result<Option<StreamPosition>, FollowError> {
        applied(&self.log)
    }

    /// The log this ledger writes.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// The quarantine.
    pub fn quarantine(&self) -> &Arc<Quarantine> {
        &self.quarantine
    }

    /// Consumes the bus with the durable consumer `durable` (see
    /// [`follow`]) until the bus closes.
    pub async fn run(self: Arc<Self>, durable: &str) -> Result<(), FollowError> {
        follow(self, durable).await
    }

    /// Checks, appends and acknowledges one batch of deliveries.
    pub async fn ingest(&self, deliveries: Vec<Delivery>) -> Result<IngestStats, FollowError> {
        let prepared = self.prepare_batch(deliveries).await?;
        self.ingest_prepared(prepared).await
    }

    /// Checks each delivery's signature and content: off the async workers,
    /// spread over the cores, and needing nothing from the log.
    async fn prepare_batch(&self, deliveries: Vec<Delivery>) -> Result<Vec<(Delivery, Checked)>, FollowError> {
        let messages: Vec<(String, bytes::Bytes)> =
            deliveries.iter().map(|d| (d.subject.clone(), d.payload.clone())).collect();
        let registry = self.registry.clone();
        let checked = tokio::task::spawn_blocking(move || check_all(&registry, &messages))
            .await
            .map_err(|e| FollowError::Task(e.to_string()))?;
        Ok(deliveries.into_iter().zip(checked).collect())
    }

    /// Appends and acknowledges a checked batch.
    async fn ingest_prepared(&self, batch: Vec<(Delivery, Checked)>) -> Result<IngestStats, FollowError> {
        let mut stats = IngestStats::default();
        let mut entries = Vec::new();
        let mut owners = Vec::new();
        let InOrder { apply: batch, already, gap } = in_order(self.applied()?, batch, |(d, _)| d.position);
        stats.redelivered = already.len();
        ack_all(already.into_iter().map(|(d, _)| d).collect()).await?;
        let cursor = batch.last().and_then(|(d, _)| d.position);
        let (deliveries, checked): (Vec<Delivery>, Vec<Checked>) = batch.into_iter().unzip();
        let mut refused = Vec::new();
        let mut consent_events = Vec::new();
        let mut briefing_events = Vec::new();
        let mut batch_ids: Vec<(String, String)> = Vec::new();
        for (delivery, checked) in deliveries.iter().zip(checked) {
            // Each event's append, in the trace it was published in; it ends
            // once the event is durable and its receipt sent.
            let span = tracing::info_span!(
                "ledger.append",
                "otel.kind" = "consumer",
                event_id = tracing::field::Empty,
                outcome = tracing::field::Empty,
                trace_id = tracing::field::Empty,
            );
            concord_telemetry::trace::continue_trace(&span, delivery.traceparent.as_deref());
            match checked {
                Ok((verified_agency, event_id, entry, event)) => {
                    span.record("event_id", event_id.as_str());
                    let refusal = match self.bad_correction(&event, &batch_ids)? {
                        Some(reason) => Some(reason),
                        None => match self.bad_briefing_update(&entry, &event, &briefing_events)? {
                            Some(reason) => Some(reason),
                            None => self.without_basis(&entry, &event, &consent_events)?,
                        },
                    };
                    if let Some(reason) = refusal {
                        span.record("outcome", "rejected");
                        refused.push((
                            verified_agency,
                            pb::Receipt {
                                event_id,
                                outcome: Some(pb::receipt::Outcome::Rejected(reason)),
                                ..Default::default()
                            },
                        ));
                        continue;
                    }
                    batch_ids.push((event.event_id.clone(), event.agency_id.clone()));
                    if matches!(event.body, Some(pb::event::Body::VveBriefingItem(_))) {
                        briefing_events.push(event.clone());
                    }
                    if consent::consent_id_of(&event).is_some() {
                        consent_events.push(event);
                    }
                    entries.push(entry);
                    owners.push((verified_agency, event_id, span));
                }
                Err((reason, detail)) => {
                    span.record("outcome", "quarantined");
                    let _in = span.enter();
                    self.quarantine.add(reason, &detail, &delivery.subject, &delivery.payload)?;
                    metrics::counter!(metric::EVENTS_QUARANTINED, "reason" => reason.to_string()).increment(1);
                    stats.quarantined += 1;
                }
            }
        }
        let log = self.log.clone();
        let started = std::time::Instant::now();
        let results = tokio::task::spawn_blocking(move || {
            log.append_batch_at(entries, cursor.map(|c| (BUS_CURSOR, c.to_bytes())))
        })
        .await
        .map_err(|e| FollowError::Task(e.to_string()))??;
        metrics::histogram!(metric::APPEND_SECONDS).record(started.elapsed().as_secs_f64());
        for ((agency, event_id, span), result) in owners.into_iter().zip(results) {
            let mut receipt = pb::Receipt { event_id, ..Default::default() };
            span.record(
                "outcome",
                match &result {
                    Ok(Appended::New { .. }) => "appended",
                    Ok(Appended::Duplicate { .. }) => "duplicate",
                    Err(_) => "rejected",
                },
            );
            match result {
                Ok(Appended::New { position }) => {
                    stats.appended += 1;
                    metrics::counter!(metric::EVENTS_APPENDED).increment(1);
                    receipt.outcome = Some(pb::receipt::Outcome::Position(position));
                }
                Ok(Appended::Duplicate { position }) => {
                    stats.duplicates += 1;
                    receipt.duplicate = true;
                    receipt.outcome = Some(pb::receipt::Outcome::Position(position));
                }
                Err(e) => {
                    stats.rejected += 1;
                    receipt.conflict = matches!(e, EntryError::Conflict { .. });
                    receipt.outcome = Some(pb::receipt::Outcome::Rejected(describe(&e)));
                }
            }
            self.send_receipt(&agency, &receipt).instrument(span).await;
        }
        for (agency, receipt) in refused {
            stats.rejected += 1;
            self.send_receipt(&agency, &receipt).await;
        }
        ack_all(deliveries).await?;
        match gap {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }

    async fn send_receipt(&self, agency: &concord_core::AgencyId, receipt: &pb::Receipt) {
        if self.role == Role::Follower {
            return;
        }
        if let Err(e) = self.bus.publish_receipt(agency, receipt).await {
            tracing::warn!(error = %e, %agency, "could not send a receipt; the node will re-send and dedup answers it");
        }
    }

    /// Why a correction may not enter the log: the event it corrects is not
    /// in the log (nor earlier in this batch), or another agency published it.
    /// Both get the same answer: a publisher learns nothing about whether
    /// another agency's event exists.
    fn bad_correction(&self, event: &pb::Event, batch: &[(String, String)]) -> Result<Option<String>, FollowError> {
        if event.corrects.is_empty() {
            return Ok(None);
        }
        let publisher = match batch.iter().find(|(id, _)| *id == event.corrects) {
            Some((_, agency)) => Some(agency.clone()),
            None => {
                let id = concord_core::EventId::parse(&event.corrects).ok();
                let position = match id {
                    Some(id) => self.log.position_of(id.as_bytes())?,
                    None => None,
                };
                match position.map(|p| self.log.get(p)).transpose()?.flatten() {
                    Some(entry) => concord_eventlog::decode_entry(&entry.bytes).ok().map(|(_, e)| e.agency_id),
                    None => None,
                }
            }
        };
        Ok(match publisher {
            Some(agency) if agency == event.agency_id => None,
            _ => Some(format!(
                "corrects: {} is no event of {}'s in the log; an agency corrects only its own events",
                event.corrects, event.agency_id
            )),
        })
    }

    /// Why a briefing item may not enter the log: an agency other than
    /// children's services changing more than its own actions of an item in
    /// the log (or in this batch: `pending`), see [`briefing`]. An event the
    /// log already has is let through (its receipt says duplicate).
    fn bad_briefing_update(
        &self,
        entry: &concord_log::log::NewEntry,
        event: &pb::Event,
        pending: &[pb::Event],
    ) -> Result<Option<String>, FollowError> {
        if !briefing::restricted(event) || self.log.position_of(&entry.id)?.is_some() {
            return Ok(None);
        }
        let latest = briefing::latest_state(&self.log, event, pending)?;
        Ok(briefing::refusal(event, latest.as_ref()))
    }

    /// Why a new event may not enter the log on consent grounds, counting the
    /// consent events earlier in this batch (`pending`):
    /// - a consent event for a consent id another agency recorded: a consent
    ///   belongs to whoever recorded it, and only they amend or withdraw it;
    /// - an event with consent among its lawful bases (whatever others it
    ///   has) whose consent is not given for every person it is about, or was
    ///   given by someone who cannot give it for this event (an adult's NRM
    ///   referral needs the adult's own consent).
    ///
    /// A withdrawal by the owner is always let in. Expiry is left to the
    /// readers, so that every replica following the stream decides the same.
    /// An event the log already has is let through (its receipt says
    /// duplicate).
    fn without_basis(
        &self,
        entry: &concord_log::log::NewEntry,
        event: &pb::Event,
        pending: &[pb::Event],
    ) -> Result<Option<String>, FollowError> {
        if self.log.position_of(&entry.id)?.is_some() {
            return Ok(None);
        }
        if let Some(id) = consent::consent_id_of(event) {
            let logged = concord_eventlog::consent_history(&self.log, id)?;
            if let Some(owner) = consent::owner(logged.iter().chain(pending), id)
                && owner != event.agency_id
            {
                return Ok(Some(format!(
                    "consent `{id}` was recorded by another agency: only the agency that recorded a consent can amend or withdraw it"
                )));
            }
        }
        let withdrawal = matches!(event.body, Some(pb::event::Body::ConsentWithdrawn(_)));
        if withdrawal || !consent::relies_on_consent(event) {
            return Ok(None);
        }
        // A consent record may rely on the consent it records.
        let state = if consent::consent_id_of(event).is_some() {
            let with_itself: Vec<pb::Event> = pending.iter().cloned().chain([event.clone()]).collect();
            concord_eventlog::consent_for(&self.log, event, &with_itself, None)?
        } else {
            concord_eventlog::consent_for(&self.log, event, pending, None)?
        };
        if state.status != consent::ConsentStatus::Given {
            // Another agency's consent: only whether it is given, never why not.
            let logged = concord_eventlog::consent_history(&self.log, &event.consent_ref)?;
            let own =
                consent::owner(logged.iter().chain(pending), &event.consent_ref) == Some(event.agency_id.as_str());
            let status = if own { state.status } else { consent::ConsentStatus::None };
            return Ok(Some(format!(
                "consent_ref: consent `{}` is {} for the people this event is about, and consent is among its lawful bases",
                event.consent_ref,
                status.as_str()
            )));
        }
        Ok(consent::giver_mismatch(event, &state))
    }
}

/// A delivery checked: the verified agency, event id, log entry and event to
/// append, or the quarantine reason code and detail.
type Checked = Result<(AgencyId, String, NewEntry, pb::Event), (&'static str, String)>;

/// Fewer deliveries than this per thread are not worth a thread of their own.
const PER_THREAD: usize = 64;

/// Checks `messages` (subject, payload), in order, spread over the machine's
/// cores: verifying a signature is most of an event's cost to the ledger.
fn check_all(registry: &KeyRegistry, messages: &[(String, bytes::Bytes)]) -> Vec<Checked> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(messages.len() / PER_THREAD).max(1);
    if threads == 1 {
        return messages.iter().map(|(subject, payload)| check(registry, subject, payload)).collect();
    }
    let chunk = messages.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = messages
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|(s, p)| check(registry, s, p)).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// Decides whether a message on `subject` may be appended.
fn check(registry: &KeyRegistry, subject: &str, payload: &[u8]) -> Checked {
    if payload.len() > MAX_EVENT_BYTES {
        return Err(("oversize", format!("{} bytes; the limit is {MAX_EVENT_BYTES}", payload.len())));
    }
    let on =
        parse_event_subject(subject).ok_or_else(|| ("bad_subject", format!("`{subject}` is not an event subject")))?;
    let signed = pb::SignedEvent::decode(payload).map_err(|e| ("malformed", format!("not a signed event: {e}")))?;
    let verified = registry.verify(signed).map_err(|e: VerifyError| (e.reason_code(), e.to_string()))?;
    let checked = &verified.checked;
    if checked.agency != on.agency || checked.event_type != on.event_type {
        return Err((
            "subject_mismatch",
            format!(
                "a {} event from {} arrived on the subject of a {} event from {}",
                checked.event_type, checked.agency, on.event_type, on.agency
            ),
        ));
    }
    let entry = entry_for(&verified);
    Ok((checked.agency.clone(), checked.id.to_string(), entry, verified.event))
}

/// Acknowledges deliveries, all at once rather than one round trip each.
async fn ack_all(deliveries: Vec<Delivery>) -> Result<(), BusError> {
    for result in futures::future::join_all(deliveries.into_iter().map(|d| d.ack())).await {
        result?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Follower for Ledger {
    async fn consumer(
        &self,
        durable: &str,
        resume: Option<StreamPosition>,
    ) -> Result<Box<dyn concord_bus::EventConsumer>, BusError> {
        self.bus.consumer(durable, resume).await
    }

    fn log(&self) -> &Arc<Log> {
        &self.log
    }

    type Prepared = Vec<(Delivery, Checked)>;

    async fn prepare(&self, batch: Vec<Delivery>) -> Result<Self::Prepared, FollowError> {
        self.prepare_batch(batch).await
    }

    async fn apply(&self, batch: Self::Prepared) -> Result<(), FollowError> {
        self.ingest_prepared(batch).await.map(|_| ())
    }
}

/// A refusal as the publisher is told it: nothing in it may be about events
/// the publisher may not see. A conflict is on one of the publisher's own
/// agency streams (see `concord_core::ids::agency_stream`), so its versions
/// count only the agency's own events. A reused id says neither where nor
/// whose the other event is: event ids carry 74 random bits and are shown
/// only to readers who may see the event, so a publisher can only reuse an
/// id it was given.
fn describe(e: &EntryError) -> String {
    match e {
        EntryError::Conflict { stream, expected, actual } => format!(
            "expected version conflict on {stream}: expected {expected}, your agency's events there number {actual}"
        ),
        EntryError::IdReused { .. } => "event_id: this id is already taken; publish with a new event_id".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spread over threads, each message's outcome stays at its place.
    #[test]
    fn checks_spread_over_threads_come_back_in_order() {
        let agency = AgencyId::parse("police.met.nw").unwrap();
        let good_subject = concord_bus::event_subject(&agency, concord_core::EventType::Arrest);
        let messages: Vec<(String, bytes::Bytes)> = (0..300)
            .map(|i| match i % 3 {
                0 => ("not.an.event.subject".to_string(), bytes::Bytes::from_static(b"x")),
                1 => (good_subject.clone(), bytes::Bytes::from(vec![0xFF; 8])),
                _ => (good_subject.clone(), bytes::Bytes::from(vec![0; MAX_EVENT_BYTES + 1])),
            })
            .collect();
        let checked = check_all(&KeyRegistry::default(), &messages);
        assert_eq!(checked.len(), messages.len());
        for (i, outcome) in checked.iter().enumerate() {
            let want = ["bad_subject", "malformed", "oversize"][i % 3];
            assert_eq!(outcome.as_ref().err().map(|(reason, _)| *reason), Some(want), "message {i}");
        }
    }
}
