//! `AdminService`: data protection requests (erasure, the partnership-wide
//! access trail) filed and decided by data protection people of different
//! agencies ([`crate::requests`]), subject access reports (role
//! `data_protection`), and the retention sweep (role `admin`, previewed by
//! `data_protection` too; and scheduled:
//! the retention rules are the partnership's standing decision, so the sweep
//! needs no request). Each call is recorded in the audit log before it takes
//! effect or is answered; a refused call is recorded too.

use concord_read::blocking;
use std::sync::Arc;
use std::time::Duration;

use concord_audit::access::{Access, Tally, shown};
use concord_audit::{About, AuditLog, Call, Door};
use concord_core::pb::admin_service_server::AdminService;
use concord_core::seal::SubjectKeys;
use concord_core::status::invalid_argument;
use concord_core::{SubjectId, millis, now_millis, pb, timestamp};
use concord_directory::Directory;
use concord_eventlog::decode_entry;
use concord_identity::{Principal, Purpose, Role, Verifier};
use concord_log::log::Log;
use concord_read::{Views, storage_unavailable};
use concord_vault::Vault;
use tonic::{Request, Response, Status};

use crate::requests::{self, DECIDE_REQUEST, FILE_REQUEST, History, RequestError};
use crate::retention::RetentionRules;
use crate::sweep;

const LIST_REQUESTS: &str = "/concord.v1.AdminService/ListRequests";
const SUBJECT_ACCESS: &str = "/concord.v1.AdminService/SubjectAccess";
const RETENTION_SWEEP: &str = "/concord.v1.AdminService/RetentionSweep";

/// The gRPC admin API, and the scheduled retention sweep.
pub struct AdminApi {
    views: Arc<Views>,
    vault: Arc<Vault>,
    audit: Arc<AuditLog>,
    rules: Arc<RetentionRules>,
    door: Door,
    directory: Option<Arc<Directory>>,
}

fn subject_of(subject: Option<&pb::SubjectRef>) -> Result<SubjectId, Status> {
    let subject = subject.ok_or_else(|| invalid_argument("subject", "required, e.g. {kind: PERSON, key: \"P-1\"}"))?;
    SubjectId::from_ref(subject).map_err(|e| invalid_argument("subject", &e.to_string()))
}

impl AdminApi {
    /// Answers admins over `views` (reads), `vault` (erasure) and `audit`
    /// (access records), applying `rules` when sweeping.
    pub fn new(
        views: Arc<Views>,
        vault: Arc<Vault>,
        audit: Arc<AuditLog>,
        rules: Arc<RetentionRules>,
        verifier: Arc<Verifier>,
    ) -> Self {
        let door = Door::new(verifier, views.recorder().clone());
        AdminApi { views, vault, audit, rules, door, directory: None }
    }

