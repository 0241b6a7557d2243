//! Making access records durable before an answer is released.
//!
//! Alone (`concord up` on the embedded bus), records go straight into the
//! local audit log through a group committer: concurrent calls share one
//! durable commit. Over NATS they are published to the `CONCORD_AUDIT`
//! stream and count as durable once JetStream confirms them (replicated on a
//! cluster); every query replica then appends them to its own audit log
//! ([`crate::replica`]), so the loss of one replica loses no record.

use std::sync::Arc;

use concord_bus::{AuditSource, EventBus, NatsBus, Outbound, parse_audit_subject};
use concord_core::pb;
use concord_log::group::GroupCommitter;
use prost::Message;
use tracing::Instrument;

use crate::{AuditError, AuditLog, complete, entry_for};

/// How many records wait to share one local commit at most.
const MAX_BATCH: usize = 512;

/// Where records are made durable.
enum Sink {
    /// The local audit log.
    Local(GroupCommitter),
    /// The audit stream, on this subject (which only `served_by`'s NATS user
    /// may publish on).
    Stream { bus: Arc<NatsBus>, subject: String, served_by: String },
}

/// Makes access records durable; see the module documentation.
pub struct Recorder {
    sink: Sink,
}

impl Recorder {
    /// Records into the local `audit` log; starts its group committer on the
    /// current runtime.
    pub fn local(audit: &AuditLog) -> Self {
        Recorder { sink: Sink::Local(GroupCommitter::spawn(audit.log().clone(), MAX_BATCH)) }
    }

    /// Records onto the audit stream under `subject` (see
    /// [`concord_bus::audit_query_subject`] and
    /// [`concord_bus::audit_node_subject`]).
    /// Each record names its maker (`served_by`): the replica or agency the
    /// subject is for.
    pub fn stream(bus: Arc<NatsBus>, subject: String) -> Self {
        let served_by = match parse_audit_subject(&subject) {
            Some(AuditSource::Query(replica)) => replica,
            Some(AuditSource::Node(agency)) => agency.to_string(),
            None => String::new(),
        };
        Recorder { sink: Sink::Stream { bus, subject, served_by } }
    }

    /// Makes `record` durable, giving it an id and time if it has none;
    /// returns its id. An error means the call it records must fail.
    pub async fn record(&self, record: pb::AccessRecord) -> Result<String, AuditError> {
        // In the call's trace: which events it released (ids only), linking
        // the read to each event's own trace from node to ledger.
        let span = tracing::info_span!(
            "audit.record",
            rpc = %record.rpc,
            event_ids = %event_ids(&record),
            withheld = record.withheld,
            record_id = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let id = self.write(record).instrument(span.clone()).await?;
        span.record("record_id", id.as_str());
        metrics::histogram!(concord_core::metric::AUDIT_WRITE_SECONDS).record(started.elapsed().as_secs_f64());
        Ok(id)
    }

    async fn write(&self, record: pb::AccessRecord) -> Result<String, AuditError> {
        let mut record = complete(record);
        match &self.sink {
            Sink::Local(committer) => {
                let entry = entry_for(&record).map_err(AuditError::Invalid)?;
                committer.append(entry).await?.map_err(|e| AuditError::Conflict(e.to_string()))?;
            }
            Sink::Stream { bus, subject, served_by } => {
                record.served_by = served_by.clone();
                // Replicas index it when they append it; only its id is checked here.
                uuid::Uuid::parse_str(&record.record_id)
                    .map_err(|e| AuditError::Invalid(format!("record_id `{}`: {e}", record.record_id)))?;
                let message = Outbound {
                    subject: subject.clone(),
                    msg_id: record.record_id.clone(),
                    payload: record.encode_to_vec().into(),
                    traceparent: None,
                };
                bus.publish(message).await?;
            }
        }
        Ok(record.record_id)
    }
}

/// Most event ids an `audit.record` span lists.
const SPAN_EVENT_IDS: usize = 100;

/// The ids of the events a record lists, comma-separated (at most
/// [`SPAN_EVENT_IDS`], then how many more).
fn event_ids(record: &pb::AccessRecord) -> String {
    let ids: Vec<&str> = record.shown.iter().map(|s| s.event_id.as_str()).filter(|id| !id.is_empty()).collect();
    let mut out = ids.iter().take(SPAN_EVENT_IDS).copied().collect::<Vec<_>>().join(",");
    if ids.len() > SPAN_EVENT_IDS {
        out.push_str(&format!(",+{} more", ids.len() - SPAN_EVENT_IDS));
    }
    if let Some(shown) = &record.shown_positions {
        out =
            format!("{} at positions {}..={}", crate::positions::shown(shown).count(), shown.after + 1, shown.through);
    }
    out
}
