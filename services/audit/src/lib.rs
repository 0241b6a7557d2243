//! The audit log: who saw what, when and why.
//!
//! Every RPC goes through one [`Door`] ([`door`]): it authenticates the
//! caller and makes a [`pb::AccessRecord`] of the call ([`access`]), which a
//! [`Recorder`] makes durable before the answer is released: `Ok` from
//! [`Recorder::record`] means exactly that, and an error means the call must
//! fail. Alone, the recorder appends to the local
//! [`AuditLog`] through a group committer, so concurrent reads share one
//! durable commit; over NATS it publishes to the `CONCORD_AUDIT` stream, and
//! every query replica builds the same [`AuditLog`] from that stream
//! ([`replica`]), so no record is lost with a replica. The audit log is its own
//! Merkle log (the same log code as the event log, with signed checkpoints
//! and proofs), indexed by event, subject, principal, agency and time for the
//! auditors' questions.

pub mod access;
pub mod door;
pub mod export;
pub mod positions;
pub mod recorder;
pub mod replica;

use std::sync::Arc;

use concord_core::{SubjectId, pb, sortable_time};
use concord_log::log::{Log, LogError, NewEntry};
use prost::Message;

pub use door::{Call, Deliveries, Door};
pub use positions::About;
pub use recorder::Recorder;
pub use replica::AuditReplica;

/// The origin line of the audit log's checkpoints.
pub const AUDIT_LOG_ORIGIN: &str = "concord.local/audit";

/// Index of records by each subject of the events they show or add
/// (`person/P-1`), and of those they erase or ask about. Records are found
/// by event through the event's subjects ([`About::event`]): an index entry
/// per event shown would make every read's durable commit write a page per
/// event (ids are spread all over the index), which halved read speed.
pub const BY_SUBJECT: &str = "subject";
/// The index of records by event id that older versions kept; removed on
/// open ([`AuditLog::upgrade`]).
const DROPPED_BY_EVENT: &str = "event";
/// Index of records naming the events they show by position
/// ([`pb::ShownPositions`], a replay batch's), by each block of
/// [`positions::POSITION_BLOCK`] positions they show an event in.
pub const BY_BLOCK: &str = "block";
/// Index of records by the caller's `sub`.
pub const BY_PRINCIPAL: &str = "principal";
/// Index of records by the caller's agency.
pub const BY_AGENCY: &str = "agency";
/// Index of records by when the read happened.
pub const BY_TIME: &str = "at";
/// Index of records by the data protection request they filed, decided or
/// relied on (`AccessRecord.request_id`).
pub const BY_REQUEST: &str = "request";