    /// Removes an erased subject's entries from `directory` too.
    pub fn forgetting_in(mut self, directory: Arc<Directory>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Destroys `subject`'s data key (the call's record, already durable,
    /// says so; if this fails, the door records how).
    async fn shred(&self, subject: &SubjectId) -> Result<bool, Status> {
        let had_key = self
            .vault
            .shred(subject)
            .await
            .map_err(|e| Status::unavailable(format!("the subject key store is unavailable: {e}")))?;
        // Not named here: logs carry no personal data; the audit log names them.
        tracing::info!(had_key, "a subject was erased (data key destroyed)");
        if let Some(directory) = self.directory.clone() {
            let subject = subject.clone();
            blocking(move || directory.forget(&subject)).await?;
        }
        Ok(had_key)
    }

    /// A request's history, as this replica's audit log tells it.
    async fn history(&self, id: String) -> Result<Option<History>, Status> {
        let audit = self.audit.clone();
        blocking(move || requests::history(&audit, &id).map_err(|e| Status::unavailable(e.to_string()))).await
    }

    /// The request `id`, once this replica's audit log holds its filing.
    async fn filed(&self, id: String) -> Result<History, Status> {
        let (audit, wanted) = (self.audit.clone(), id.clone());
        let found =
            blocking(move || requests::wait_for(&audit, &wanted).map_err(|e| Status::unavailable(e.to_string())))
                .await?;
        found.ok_or_else(|| Status::not_found(format!("no request {id}")))
    }

    async fn file(&self, call: &Call, request: pb::FileRequestRequest) -> Result<pb::DataProtectionRequest, Status> {
        let caller = data_protection(call)?;
        let kind = pb::RequestKind::try_from(request.kind).unwrap_or(pb::RequestKind::Unspecified);
        if kind == pb::RequestKind::Unspecified {
            return Err(invalid_argument("kind", "required: erasure or access_trail"));
        }
        let subject = subject_of(request.subject.as_ref())?;
        if request.reason.trim().is_empty() {
            return Err(invalid_argument("reason", "required: say why"));
        }
        let id = uuid::Uuid::now_v7().to_string();
        call.concerns_request(&id);
        let record = call.record_now().await?;
        // Answered once this replica holds it, so the filer can find it here.
        let (audit, own) = (self.audit.clone(), record.record_id.clone());
        blocking(move || requests::caught_up(&audit, &own).map_err(request_unavailable)).await?;
        let filed = requests::Filed {
            kind,
            subject,
            reason: request.reason,
            by: caller.sub.clone(),
            agency: caller.agency.to_string(),
            at: record.at,
        };
        let history = History { id, filed, decided: None };
        Ok(pb::DataProtectionRequest { record_id: record.record_id, ..history.to_pb() })
    }

    /// Approves, refuses or withdraws a request. The decision is recorded
    /// first; then, once this replica's audit log holds it, the request's
    /// history is read again: the first decision recorded stands (on every
    /// replica alike), so of two racing decisions the later fails, and an
    /// erasure is carried out only if the request stands approved.
    async fn decide(
        &self,
        call: &Call,
        request: pb::DecideRequestRequest,
    ) -> Result<pb::DataProtectionRequest, Status> {
        let caller = data_protection(call)?;
        let decision = pb::RequestDecision::try_from(request.decision).unwrap_or(pb::RequestDecision::Unspecified);
        if decision == pb::RequestDecision::Unspecified {
            return Err(invalid_argument("decision", "required: approve, refuse or withdraw"));
        }
        if decision != pb::RequestDecision::Approve && request.reason.trim().is_empty() {
            return Err(invalid_argument("reason", "required to refuse or withdraw: say why"));
        }
        let history = self.filed(request.request_id.clone()).await?;
        call.concerns_request(&history.id);
        let filed = &history.filed;
        if request.kind != 0 && request.kind != filed.kind as i32 {
            return Err(Status::failed_precondition(format!(
                "request {} is {}, not {}",
                history.id,
                filed.kind.as_str_name(),
                pb::RequestKind::try_from(request.kind).map_or("that kind", |k| k.as_str_name())
            )));
        }
        let own_agency = caller.agency.as_str() == filed.agency;
        match decision {
            pb::RequestDecision::Withdraw if !own_agency => {
                return Err(Status::permission_denied("only the requesting agency may withdraw its request"));
            }
            pb::RequestDecision::Approve | pb::RequestDecision::Refuse if own_agency || caller.sub == filed.by => {
                return Err(Status::permission_denied(
                    "a request is decided by a data protection person of another agency than the requester's",
                ));
            }
            _ => {}
        }
        // An approval may be given again (it carries out the erasure again,
        // e.g. after the key store failed); anything else only once.
        let again = history.state() == pb::RequestState::Approved && decision == pb::RequestDecision::Approve;
        if history.decided.is_some() && !again {
            return Err(Status::failed_precondition(format!(
                "request {} is already {}",
                history.id,
                history.state().as_str_name()
            )));
        }
        let erasing = decision == pb::RequestDecision::Approve && filed.kind == pb::RequestKind::Erasure;
        if erasing {
            // Recorded before it takes effect: an erasure is never unaudited.
            call.erases([filed.subject.to_ref()]);
        }
        let record = call.record_now().await?;
        let (audit, own) = (self.audit.clone(), record.record_id.clone());
        blocking(move || requests::caught_up(&audit, &own).map_err(request_unavailable)).await?;
        let Some(now) = self.history(history.id.clone()).await? else {
            return Err(Status::internal("a request's history vanished"));
        };
        let stands = match (&now.decided, decision) {
            (Some(d), pb::RequestDecision::Approve) => d.decision == pb::RequestDecision::Approve,
            (Some(d), _) => d.record_id == record.record_id,
            (None, _) => false,
        };
        if !stands {
            return Err(Status::failed_precondition(format!(
                "request {} was decided by someone else first: it is {}",
                now.id,
                now.state().as_str_name()
            )));
        }
        let had_key = if erasing { self.shred(&filed.subject).await? } else { false };
        Ok(pb::DataProtectionRequest { record_id: record.record_id, had_key, ..now.to_pb() })
    }

    async fn list(&self, call: &Call, request: pb::ListRequestsRequest) -> Result<pb::ListRequestsResponse, Status> {
        data_protection(call)?;
        let subject = request.subject.as_ref().map(|s| subject_of(Some(s))).transpose()?;
        let audit = self.audit.clone();
        let all = blocking(move || requests::all(&audit).map_err(|e| Status::unavailable(e.to_string()))).await?;
        let requests = all
            .iter()
            .filter(|h| request.state == 0 || h.state() as i32 == request.state)
            .filter(|h| subject.as_ref().is_none_or(|s| *s == h.filed.subject))
            .map(History::to_pb)
            .collect();
        Ok(pb::ListRequestsResponse { requests })
    }

    async fn subject_access_report(
        &self,
        call: &Call,
        request: pb::SubjectAccessRequest,
    ) -> Result<pb::SubjectAccessReport, Status> {
        let caller = data_protection(call)?;
        let subject = subject_of(request.subject.as_ref())?;
        let all_agencies = !request.trail_request.is_empty();
        if all_agencies {
            self.approved_trail(call, caller, &subject, request.trail_request).await?;
        }
        let (views, vault, who, agency) = (self.views.clone(), self.vault.clone(), subject.clone(), as_agency(caller));
        let held = blocking(move || held_about(&views, vault.as_ref(), &agency, &who)).await?;
        call.decided(&Tally { withheld: held.withheld, policy_hash: held.policy_hash.clone() });
        call.shows(held.events.iter().flat_map(shown));
        let record = call.record_now().await?;
        // The record is durable; the report lists the access records about
        // the subject the audit log now holds (the caller's agency's, or
        // every agency's), this one last.
        let (audit, events, who, id) =
            (self.audit.clone(), self.views.log().clone(), subject.clone(), record.record_id.clone());
        let mut accesses = blocking(move || accesses_about(&audit, &events, &who, &id)).await?;
        if !all_agencies {
            accesses.retain(|r| r.agency_id == caller.agency.as_str() || r.role == SYSTEM_ROLE);
        }
        Ok(pb::SubjectAccessReport {
            subject: Some(subject.to_ref()),
            produced_at: record.at,
            requested_by: caller.sub.clone(),
            events: held.events,
            withheld: u32::try_from(held.withheld).unwrap_or(u32::MAX),
            policy_hash: held.policy_hash,
            erased: held.erased,
            accesses,
            all_agencies,
        })
    }

    /// Checks that `id` is an approved access-trail request about `subject`
    /// filed by the caller's agency, and names it in the call's record.
    async fn approved_trail(
        &self,
        call: &Call,
        caller: &Principal,
        subject: &SubjectId,
        id: String,
    ) -> Result<(), Status> {
        let history = self.filed(id.clone()).await?;
        call.concerns_request(&history.id);
        if history.filed.agency != caller.agency.as_str() {
            return Err(Status::permission_denied("that request was filed by another agency"));
        }
        if history.filed.kind != pb::RequestKind::AccessTrail || history.filed.subject != *subject {
            return Err(invalid_argument("trail_request", "not an access-trail request about this subject"));
        }
        if history.state() != pb::RequestState::Approved {
            return Err(Status::failed_precondition(format!(
                "request {id} is {}; the full access trail needs another agency's approval",
                history.state().as_str_name()
            )));
        }
        Ok(())
    }

    /// Runs the retention sweep as `call` (an admin's, or the scheduled sweep).
    pub async fn sweep(&self, call: &Call, request: pb::RetentionSweepRequest) -> Result<pb::RetentionReport, Status> {
        let at = match (&request.at, request.dry_run) {
            (None, _) => now_millis(),
            (Some(at), true) => millis(at),
            (Some(_), false) => {
                return Err(invalid_argument("at", "only a dry run may name a time; a sweep that erases uses now"));
            }
        };
        let (views, vault, rules) = (self.views.clone(), self.vault.clone(), self.rules.clone());
        let plan = blocking(move || {
            sweep::plan(views.log(), &rules, vault.as_ref() as &dyn SubjectKeys, at).map_err(storage_unavailable)
        })
        .await?;
        if !request.dry_run {
            call.erases(plan.due.iter().map(|d| d.subject.to_ref()));
        }
        let record_id = call.record_now().await?.record_id;
        let mut due = Vec::with_capacity(plan.due.len());
        for d in plan.due {
            if !request.dry_run {
                self.shred(&d.subject).await?;
            }
            due.push(pb::RetentionDue {
                subject: Some(d.subject.to_ref()),
                rule: d.rule,
                due: Some(timestamp(d.at)),
                erased: !request.dry_run,
            });
        }
        Ok(pb::RetentionReport {
            dry_run: request.dry_run,
            at: Some(timestamp(at)),
            examined: u32::try_from(plan.examined).unwrap_or(u32::MAX),
            due,
            undetermined: plan.undetermined.iter().map(SubjectId::to_ref).collect(),
            record_id,
        })
    }

    /// Sweeps every `every`, as the platform itself, until the process ends.
    pub async fn sweep_every(self: Arc<Self>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await; // the first tick is immediate: the first sweep waits a period
        loop {
            ticks.tick().await;
            let request = Request::new(pb::RetentionSweepRequest { dry_run: false, at: None });
            let call = Call::scheduled(Access::of(RETENTION_SWEEP, &request), SCHEDULED, self.door.recorder().clone());
            match call.run(async |call| self.sweep(call, request.into_inner()).await).await {
                Ok(report) => tracing::info!(
                    examined = report.examined,
                    erased = report.due.len(),
                    undetermined = report.undetermined.len(),
                    "retention sweep done"
                ),
                Err(status) => {
                    tracing::error!(error = %status.message(), "retention sweep failed; it runs again next period")
                }
            }
        }
    }
}

/// Who the scheduled sweep's access records name.
pub const SCHEDULED: &str = "concord/retention-sweep";

/// What a subject access request returns from the event log.
struct Held {
    events: Vec<pb::EventView>,
    withheld: usize,
    policy_hash: String,
    erased: bool,
}

/// Whose view a subject access report gives: the caller's agency's
/// practitioners, for each purpose they may read for. The agency is the
/// controller answering the request; the data protection role itself reads
/// no event content anywhere else.
fn as_agency(caller: &Principal) -> Vec<Principal> {
    let casework = [
        Purpose::Safeguarding,
        Purpose::CrimePrevention,
        Purpose::CaseManagement,
        Purpose::Briefing,
        Purpose::DirectCare,
    ];
    casework.into_iter().map(|purpose| Principal { role: Role::Practitioner, purpose, ..caller.clone() }).collect()
}

/// The fullest view of one stored entry any of `principals` gets, if any.
fn fullest(
    views: &Views,
    principals: &[Principal],
    position: u64,
    bytes: &[u8],
) -> Result<(Option<pb::EventView>, String), Status> {
    let (mut best, mut policy_hash): (Option<pb::EventView>, String) = (None, String::new());
    for principal in principals {
        let visible = views.decide(principal, vec![(position, bytes.to_vec())])?;
        policy_hash = visible.policy_hash;
        let Some(view) = visible.events.into_iter().next() else { continue };
        let fuller = best.as_ref().is_none_or(|b| {
            b.visibility != pb::Visibility::Show as i32 && view.visibility == pb::Visibility::Show as i32
        });
        if fuller {
            best = Some(view);
        }
    }
    Ok((best, policy_hash))
}

/// Every event about `subject` that any of `principals` may see (in its
/// fullest view), oldest first.
fn held_about(
    views: &Views,
    keys: &dyn SubjectKeys,
    principals: &[Principal],
    subject: &SubjectId,
) -> Result<Held, Status> {
    let mut held =
        Held { events: Vec::new(), withheld: 0, policy_hash: views.policy().policy_hash().to_string(), erased: false };
    let mut sealed_for_subject = false;
    let mut after = 0;
    loop {
        let versions = views.log().stream(&subject.stream(), after, 500).map_err(storage_unavailable)?;
        let Some(&(last, _)) = versions.last() else { break };
        after = last;
        for (_, position) in versions {
            let bytes = views.stored(position)?;
            if let Ok((_, event)) = decode_entry(&bytes) {
                let subject_ref = subject.to_ref();
                sealed_for_subject |= event.sealed.iter().any(|s| s.subjects.contains(&subject_ref));
            }
            let (view, policy_hash) = fullest(views, principals, position, &bytes)?;
            held.policy_hash = policy_hash;
            match view {
                Some(view) => held.events.push(view),
                None => held.withheld += 1,
            }
        }
    }
    let has_key = keys.data_key(subject).map_err(storage_unavailable)?.is_some();
    held.erased = sealed_for_subject && !has_key;
    Ok(held)
}

/// Every access record about `subject` (its events located in `events`,
/// the event log), oldest first, once the record `own_id` is among them
/// (waiting a little for the audit stream).
fn accesses_about(
    audit: &AuditLog,
    events: &Log,
    subject: &SubjectId,
    own_id: &str,
) -> Result<Vec<pb::AccessRecord>, Status> {
    let unavailable = |e: concord_audit::AuditError| Status::unavailable(e.to_string());
    requests::caught_up(audit, own_id).map_err(request_unavailable)?;
    let about = About::subject(events, subject).map_err(unavailable)?;
    let (mut records, mut after) = (Vec::new(), 0);
    loop {
        let page = audit.find_about(&about, after, 1000).map_err(unavailable)?;
        let Some(&(last, _)) = page.last() else { break };
        after = last;
        records.extend(page.into_iter().map(|(_, r)| r));
    }
    Ok(records)
}

/// The role the audit log names the platform's own calls with.
const SYSTEM_ROLE: &str = "system";

/// A request's history could not be read, as a gRPC status.
fn request_unavailable(e: RequestError) -> Status {
    match e {
        RequestError::RecordId(_) => Status::internal(e.to_string()),
        _ => Status::unavailable(e.to_string()),
    }
}

/// Whether `role` may sweep: admins run the sweep; data protection people
/// may preview it (a dry run erases nothing), so they can answer what the
/// rules will remove before it goes.
fn may_sweep(role: Role, dry_run: bool) -> Result<(), Status> {
    match role {
        Role::Admin => Ok(()),
        Role::DataProtection if dry_run => Ok(()),
        Role::DataProtection => Err(Status::permission_denied(
            "data protection people may preview the retention sweep (a dry run); only admins (role admin) run it",
        )),
        _ => Err(Status::permission_denied(
            "the retention sweep is for admins (role admin); data protection people may preview it",
        )),
    }
}

/// The caller, if a data protection person (requests, subject access).
fn data_protection(call: &Call) -> Result<&Principal, Status> {
    let caller = call.caller()?;
    if caller.role != Role::DataProtection {
        return Err(Status::permission_denied(
            "erasure and subject access are for data protection people (role data_protection); an erasure also \
             needs another agency's approval",
        ));
    }
    Ok(caller)
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn file_request(
        &self,
        request: Request<pb::FileRequestRequest>,
    ) -> Result<Response<pb::DataProtectionRequest>, Status> {
        let access = Access::of(FILE_REQUEST, &request).about(request.get_ref().subject.as_ref());
        self.door.call(access, request, async |call, request| self.file(call, request.into_inner()).await).await
    }

    async fn decide_request(
        &self,
        request: Request<pb::DecideRequestRequest>,
    ) -> Result<Response<pb::DataProtectionRequest>, Status> {
        let access = Access::of(DECIDE_REQUEST, &request);
        self.door.call(access, request, async |call, request| self.decide(call, request.into_inner()).await).await
    }

    async fn list_requests(
        &self,
        request: Request<pb::ListRequestsRequest>,
    ) -> Result<Response<pb::ListRequestsResponse>, Status> {
        let access = Access::of(LIST_REQUESTS, &request);
        self.door.call(access, request, async |call, request| self.list(call, request.into_inner()).await).await
    }

    async fn subject_access(
        &self,
        request: Request<pb::SubjectAccessRequest>,
    ) -> Result<Response<pb::SubjectAccessReport>, Status> {
        let access = Access::of(SUBJECT_ACCESS, &request).about(request.get_ref().subject.as_ref());
        self.door
            .call(access, request, async |call, request| self.subject_access_report(call, request.into_inner()).await)
            .await
    }

    async fn retention_sweep(
        &self,
        request: Request<pb::RetentionSweepRequest>,
    ) -> Result<Response<pb::RetentionReport>, Status> {
        self.door
            .call(Access::of(RETENTION_SWEEP, &request), request, async |call, request| {
                may_sweep(call.caller()?.role, request.get_ref().dry_run)?;
                self.sweep(call, request.into_inner()).await
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_sweep_and_data_protection_people_only_preview() {
        assert!(may_sweep(Role::Admin, false).is_ok() && may_sweep(Role::Admin, true).is_ok());
        assert!(may_sweep(Role::DataProtection, true).is_ok());
        let erasing = may_sweep(Role::DataProtection, false).unwrap_err();
        assert_eq!(erasing.code(), tonic::Code::PermissionDenied);
        for role in [Role::Practitioner, Role::Auditor, Role::Analyst, Role::BriefingLead] {
            assert_eq!(may_sweep(role, true).unwrap_err().code(), tonic::Code::PermissionDenied, "{role:?}");
        }
    }
}
