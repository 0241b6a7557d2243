//! The node: validate, seal, sign, publish, and wait for the ledger's receipt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_bus::{BusError, EventBus, Outbound, event_subject};
use concord_core::pb;
use concord_core::seal::{self, SealError, SubjectKeys};
use concord_core::sign::AgencyKey;
use concord_core::validate::{self, Stage, ValidationError};
use concord_core::{AgencyId, EventId};
use prost::Message;
use tokio::sync::oneshot;

/// Why a submission was not published.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The event breaks the schema or the sharing rules; nothing was published.
    #[error("invalid event: {0}")]
    Invalid(#[from] ValidationError),
    /// Personal data could not be sealed; nothing was published.
    #[error("could not seal personal data: {0}")]
    Seal(#[from] SealError),
    /// The bus did not accept the event.
    #[error(transparent)]
    Bus(#[from] BusError),
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
    /// No receipt arrived in time; the event may still be appended.
    #[error("no receipt from the ledger for event {0} in time; it may still be appended")]
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

/// One agency's node.
pub struct Node {
    key: AgencyKey,
    keys: Arc<dyn SubjectKeys>,
    bus: Arc<dyn EventBus>,
    waiters: Waiters,
}

impl Node {
    /// Starts a node: it listens for its agency's receipts from now on.
    pub async fn start(
        key: AgencyKey,
        keys: Arc<dyn SubjectKeys>,
        bus: Arc<dyn EventBus>,
    ) -> Result<Arc<Node>, NodeError> {
        let waiters: Waiters = Arc::default();
        let mut receipts = bus.receipts(key.agency()).await?;
        let listener_waiters = waiters.clone();
        tokio::spawn(async move {
            while let Some(receipt) = receipts.next().await {
                let waiter = listener_waiters
                    .lock()
                    .ok()
                    .and_then(|mut w| w.remove(&receipt.event_id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(receipt);
                }
            }
        });
        Ok(Arc::new(Node {
            key,
            keys,
            bus,
            waiters,
        }))
    }

    /// The agency this node publishes for.
    pub fn agency(&self) -> &AgencyId {
        self.key.agency()
    }

    /// Validates, completes, seals and signs a submission without publishing it.
    pub fn prepare(&self, mut event: pb::Event) -> Result<(EventId, Outbound), NodeError> {
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
        seal::seal(&mut event, self.keys.as_ref())?;
        // Check again as the ledger will: catches any plaintext left behind.
        validate::check(&event, Stage::Sealed)?;
        let signed = self.key.sign(&event);
        Ok((
            checked.id,
            Outbound {
                subject: event_subject(agency, checked.event_type),
                msg_id: checked.id.to_string(),
                payload: signed.encode_to_vec().into(),
            },
        ))
    }

    /// Publishes a submission; with `wait`, waits up to that long for the
    /// ledger's receipt and reports the outcome.
    pub async fn publish(
        &self,
        event: pb::Event,
        wait: Option<Duration>,
    ) -> Result<Published, NodeError> {
        let (event_id, outbound) = self.prepare(event)?;
        let Some(timeout) = wait else {
            self.bus.publish(outbound).await?;
            return Ok(Published {
                event_id,
                position: None,
                duplicate: false,
            });
        };
        let (tx, rx) = oneshot::channel();
        let id = event_id.to_string();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(id.clone(), tx);
        }
        if let Err(e) = self.bus.publish(outbound).await {
            self.forget(&id);
            return Err(e.into());
        }
        let receipt = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(receipt)) => receipt,
            _ => {
                self.forget(&id);
                return Err(NodeError::ReceiptTimeout(id));
            }
        };
        match receipt.outcome {
            Some(pb::receipt::Outcome::Position(position)) => Ok(Published {
                event_id,
                position: Some(position),
                duplicate: receipt.duplicate,
            }),
            Some(pb::receipt::Outcome::Rejected(reason)) => Err(NodeError::Rejected {
                event_id: id,
                reason,
                conflict: receipt.conflict,
            }),
            None => Err(NodeError::Rejected {
                event_id: id,
                reason: "empty receipt".into(),
                conflict: false,
            }),
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(id);
        }
    }
}

/// The current time as a protobuf timestamp.
pub fn now() -> pbjson_types::Timestamp {
    let now = time::OffsetDateTime::now_utc();
    pbjson_types::Timestamp {
        seconds: now.unix_timestamp(),
        nanos: now.nanosecond() as i32,
    }
}
