//! The bus between agency nodes and the ledger.
//!
//! Nodes publish signed events on subjects named
//! `concord.events.<agency_kind>.<agency_id>.<event_type>` (see [`subject`]);
//! the ledger consumes them, appends them durably, acknowledges each delivery
//! only after its own durable write, and answers each agency with receipts on
//! `concord.receipts.<agency_id>`; nodes ask the ledger where a consent stands
//! on `concord.consent.<agency_id>`. [`EventBus`] is the one trait for that; the
//! [`embedded`] bus runs it in-process (the zero-install default of
//! `concord up`).

pub mod embedded;
pub mod keys;
pub mod nats;
pub mod subject;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use concord_core::AgencyId;
use concord_core::pb;

pub use embedded::EmbeddedBus;
pub use keys::{RemoteSealKeys, answer_seal_keys};
pub use nats::{NatsBus, NatsConfig, NatsTls, use_tls};
pub use subject::{
    AuditSource, EventSubject, audit_node_subject, audit_query_subject, consent_subject, event_subject, inbox_prefix,
    parse_audit_subject, parse_event_subject, seal_keys_subject, valid_replica_name,
};

/// Failures of the bus itself (not of the messages on it).
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus cannot be reached or has shut down; try again later.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The bus refused the operation (e.g. a permission or limit).
    #[error("bus refused: {0}")]
    Refused(String),
}

/// A signed event on its way to the ledger.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    /// The NATS-style subject, from [`event_subject`].
    pub subject: String,
    /// The event id, used as the bus's deduplication id (`Nats-Msg-Id`).
    pub msg_id: String,
    /// The encoded `SignedEvent`.
    pub payload: Bytes,
    /// The W3C trace context (`traceparent` header value) of the step that
    /// sent it, so its consumer's work joins the same trace.
    pub traceparent: Option<String>,
}

/// Where a message sits in the bus's stream: the stream's epoch (it changes
/// if the stream is ever recreated) and the message's sequence in it.
/// Consumers record the last position they applied, durably with their own
/// writes, and resume after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPosition {
    /// Identifies one incarnation of the stream (its creation time, ns).
    pub epoch: i64,
    /// The message's sequence in that incarnation (1-based).
    pub sequence: u64,
}

impl StreamPosition {
    /// The 16-byte form stored as a log cursor.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut b = self.epoch.to_be_bytes().to_vec();
        b.extend_from_slice(&self.sequence.to_be_bytes());
        b
    }

    /// Parses [`StreamPosition::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let epoch = i64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let sequence = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        Some(StreamPosition { epoch, sequence })
    }
}

/// One message handed to a consumer. It must be acknowledged with
/// [`Delivery::ack`] after the consumer's own durable write; an unacknowledged
/// message is delivered again later.
pub struct Delivery {
    /// The subject it was published on.
    pub subject: String,
    /// The raw payload: anything may arrive here, so treat it as untrusted.
    pub payload: Bytes,
    /// Its place in the stream, on buses that keep one (JetStream).
    pub position: Option<StreamPosition>,
    /// How many messages the consumer has yet to receive after this one,
    /// where the bus says (JetStream).
    pub pending: Option<u64>,
    /// The W3C trace context it was published with, if any.
    pub traceparent: Option<String>,
    acker: Box<dyn Acker>,
}

impl Delivery {
    /// Wraps a payload with the way to acknowledge it.
    pub fn new(subject: String, payload: Bytes, position: Option<StreamPosition>, acker: Box<dyn Acker>) -> Self {
        Delivery { subject, payload, position, pending: None, traceparent: None, acker }
    }

    /// The same delivery, with the trace context it was published with.
    pub fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }

    /// The same delivery, with how many messages the consumer has yet to receive.
    pub fn with_pending(mut self, pending: u64) -> Self {
        self.pending = Some(pending);
        self
    }

    /// Acknowledges the message: the bus will not deliver it again.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("subject", &self.subject).field("len", &self.payload.len()).finish()
    }
}

/// How a delivery is acknowledged; each bus has its own.
#[async_trait]
pub trait Acker: Send + Sync {
    /// Acknowledges the delivery.
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
}

/// A durable consumer of the event stream.
#[async_trait]
pub trait EventConsumer: Send {
    /// Up to `max` messages, waiting at most `wait` for the first one. An empty
    /// batch means nothing arrived in time.
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError>;
}

/// A stream of receipts for one agency.
#[async_trait]
pub trait ReceiptStream: Send {
    /// The next receipt, or `None` once the bus has shut down.
    async fn next(&mut self) -> Option<pb::Receipt>;
}

/// How the ledger answers a node's question about a consent, asked by that
/// node's agency (called off the async runtime: it may read the log).
pub type ConsentAnswerer = std::sync::Arc<dyn Fn(&AgencyId, pb::ConsentQuery) -> pb::ConsentAnswer + Send + Sync>;

/// The transport between nodes and the ledger.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Publishes one event and waits until the bus has accepted it.
    async fn publish(&self, message: Outbound) -> Result<(), BusError>;

    /// Opens the durable consumer with this name, delivering in stream order
    /// from just after `resume` (from the start if `resume` is `None` or from
    /// an earlier incarnation of the stream).
    async fn consumer(&self, durable: &str, resume: Option<StreamPosition>)
    -> Result<Box<dyn EventConsumer>, BusError>;

    /// Sends a receipt to the agency that published the event.
    async fn publish_receipt(&self, agency: &AgencyId, receipt: &pb::Receipt) -> Result<(), BusError>;

    /// Receipts addressed to one agency, from now on.
    async fn receipts(&self, agency: &AgencyId) -> Result<Box<dyn ReceiptStream>, BusError>;

    /// Asks the ledger, for `agency`'s node, where a consent stands; waits at
    /// most `timeout` for the answer.
    async fn ask_consent(
        &self,
        agency: &AgencyId,
        query: &pb::ConsentQuery,
        timeout: Duration,
    ) -> Result<pb::ConsentAnswer, BusError>;

    /// Answers every node's consent questions with `answer` (the ledger), in
    /// the background, from now on.
    async fn answer_consent(&self, answer: ConsentAnswerer) -> Result<(), BusError>;

    /// Whether the bus can carry messages now; `Err` says why not.
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
