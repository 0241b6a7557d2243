//! The node: validate, seal, sign, put in the outbox, and follow receipts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_bus::{BusError, EventBus, Outbound, event_subject};
use concord_core::consent;
use concord_core::metric;
use concord_core::pb;
use concord_core::seal::{self, PublicKey, SealError, SealKeys};
use concord_core::sign::AgencyKey;
use concord_core::validate::{self, Stage, ValidationError};
use concord_core::{AgencyId, EventId, SubjectId};
use prost::Message;
use tokio::sync::oneshot;

use crate::outbox::{Outbox, OutboxStats};

/// How long the outbox waits for a receipt before sending an event again.
pub const RESEND_AFTER: Duration = Duration::from_secs(10);

/// How long a publish waits for the ledger to say where a consent stands
/// before accepting the event anyway (the ledger checks again on the way in).
pub const CONSENT_ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Why a submission was not published.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The event breaks the schema or the sharing rules; nothing was published.
    #[error("invalid event: {0}")]
    Invalid(#[from] ValidationError),
    /// Personal data could not be sealed; nothing was published.
    #[error("could not seal personal data: {0}")]
    Seal(#[from] SealError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The outbox could not store the event; it was not accepted.
    #[error("{0}")]
    Outbox(String),
    /// The blocking task sealing and signing the event failed; nothing was published.
    #[error("the task sealing and signing the event failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The ledger refused the event.
    #[error("the ledger refused event {event_id}: {reason}")]
    Rejected {
        /// The event.
        event_id: String,
        /// The ledger's reason.
        reason: String,
        /// Whether it was an expected-version conflict.
        conflict: bool,
    },
    /// The event is safe in the outbox but no receipt arrived in time.
    #[error("event {0} is accepted and will be delivered, but the ledger has not confirmed it yet")]
    ReceiptTimeout(String),
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The event's id.
    pub event_id: EventId,
    /// Its position in the log, when the ledger's receipt was awaited.
    pub position: Option<u64>,
    /// The log already had it.
    pub duplicate: bool,
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<pb::Receipt>>>>;

/// Consent events this node accepted that the ledger has not receipted yet:
/// newer than anything the ledger can say about those consents.
type PendingConsent = Arc<Mutex<Vec<(String, pb::Event)>>>;

/// One agency's node.
pub struct Node {
    key: Arc<AgencyKey>,
    keys: Arc<dyn SealKeys>,
    outbox: Arc<Outbox>,
    waiters: Waiters,
    bus: Arc<dyn EventBus>,
    pending_consent: PendingConsent,
}

impl Node {
    /// Starts a node over its outbox: it publishes what the outbox holds
    /// (including anything left from before a restart) and retires events as
    /// the ledger's receipts arrive.
    pub async fn start(
        key: AgencyKey,
        keys: Arc<dyn SealKeys>,
        bus: Arc<dyn EventBus>,
        outbox: Arc<Outbox>,
    ) -> Result<Arc<Node>, NodeError> {
        let waiters: Waiters = Arc::default();
        let pending_consent: PendingConsent = Arc::default();
        let receipted = pending_consent.clone();
        let mut receipts = bus.receipts(key.agency()).await?;
        let (retired_tx, mut retired_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let listener_waiters = waiters.clone();
        tokio::spawn(async move {
            while let Some(receipt) = receipts.next().await {
                let rejected = matches!(receipt.outcome, Some(pb::receipt::Outcome::Rejected(_)));
                if receipt.outcome.is_some() {
                    // Appended, already there, or refused for good: either way it leaves the outbox.
                    let _ = retired_tx.send(receipt.event_id.clone());
                }
                if rejected {
                    tracing::warn!(event_id = %receipt.event_id, "the ledger refused an event");
                }
                if let Ok(mut pending) = receipted.lock() {
                    pending.retain(|(id, _)| *id != receipt.event_id);
                }
                let waiter = listener_waiters.lock().ok().and_then(|mut w| w.remove(&receipt.event_id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(receipt);
                }
            }
        });
        let (retiring, agency) = (outbox.clone(), key.agency().to_string());
        tokio::spawn(async move {
            while let Some(first) = retired_rx.recv().await {
                let mut ids = vec![first];
                while let Ok(id) = retired_rx.try_recv() {
                    ids.push(id);
                }
                // In the outbox's next group commit, with the events being stored.
                if let Err(error) = retiring.retire_grouped(ids).await {
                    tracing::warn!(%error, "could not retire receipted events; they will be sent again and deduplicated");
                }
                let depth = retiring.stats().depth as f64;
                metrics::gauge!(metric::OUTBOX_DEPTH, "agency" => agency.clone()).set(depth);
            }
        });
        tokio::spawn(outbox.clone().run_publisher(bus.clone(), RESEND_AFTER));
        Ok(Arc::new(Node { key: Arc::new(key), keys, outbox, waiters, bus, pending_consent }))
    }

    /// The agency this node publishes for.
    pub fn agency(&self) -> &AgencyId {
        self.key.agency()
    }

    /// Events not yet receipted, and the age of the oldest.
    pub fn outbox_stats(&self) -> OutboxStats {
        self.outbox.stats()
    }

    /// Refuses, before it is accepted, what the ledger would refuse on
    /// consent grounds: a consent event for a consent another agency
    /// recorded, and an event with consent among its bases whose consent is
    /// not given for every person it is about (as this node's own
    /// unreceipted consent events say, or else as the ledger answers) or was
    /// given by the wrong person. With no answer in time the event is
    /// accepted, and the ledger decides on the way in.
    async fn check_consent(&self, event: &pb::Event) -> Result<(), NodeError> {
        let refuse = |field: &str, reason: String| Err(ValidationError { field: field.into(), reason }.into());
        if let Some(id) = consent::consent_id_of(event) {
            let query = pb::ConsentQuery { consent_id: id.to_string(), subjects: event.subjects.clone() };
            if let Ok(answer) = self.bus.ask_consent(self.key.agency(), &query, CONSENT_ANSWER_WITHIN).await
                && answer.recorded_by_other
            {
                let field = match event.body {
                    Some(pb::event::Body::ConsentWithdrawn(_)) => "consent_withdrawn.consent_id",
                    _ => "consent_recorded.consent_id",
                };
                return refuse(
                    field,
                    format!("consent `{id}` was recorded by another agency: only that agency can amend or withdraw it"),
                );
            }
            return Ok(());
        }
        if !consent::relies_on_consent(event) || event.consent_ref.is_empty() {
            return Ok(());
        }
        let local: Vec<pb::Event> = match self.pending_consent.lock() {
            Ok(pending) => pending.iter().map(|(_, e)| e.clone()).collect(),
            Err(_) => Vec::new(),
        };
        let local = consent::fold(&local, &event.consent_ref, &event.subjects, None);
        let state = if local.status != consent::ConsentStatus::None {
            local
        } else {
            let query = pb::ConsentQuery { consent_id: event.consent_ref.clone(), subjects: event.subjects.clone() };
            match self.bus.ask_consent(self.key.agency(), &query, CONSENT_ANSWER_WITHIN).await {
                Ok(answer) if answer.state.is_empty() => return Ok(()),
                Ok(answer) => consent::Consent {
                    status: match answer.state.as_str() {
                        "given" => consent::ConsentStatus::Given,
                        "withdrawn" => consent::ConsentStatus::Withdrawn,
                        "expired" => consent::ConsentStatus::Expired,
                        _ => consent::ConsentStatus::None,
                    },
                    given_by: pb::ConsentGiver::try_from(answer.given_by).unwrap_or_default(),
                    ..consent::Consent::none()
                },
                Err(e) => {
                    tracing::debug!(error = %e, "no consent answer; the ledger will check");
                    return Ok(());
                }
            }
        };
        if state.status != consent::ConsentStatus::Given {
            return refuse(
                "consent_ref",
                format!(
                    "consent `{}` is {} for the people this event is about, and consent is among its lawful bases: the event cannot be shared on it",
                    event.consent_ref,
                    state.status.as_str()
                ),
            );
        }
        match consent::giver_mismatch(event, &state) {
            Some(reason) => refuse("consent_ref", reason.trim_start_matches("consent_ref: ").to_string()),
            None => Ok(()),
        }
    }

    /// Validates, completes, seals and signs a submission without publishing it.
    pub async fn prepare(&self, mut event: pb::Event) -> Result<(EventId, Outbound), NodeError> {
        let agency = self.key.agency();
        if event.agency_id.is_empty() {
            event.agency_id = agency.to_string();
        }
        if event.agency_kind == 0 {
            event.agency_kind = agency.kind() as i32;
        }
        if event.agency_id != agency.as_str() {
            return Err(ValidationError {
                field: "agency_id".into(),
                reason: format!("this node publishes for {agency} only"),
            }
            .into());
        }
        let checked = validate::check(&event, Stage::Submission)?;
        event.event_id = checked.id.to_string();
        if event.recorded_at.is_none() {
            event.recorded_at = Some(now());
        }
        // Only the keys are awaited; sealing (X25519 and AEAD per record)
        // and signing (Ed25519) are CPU work, done on a blocking thread so
        // that they neither hold up an async worker nor all run on the one
        // thread polling the publishes.
        let (subjects, publics) = match event.personal {
            Some(_) => {
                let subjects = event
                    .subjects
                    .iter()
                    .map(SubjectId::from_ref)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| SealError::Malformed(e.to_string()))?;
                let publics = self.keys.public_keys(&subjects).await?;
                if publics.len() != subjects.len() {
                    let got = format!("asked for {} keys, got {}", subjects.len(), publics.len());
                    return Err(SealError::KeyStore(got).into());
                }
                (subjects, publics)
            }
            None => (Vec::new(), Vec::new()),
        };
        let key = self.key.clone();
        let payload = tokio::task::spawn_blocking(move || seal_and_sign(&key, event, &subjects, &publics)).await??;
        Ok((
            checked.id,
            Outbound {
                subject: event_subject(agency, checked.event_type),
                msg_id: checked.id.to_string(),
                payload: payload.into(),
                traceparent: None,
            },
        ))
    }

    /// Accepts a submission: once it is durable in the outbox it will reach
    /// the ledger. With `wait`, also waits up to that long for the ledger's
    /// receipt and reports the outcome.
    #[tracing::instrument(
        name = "node.publish",
        skip_all,
        fields(agency = %self.agency(), event_id = tracing::field::Empty, trace_id = tracing::field::Empty)
    )]
    pub async fn publish(&self, event: pb::Event, wait: Option<Duration>) -> Result<Published, NodeError> {
        let span = tracing::Span::current();
        concord_telemetry::trace::continue_trace(&span, None);
        self.check_consent(&event).await?;
        let consent_event = consent::consent_id_of(&event).is_some().then(|| event.clone());
        let (event_id, mut outbound) = self.prepare(event).await?;
        let id = event_id.to_string();
        span.record("event_id", id.as_str());
        outbound.traceparent = concord_telemetry::trace::traceparent(&span);
        if let (Some(mut e), Ok(mut pending)) = (consent_event, self.pending_consent.lock()) {
            e.event_id = id.clone();
            pending.push((id.clone(), e));
        }
        let receipt = wait.map(|_| {
            let (tx, rx) = oneshot::channel();
            if let Ok(mut w) = self.waiters.lock() {
                w.insert(id.clone(), tx);
            }
            rx
        });
        if let Err(e) = self.outbox.put(outbound).await {
            self.forget(&id);
            if let Ok(mut pending) = self.pending_consent.lock() {
                pending.retain(|(pending_id, _)| *pending_id != id);
            }
            return Err(NodeError::Outbox(e));
        }
        let agency = self.agency().to_string();
        metrics::counter!(metric::EVENTS_PUBLISHED, "agency" => agency.clone()).increment(1);
        metrics::gauge!(metric::OUTBOX_DEPTH, "agency" => agency).set(self.outbox.stats().depth as f64);
        let (Some(rx), Some(timeout)) = (receipt, wait) else {
            return Ok(Published { event_id, position: None, duplicate: false });
        };
        let receipt = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(receipt)) => receipt,
            _ => {
                self.forget(&id);
                return Err(NodeError::ReceiptTimeout(id));
            }
        };
        match receipt.outcome {
            Some(pb::receipt::Outcome::Position(position)) => {
                Ok(Published { event_id, position: Some(position), duplicate: receipt.duplicate })
            }
            Some(pb::receipt::Outcome::Rejected(reason)) => {
                Err(NodeError::Rejected { event_id: id, reason, conflict: receipt.conflict })
            }
            None => Err(NodeError::Rejected { event_id: id, reason: "empty receipt".into(), conflict: false }),
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(id);
        }
    }
}

/// Seals the event's personal data to `publics` (the keys of `subjects`),
/// checks it as the ledger will (catching any plaintext left behind) and
/// signs it: the signed event's bytes. CPU work, for a blocking thread.
fn seal_and_sign(
    key: &AgencyKey,
    mut event: pb::Event,
    subjects: &[SubjectId],
    publics: &[PublicKey],
) -> Result<Vec<u8>, NodeError> {
    seal::seal_to(&mut event, subjects, publics)?;
    validate::check(&event, Stage::Sealed)?;
    Ok(key.sign(&event).encode_to_vec())
}

/// The current time as a protobuf timestamp.
pub fn now() -> pbjson_types::Timestamp {
    let now = jiff::Timestamp::now();
    pbjson_types::Timestamp { seconds: now.as_second(), nanos: now.subsec_nanosecond() }
}
