//! Data protection requests: erasure and the partnership-wide access trail
//! are the partnership's decisions, not one agency's.
//!
//! A data protection person files a request; a data protection person of
//! another agency approves or refuses it, or the requester's agency
//! withdraws it; only an approval lets it take effect.
//!
//! **Where requests live: in the audit log, nowhere else.** Each filing and
//! each decision is an RPC, and every RPC is already recorded durably
//! through the one door before it takes effect ([`concord_audit::Door`]);
//! the record carries the request's id ([`pb::AccessRecord::request_id`],
//! indexed as [`BY_REQUEST`]). A request's state is therefore a fold over
//! the audit log's records with its id, in log order: the first successful
//! filing, then the first successful decision. Nothing new is stored, so
//! nothing new must be replicated or recovered: over NATS the records travel
//! on the `CONCORD_AUDIT` stream and every `serve` replica builds the same
//! audit log from it, in the same order, so every replica folds the same
//! state and agrees which decision came first; after a restart the state is
//! whatever the audit log holds. The filing and the approval are, by the
//! same token, the accountability records (UK GDPR Art. 5(2), Art. 30).

use std::time::{Duration, Instant};

use concord_audit::{AuditError, AuditLog, BY_REQUEST};
use concord_core::{SubjectId, pb};

/// The RPC that files a request.
pub const FILE_REQUEST: &str = "/concord.v1.AdminService/FileRequest";
/// The RPC that decides a request.
pub const DECIDE_REQUEST: &str = "/concord.v1.AdminService/DecideRequest";

/// How long a call waits for a record it made to reach this replica's audit
/// log (over NATS the log is built from the audit stream).
pub const AUDIT_CATCH_UP: Duration = Duration::from_secs(10);

/// Why a request's history cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The audit log could not be read.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// This replica's audit log does not yet hold a record just made.
    #[error("this replica's audit log has not caught up with the audit stream; try again shortly")]
    Behind,
    /// A record id is not a UUID.
    #[error("record id `{0}` is not a UUID")]
    RecordId(String),
}

/// A request as filed.
#[derive(Debug, Clone)]
pub struct Filed {
    /// What it asks for.
    pub kind: pb::RequestKind,
    /// About whom.
    pub subject: SubjectId,
    /// Why.
    pub reason: String,
    /// Who filed it (token `sub`) and their agency.
    pub by: String,
    /// The filer's agency.
    pub agency: String,
    /// When.
    pub at: Option<pbjson_types::Timestamp>,
}

/// The decision on a request.
#[derive(Debug, Clone)]
pub struct Decided {
    /// Approved, refused or withdrawn.
    pub decision: pb::RequestDecision,
    /// Who decided (token `sub`).
    pub by: String,
    /// The decider's agency.
    pub agency: String,
    /// When.
    pub at: Option<pbjson_types::Timestamp>,
    /// Why.
    pub reason: String,
    /// The access record of the decision.
    pub record_id: String,
}

/// One request and the decision on it, if any.
#[derive(Debug, Clone)]
pub struct History {
    /// The request's id.
    pub id: String,
    /// As filed.
    pub filed: Filed,
    /// The first decision recorded, which stands.
    pub decided: Option<Decided>,
}

impl History {
    /// Where the request stands.
    pub fn state(&self) -> pb::RequestState {
        match self.decided.as_ref().map(|d| d.decision) {
            None => pb::RequestState::Pending,
            Some(pb::RequestDecision::Approve) => pb::RequestState::Approved,
            Some(pb::RequestDecision::Refuse) => pb::RequestState::Refused,
            Some(_) => pb::RequestState::Withdrawn,
        }
    }

    /// The request as the API returns it.
    pub fn to_pb(&self) -> pb::DataProtectionRequest {
        let decided = self.decided.clone();
        pb::DataProtectionRequest {
            request_id: self.id.clone(),
            kind: self.filed.kind as i32,
            subject: Some(self.filed.subject.to_ref()),
            reason: self.filed.reason.clone(),
            requested_by: self.filed.by.clone(),
            requested_agency: self.filed.agency.clone(),
            requested_at: self.filed.at,
            state: self.state() as i32,
            decided_by: decided.as_ref().map(|d| d.by.clone()).unwrap_or_default(),
            decided_agency: decided.as_ref().map(|d| d.agency.clone()).unwrap_or_default(),
            decided_at: decided.as_ref().and_then(|d| d.at),
            decision_reason: decided.map(|d| d.reason).unwrap_or_default(),
            record_id: String::new(),
            had_key: false,
        }
    }
}

fn ok(record: &pb::AccessRecord) -> bool {
    record.outcome == "ok"
}

