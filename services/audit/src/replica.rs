//! Building the local audit log from the `CONCORD_AUDIT` stream.
//!
//! Every query replica follows the whole stream in order, so replicas at the
//! same position hold the same records and the same Merkle root, and an
//! auditor asking any replica sees the reads served by all of them. A message
//! that is not an access record, a node's record about another agency's
//! call, or a record claiming a maker other than the one whose subject it
//! came on, is quarantined with its reason, counted and logged; it never stops
//! the replica.

use std::sync::Arc;

use async_trait::async_trait;
use concord_bus::nats::{AUDIT_STREAM, AUDIT_SUBJECTS};
use concord_bus::{AuditSource, BusError, Delivery, EventConsumer, NatsBus, StreamPosition, parse_audit_subject};
use concord_core::pb;
use concord_follow::{BUS_CURSOR, FollowError, Follower, InOrder, Quarantine, applied, in_order};
use concord_log::log::{Log, NewEntry};
use prost::Message;

use crate::{AuditLog, entry_for, positions};

/// The largest access record taken from the stream.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Follows the audit stream into one replica's audit log.
pub struct AuditReplica {
    log: Arc<Log>,
    bus: Arc<NatsBus>,
    quarantine: Arc<Quarantine>,
}

impl AuditReplica {
    /// Follows into `audit`, quarantining what cannot be appended.
    pub fn new(audit: &AuditLog, bus: Arc<NatsBus>, quarantine: Arc<Quarantine>) -> Self {
        AuditReplica { log: audit.log().clone(), bus, quarantine }
    }

    /// Follows the stream with the durable consumer `durable` until the bus
    /// closes (in the background, e.g. `tokio::spawn`).
    pub async fn run(self: Arc<Self>, durable: &str) -> Result<(), FollowError> {
        concord_follow::follow(self, durable).await
    }

    /// The entry for a delivery, or the quarantine reason and detail.
    fn check(delivery: &Delivery) -> Result<NewEntry, (&'static str, String)> {
        if delivery.payload.len() > MAX_RECORD_BYTES {
            return Err(("oversize", format!("{} bytes; the limit is {MAX_RECORD_BYTES}", delivery.payload.len())));
        }
        let source = parse_audit_subject(&delivery.subject)
            .ok_or_else(|| ("bad_subject", format!("`{}` is not an audit subject", delivery.subject)))?;
        let record = pb::AccessRecord::decode(delivery.payload.as_ref())
            .map_err(|e| ("malformed", format!("not an access record: {e}")))?;
        if record.at.is_none() {
            return Err(("malformed", "the record has no time".into()));
        }
        let maker = match &source {
            AuditSource::Query(replica) => replica.clone(),
            AuditSource::Node(agency) => agency.to_string(),
        };
        // The subject is the maker's own (its NATS user alone may publish
        // there); a record claiming another maker is forged.
        if !record.served_by.is_empty() && record.served_by != maker {
            return Err((
                "subject_mismatch",
                format!("a record made by `{}` arrived on {maker}'s subject", record.served_by),
            ));
        }
        // A node records only its own agency's publishes: it shows nothing
        // and files or decides no data protection request (whose state is
        // read from these records).
        if let AuditSource::Node(agency) = source
            && (record.agency_id != agency.as_str()
                || !record.shown.is_empty()
                || record.shown_positions.is_some()
                || !record.request_id.is_empty())
        {
            return Err((
                "subject_mismatch",
                format!(
                    "the node of {agency} may record only its own agency's publishes; this record is for `{}`, shows {} events and names request `{}`",
                    record.agency_id,
                    record.shown.len() + record.shown_positions.as_ref().map_or(0, |p| positions::shown(p).count()),
                    record.request_id
                ),
            ));
        }
        entry_for(&record).map_err(|e| ("malformed", e))
    }
}

#[async_trait]
impl Follower for AuditReplica {
    async fn consumer(
        &self,
        durable: &str,
        resume: Option<StreamPosition>,
    ) -> Result<Box<dyn EventConsumer>, BusError> {
        self.bus.stream_consumer(AUDIT_STREAM, AUDIT_SUBJECTS, durable, resume).await
    }

    fn log(&self) -> &Arc<Log> {
        &self.log
    }

    type Prepared = Vec<Delivery>;

    async fn prepare(&self, batch: Vec<Delivery>) -> Result<Self::Prepared, FollowError> {
        Ok(batch)
    }

    async fn apply(&self, batch: Vec<Delivery>) -> Result<(), FollowError> {
        let InOrder { apply, already, gap } = in_order(applied(&self.log)?, batch, |d| d.position);
        for delivery in already {
            delivery.ack().await?;
        }
        let cursor = apply.last().and_then(|d| d.position);
        let mut entries = Vec::with_capacity(apply.len());
        for delivery in &apply {
            match Self::check(delivery) {
                Ok(entry) => entries.push(entry),
                Err((reason, detail)) => self.quarantine.add(reason, &detail, &delivery.subject, &delivery.payload)?,
            }
        }
        let log = self.log.clone();
        let results = tokio::task::spawn_blocking(move || {
            log.append_batch_at(entries, cursor.map(|c| (BUS_CURSOR, c.to_bytes())))
        })
        .await
        .map_err(|e| FollowError::Task(e.to_string()))??;
        for result in results {
            // A record id reused for different bytes is kept out; the first
            // record with that id stands.
            if let Err(e) = result {
                tracing::warn!(error = %e, "an audit record reused another record's id and was not appended");
            }
        }
        for delivery in apply {
            delivery.ack().await?;
        }
        gap.map_or(Ok(()), Err)
    }
}