/// Why a record could not be made durable: the read it records must fail.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The audit log could not be written or read.
    #[error("the audit log is unavailable: {0}")]
    Log(#[from] LogError),
    /// The audit stream did not confirm the record.
    #[error("the audit stream is unavailable: {0}")]
    Stream(#[from] concord_bus::BusError),
    /// The record cannot be stored as it is (e.g. its id is not a UUID).
    #[error("invalid audit record: {0}")]
    Invalid(String),
    /// The record's id was already used by a different record.
    #[error("audit record id reused: {0}")]
    Conflict(String),
    /// A stored record does not decode.
    #[error("audit record at {position} does not decode: {reason}")]
    Corrupt {
        /// Where.
        position: u64,
        /// Why.
        reason: String,
    },
}

/// The audit log: records in their own Merkle log, and the auditors'
/// questions over it (by event or subject: [`AuditLog::find_about`]).
pub struct AuditLog {
    log: Arc<Log>,
}

impl AuditLog {
    /// The audit log kept in `log`.
    pub fn new(log: Arc<Log>) -> Self {
        AuditLog { log }
    }

    /// The underlying Merkle log (checkpoints and proofs).
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// Brings a store an older version wrote up to date: removes the index
    /// rows this version no longer keeps (derived rows only; every record,
    /// proof and checkpoint stays). Returns how many were removed.
    pub fn upgrade(&self) -> Result<u64, AuditError> {
        Ok(self.log.drop_index(DROPPED_BY_EVENT)?)
    }

    /// The record at `position`, if any.
    pub fn get(&self, position: u64) -> Result<Option<pb::AccessRecord>, AuditError> {
        let Some(entry) = self.log.get(position)? else { return Ok(None) };
        pb::AccessRecord::decode(entry.bytes.as_slice())
            .map(Some)
            .map_err(|e| AuditError::Corrupt { position, reason: e.to_string() })
    }

    /// Records whose `index` value is exactly `value`, after position
    /// `after`, oldest first, at most `limit`.
    pub fn find(
        &self,
        index: &str,
        value: &[u8],
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::AccessRecord)>, AuditError> {
        let mut to = value.to_vec();
        to.push(0);
        self.find_range(index, value, &to, after, limit)
    }

    /// Records whose `index` value is in `[from, to)`, after position
    /// `after`, oldest first, at most `limit`.
    pub fn find_range(
        &self,
        index: &str,
        from: &[u8],
        to: &[u8],
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::AccessRecord)>, AuditError> {
        let positions = self.log.scan_index(index, from, to, after, limit)?;
        let mut out = Vec::with_capacity(positions.len());
        for position in positions {
            if let Some(record) = self.get(position)? {
                out.push((position, record));
            }
        }
        Ok(out)
    }
}

/// Gives `record` an id and a time if it has none (the recorder does this;
/// a caller that must name its own record before recording it does it first).
pub fn complete(mut record: pb::AccessRecord) -> pb::AccessRecord {
    if record.record_id.is_empty() {
        record.record_id = uuid::Uuid::now_v7().to_string();
    }
    if record.at.is_none() {
        record.at = Some(concord_core::timestamp(concord_core::now_millis()));
    }
    record
}

/// The log entry a stored record was appended as (see [`entry_for`]), from
/// its stored bytes: what `concord audit verify` checks the indexes against.
pub fn entry_for_stored(bytes: &[u8]) -> Result<NewEntry, AuditError> {
    let record = pb::AccessRecord::decode(bytes).map_err(|e| AuditError::Invalid(e.to_string()))?;
    entry_for(&record).map_err(AuditError::Invalid)
}

/// The log entry for a record: its bytes and its index values. Events a
/// call added are indexed like those it showed (by their subjects), so "who
/// touched this event" finds its publisher too.
fn entry_for(record: &pb::AccessRecord) -> Result<NewEntry, String> {
    let id = uuid::Uuid::parse_str(&record.record_id)
        .map_err(|e| format!("record_id `{}` is not a UUID: {e}", record.record_id))?;
    let mut indexes = vec![
        (BY_PRINCIPAL.to_string(), record.principal.as_bytes().to_vec()),
        (BY_AGENCY.to_string(), record.agency_id.as_bytes().to_vec()),
    ];
    if let Some(at) = &record.at {
        indexes.push((BY_TIME.to_string(), sortable_time(at).to_vec()));
    }
    if !record.request_id.is_empty() {
        indexes.push((BY_REQUEST.to_string(), record.request_id.as_bytes().to_vec()));
    }
    // Each value once (a page names many events of the same subjects).
    let mut seen = std::collections::HashSet::new();
    // Subjects erased or asked about are indexed too, so "who touched this
    // subject" finds an erasure, and a look that the agreement answered with
    // nothing.
    let subjects = record
        .shown
        .iter()
        .chain(&record.added)
        .flat_map(|shown| &shown.subjects)
        .chain(&record.erased)
        .chain(&record.asked_about)
        .filter_map(|subject| SubjectId::from_ref(subject).ok())
        .map(|subject| subject.to_string());
    for subject in subjects {
        if seen.insert(subject.clone()) {
            indexes.push((BY_SUBJECT.to_string(), subject.into_bytes()));
        }
    }
    if let Some(shown) = &record.shown_positions {
        positions::check(shown)?;
        for block in positions::blocks(shown) {
            indexes.push((BY_BLOCK.to_string(), positions::block_value(block)));
        }
    }
    Ok(NewEntry {
        id: *id.as_bytes(),
        bytes: record.encode_to_vec(),
        streams: Vec::new(),
        expected: Vec::new(),
        indexes,
    })
}

#[cfg(test)]
mod tests {
    use concord_log::derived::verify_derived;
    use concord_log::kv::{Engine, open};

    use super::*;

    #[test]
    fn a_store_an_older_version_indexed_by_event_id_is_upgraded_and_then_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(Engine::Redb, dir.path()).unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let audit = AuditLog::new(Arc::new(Log::open(kv.clone(), AUDIT_LOG_ORIGIN, key).unwrap()));
        // As an older version wrote a record: indexed by event id as well.
        let shown = pb::ShownEvent {
            event_id: "0190a8b4-0000-7000-8000-000000000001".into(),
            subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-1".into() }],
            ..Default::default()
        };
        let record = complete(pb::AccessRecord { shown: vec![shown.clone()], ..Default::default() });
        let mut old = entry_for(&record).unwrap();
        old.indexes.push((DROPPED_BY_EVENT.to_string(), shown.event_id.into_bytes()));
        audit.log().append_batch(vec![old]).unwrap();
        let derive = |bytes: &[u8]| entry_for_stored(bytes).map_err(|e| e.to_string());
        assert!(verify_derived(kv.as_ref(), derive).is_err(), "the old row is one this version does not write");

        assert_eq!(audit.upgrade().unwrap(), 1);
        assert_eq!(audit.upgrade().unwrap(), 0, "once");
        verify_derived(kv.as_ref(), derive).unwrap();
        assert_eq!(audit.find(BY_SUBJECT, b"person/P-1", 0, 10).unwrap().len(), 1, "the record is still found");
    }
}