/// The requests told by `records` (oldest first, in log order): each
/// request's first successful filing and first successful decision after
/// it. Refused calls, and records whose parameters do not parse, count for
/// nothing.
pub fn fold(records: impl IntoIterator<Item = pb::AccessRecord>) -> Vec<History> {
    let mut out: Vec<History> = Vec::new();
    for record in records {
        if record.request_id.is_empty() || !ok(&record) {
            continue;
        }
        let known = out.iter().position(|h| h.id == record.request_id);
        match (record.rpc.as_str(), known) {
            (FILE_REQUEST, None) => {
                let Ok(request) = serde_json::from_str::<pb::FileRequestRequest>(&record.parameters) else { continue };
                let Some(subject) = request.subject.as_ref().and_then(|s| SubjectId::from_ref(s).ok()) else {
                    continue;
                };
                let Ok(kind) = pb::RequestKind::try_from(request.kind) else { continue };
                out.push(History {
                    id: record.request_id,
                    filed: Filed {
                        kind,
                        subject,
                        reason: request.reason,
                        by: record.principal,
                        agency: record.agency_id,
                        at: record.at,
                    },
                    decided: None,
                });
            }
            (DECIDE_REQUEST, Some(i)) if out[i].decided.is_none() => {
                let Ok(request) = serde_json::from_str::<pb::DecideRequestRequest>(&record.parameters) else {
                    continue;
                };
                let Ok(decision) = pb::RequestDecision::try_from(request.decision) else { continue };
                if decision == pb::RequestDecision::Unspecified {
                    continue;
                }
                out[i].decided = Some(Decided {
                    decision,
                    by: record.principal,
                    agency: record.agency_id,
                    at: record.at,
                    reason: request.reason,
                    record_id: record.record_id,
                });
            }
            _ => {}
        }
    }
    out
}

/// Every record with a request id in `[from, to)`, oldest first.
fn records(audit: &AuditLog, from: &[u8], to: &[u8]) -> Result<Vec<pb::AccessRecord>, AuditError> {
    let (mut out, mut after) = (Vec::new(), 0);
    loop {
        let page = audit.find_range(BY_REQUEST, from, to, after, 1000)?;
        let Some(&(last, _)) = page.last() else { return Ok(out) };
        after = last;
        out.extend(page.into_iter().map(|(_, r)| r));
    }
}

/// The request `id`, if it was filed.
pub fn history(audit: &AuditLog, id: &str) -> Result<Option<History>, AuditError> {
    let mut to = id.as_bytes().to_vec();
    to.push(0);
    Ok(fold(records(audit, id.as_bytes(), &to)?).into_iter().next())
}

/// The request `id`, waiting (a little, blocking) for its filing to reach
/// this replica's audit log when `id` is well formed: over NATS, a request
/// filed through another replica may not have arrived yet.
pub fn wait_for(audit: &AuditLog, id: &str) -> Result<Option<History>, AuditError> {
    let deadline = Instant::now() + AUDIT_CATCH_UP;
    loop {
        let found = history(audit, id)?;
        if found.is_some() || uuid::Uuid::parse_str(id).is_err() || Instant::now() > deadline {
            return Ok(found);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every request filed, oldest first.
pub fn all(audit: &AuditLog) -> Result<Vec<History>, AuditError> {
    Ok(fold(records(audit, &[], &[0xff])?))
}

/// Waits (a little, blocking) until this replica's audit log holds the
/// record `record_id`, so what it reads next includes it.
pub fn caught_up(audit: &AuditLog, record_id: &str) -> Result<(), RequestError> {
    let id = uuid::Uuid::parse_str(record_id).map_err(|_| RequestError::RecordId(record_id.to_string()))?;
    let deadline = Instant::now() + AUDIT_CATCH_UP;
    while audit.log().position_of(id.as_bytes()).map_err(AuditError::from)?.is_none() {
        if Instant::now() > deadline {
            return Err(RequestError::Behind);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(rpc: &str, id: &str, agency: &str, parameters: serde_json::Value, outcome: &str) -> pb::AccessRecord {
        pb::AccessRecord {
            record_id: uuid::Uuid::now_v7().to_string(),
            rpc: rpc.into(),
            request_id: id.into(),
            principal: format!("dpo@{agency}"),
            agency_id: agency.into(),
            parameters: parameters.to_string(),
            outcome: outcome.into(),
            ..Default::default()
        }
    }

    fn filing(id: &str) -> pb::AccessRecord {
        let parameters = serde_json::json!({
            "kind": "REQUEST_KIND_ERASURE",
            "subject": {"kind": "SUBJECT_KIND_PERSON", "key": "P-1"},
            "reason": "no longer necessary",
        });
        record(FILE_REQUEST, id, "vcs.st-giles", parameters, "ok")
    }

    fn decision(id: &str, agency: &str, decision: &str, outcome: &str) -> pb::AccessRecord {
        let parameters = serde_json::json!({"request_id": id, "decision": decision, "reason": "because"});
        record(DECIDE_REQUEST, id, agency, parameters, outcome)
    }

    #[test]
    fn the_first_successful_decision_stands() {
        let folded = fold([
            decision("r1", "police.met.nw", "REQUEST_DECISION_APPROVE", "ok"), // before the filing: nothing
            filing("r1"),
            decision("r1", "vcs.st-giles", "REQUEST_DECISION_APPROVE", "PermissionDenied: same agency"),
            decision("r1", "police.met.nw", "REQUEST_DECISION_REFUSE", "ok"),
            decision("r1", "yot.harrow", "REQUEST_DECISION_APPROVE", "ok"),
            filing("r2"),
        ]);
        assert_eq!(folded.len(), 2);
        assert_eq!((folded[0].id.as_str(), folded[0].state()), ("r1", pb::RequestState::Refused));
        assert_eq!(folded[0].filed.kind, pb::RequestKind::Erasure);
        assert_eq!(folded[0].filed.subject.to_string(), "person/P-1");
        assert_eq!(folded[0].decided.as_ref().unwrap().agency, "police.met.nw");
        assert_eq!((folded[1].id.as_str(), folded[1].state()), ("r2", pb::RequestState::Pending));
    }
}
