//! `AuditService`: the auditors' questions over the audit log (who saw an
//! event, a subject, what a person or agency read, in a time range), and the
//! audit log's checkpoints and proofs. Auditors only; no event content.

use std::sync::Arc;

use concord_audit::{About, AuditLog, BY_AGENCY, BY_PRINCIPAL, BY_TIME, Call, Door};
use concord_core::pb::audit_service_server::AuditService;
use concord_core::status::invalid_argument;
use concord_core::{SubjectId, millis, pb, sortable_time};
use concord_identity::Role;
use concord_log::log::Log;
use tonic::{Request, Response, Status};

use crate::log_service::Proofs;
use crate::page::{PageKey, page_size};
use concord_audit::access::Access;

/// How many records one request examines at most before returning a
/// (possibly short) page with a token to continue.
const SCAN_BUDGET: usize = 20_000;

/// The gRPC audit API.
pub struct AuditApi {
    audit: Arc<AuditLog>,
    events: Arc<Log>,
    door: Door,
    proofs: Proofs,
    pages: PageKey,
}

impl AuditApi {
    /// Answers auditors from `audit`, every call through `door`; `events`
    /// (the event log) locates the events and subjects asked about, for the
    /// records that name what they showed by position (replays).
    pub fn new(audit: Arc<AuditLog>, events: Arc<Log>, door: Door) -> Self {
        let proofs = Proofs::new(audit.log().clone());
        AuditApi { audit, events, door, proofs, pages: PageKey::default() }
    }

    /// Runs an auditor's call through the door (auditors' reads are audited
    /// too); anyone else is refused, and that is recorded.
    async fn audited<Q: serde::Serialize, T>(
        &self,
        rpc: &'static str,
        request: Request<Q>,
        answer: impl AsyncFnOnce(Q) -> Result<T, Status>,
    ) -> Result<Response<T>, Status> {
        self.door
            .call(Access::of(rpc, &request), request, async |call: &Call, request: Request<Q>| {
                if call.caller()?.role != Role::Auditor {
                    return Err(Status::permission_denied("the audit log is for auditors (role auditor)"));
                }
                answer(request.into_inner()).await
            })
            .await
    }
}

fn storage(e: concord_audit::AuditError) -> Status {
    Status::unavailable(e.to_string())
}

/// What a listing narrows by.
enum By {
    /// An event or a subject: records listing it, or naming its position.
    About(About),
    /// One index value (a principal, an agency).
    Index(&'static str, Vec<u8>),
    /// Nothing but time.
    Time,
}

/// The one thing a request narrows by (at most one may be named), located
/// in `events`; and a description of it for the page token's scope.
fn narrowed_by(events: &Log, request: &pb::ListAccessRequest) -> Result<(By, String), Status> {
    let mut by = Vec::new();
    let located = |about: Result<About, concord_audit::AuditError>| about.map(By::About).map_err(storage);
    if !request.event_id.is_empty() {
        by.push((located(About::event(events, &request.event_id))?, format!("event {}", request.event_id)));
    }
    if let Some(subject) = &request.subject {
        let subject = SubjectId::from_ref(subject).map_err(|e| invalid_argument("subject", &e.to_string()))?;
        by.push((located(About::subject(events, &subject))?, format!("subject {subject}")));
    }
    if !request.principal.is_empty() {
        let value = request.principal.as_bytes().to_vec();
        by.push((By::Index(BY_PRINCIPAL, value), format!("principal {}", request.principal)));
    }
    if !request.agency_id.is_empty() {
        let value = request.agency_id.as_bytes().to_vec();
        by.push((By::Index(BY_AGENCY, value), format!("agency {}", request.agency_id)));
    }
    if by.len() > 1 {
        return Err(invalid_argument("event_id", "name at most one of event_id, subject, principal and agency_id"));
    }
    Ok(by.pop().unwrap_or((By::Time, String::new())))
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_access(&self, request: Request<pb::ListAccessRequest>) -> Result<Response<pb::AccessPage>, Status> {
        self.audited("/concord.v1.AuditService/ListAccess", request, async |r| self.list(r).await).await
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        self.audited("/concord.v1.AuditService/GetCheckpoint", request, async |_| self.proofs.checkpoint().await).await
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::ConsistencyProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        self.audited("/concord.v1.AuditService/GetConsistencyProof", request, async |r| self.proofs.consistency(&r))
            .await
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::InclusionProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        self.audited("/concord.v1.AuditService/GetInclusionProof", request, async |r| self.proofs.inclusion(&r)).await
    }
}

impl AuditApi {
    async fn list(&self, request: pb::ListAccessRequest) -> Result<pb::AccessPage, Status> {
        let limit = page_size(request.page_size)?;
        let (from, to) = (request.from.as_ref().map(millis), request.to.as_ref().map(millis));
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(invalid_argument("to", "must be after `from`"));
        }
        let events = self.events.clone();
        let asked = request.clone();
        let (by, described) = tokio::task::spawn_blocking(move || narrowed_by(&events, &asked))
            .await
            .map_err(|e| Status::internal(format!("audit listing failed: {e}")))??;
        let scope = format!("audit {described}|{from:?}|{to:?}|{}", request.event_type);
        let mut after = self
            .pages
            .decode(&scope, &request.page_token)
            .ok_or_else(|| invalid_argument("page_token", "not a token from this listing"))?;
        let audit = self.audit.clone();
        let event_type = request.event_type.clone();
        let (from_ts, to_ts) = (request.from, request.to);
        let (records, more, after) =
            tokio::task::spawn_blocking(move || -> Result<(Vec<pb::AccessEntry>, bool, u64), Status> {
                let mut out = Vec::new();
                let mut scanned = 0;
                loop {
                    let chunk = match &by {
                        By::About(about) => audit.find_about(about, after, 256).map_err(storage)?,
                        By::Index(index, value) => audit.find(index, value, after, 256).map_err(storage)?,
                        By::Time => {
                            // By time: the whole range, oldest first.
                            let lo = from_ts.as_ref().map_or([0u8; 8], sortable_time);
                            let hi = to_ts.as_ref().map_or([0xffu8; 8], sortable_time);
                            audit.find_range(BY_TIME, &lo, &hi, after, 256).map_err(storage)?
                        }
                    };
                    let Some((last, _)) = chunk.last() else { return Ok((out, false, after)) };
                    let last = *last;
                    for (position, record) in chunk {
                        scanned += 1;
                        let at = record.at.as_ref().map(millis);
                        let in_time = from.is_none_or(|f| at.is_some_and(|a| a >= f))
                            && to.is_none_or(|t| at.is_some_and(|a| a < t));
                        let of_type = event_type.is_empty()
                            || record.shown.iter().chain(&record.added).any(|s| s.event_type == event_type)
                            || record.shown_positions.as_ref().is_some_and(|p| p.event_types.contains(&event_type));
                        if in_time && of_type {
                            out.push(pb::AccessEntry { position, record: Some(record) });
                            if out.len() == limit {
                                return Ok((out, true, position));
                            }
                        }
                    }
                    after = last;
                    if scanned >= SCAN_BUDGET {
                        return Ok((out, true, after));
                    }
                }
            })
            .await
            .map_err(|e| Status::internal(format!("audit listing failed: {e}")))??;
        let next_page_token = if more { self.pages.encode(&scope, after) } else { String::new() };
        Ok(pb::AccessPage { records, next_page_token })
    }
}
