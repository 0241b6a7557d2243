//! The audit log: who saw what, when and why.
//!
//! Every read appends an [`pb::AccessRecord`] to its own Merkle log (the same
//! log code as the event log, with signed checkpoints and proofs) through a
//! group committer, so concurrent reads share one durable commit. A reader's
//! answer is released only once its record is durable: [`AuditLog::record`]
//! returning `Ok` means exactly that, and an error means the read must fail.
//! Records are indexed by event, subject, principal, agency and time, for
//! the auditors' questions.

use std::sync::Arc;

use concord_core::{SubjectId, pb, sortable_time};
use concord_log::group::GroupCommitter;
use concord_log::log::{Log, LogError, NewEntry};
use prost::Message;

/// The origin line of the audit log's checkpoints.
pub const AUDIT_LOG_ORIGIN: &str = "concord.local/audit";

/// Index of records by the id of each event they show.
pub const BY_EVENT: &str = "event";
/// Index of records by each subject of the events they show (`person/P-1`).
pub const BY_SUBJECT: &str = "subject";
/// Index of records by the caller's `sub`.
pub const BY_PRINCIPAL: &str = "principal";
/// Index of records by the caller's agency.
pub const BY_AGENCY: &str = "agency";
/// Index of records by when the read happened.
pub const BY_TIME: &str = "at";

/// How many records wait to share one commit at most.
const MAX_BATCH: usize = 512;

/// Why a record could not be made durable: the read it records must fail.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The audit log could not be written or read.
    #[error("the audit log is unavailable: {0}")]
    Log(#[from] LogError),
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

/// The audit log and its group committer.
pub struct AuditLog {
    log: Arc<Log>,
    committer: GroupCommitter,
}

impl AuditLog {
    /// Records into `log`; starts the group committer on the current runtime.
    pub fn new(log: Arc<Log>) -> Self {
        let committer = GroupCommitter::spawn(log.clone(), MAX_BATCH);
        AuditLog { log, committer }
    }

    /// The underlying Merkle log (checkpoints and proofs).
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// Appends `record` and returns once it is durable, with its position.
    /// An empty `record_id` or `at` is filled in.
    pub async fn record(&self, mut record: pb::AccessRecord) -> Result<u64, AuditError> {
        if record.record_id.is_empty() {
            record.record_id = uuid::Uuid::now_v7().to_string();
        }
        if record.at.is_none() {
            let now = concord_core::now_millis();
            record.at = Some(pbjson_ts(now));
        }
        let entry = entry_for(&record);
        match self.committer.append(entry).await? {
            Ok(appended) => Ok(appended.position()),
            Err(e) => Err(AuditError::Conflict(e.to_string())),
        }
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

fn pbjson_ts(millis: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: millis.div_euclid(1000), nanos: (millis.rem_euclid(1000) * 1_000_000) as i32 }
}

/// The log entry for a record: its bytes and its index values.
fn entry_for(record: &pb::AccessRecord) -> NewEntry {
    let mut indexes = vec![
        (BY_PRINCIPAL.to_string(), record.principal.as_bytes().to_vec()),
        (BY_AGENCY.to_string(), record.agency_id.as_bytes().to_vec()),
    ];
    if let Some(at) = &record.at {
        indexes.push((BY_TIME.to_string(), sortable_time(at).to_vec()));
    }
    for shown in &record.shown {
        indexes.push((BY_EVENT.to_string(), shown.event_id.as_bytes().to_vec()));
        for subject in &shown.subjects {
            if let Ok(subject) = SubjectId::from_ref(subject) {
                let value = subject.to_string().into_bytes();
                if !indexes.iter().any(|(i, v)| i == BY_SUBJECT && *v == value) {
                    indexes.push((BY_SUBJECT.to_string(), value));
                }
            }
        }
    }
    let id = uuid::Uuid::parse_str(&record.record_id)
        .map(|u| *u.as_bytes())
        .unwrap_or_else(|_| *uuid::Uuid::now_v7().as_bytes());
    NewEntry { id, bytes: record.encode_to_vec(), streams: Vec::new(), expected: Vec::new(), indexes }
}
