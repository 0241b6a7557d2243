//! `AdminService`: erasure, subject access and the retention sweep, for
//! admins only. Each call is recorded in the audit log before it takes effect
//! or is answered; a refused call is recorded too.

use std::sync::Arc;
use std::time::Duration;

use concord_audit::access::{Access, Tally, shown};
use concord_audit::{AuditLog, BY_SUBJECT, Call, Door};
use concord_core::pb::admin_service_server::AdminService;
use concord_core::seal::SubjectKeys;
use concord_core::status::invalid_argument;
use concord_core::{SubjectId, millis, now_millis, pb, timestamp};
use concord_identity::{Principal, Role, Verifier};
use concord_ledger::index::decode_entry;
use concord_query::view::{Views, storage_unavailable};
use concord_vault::Vault;
use tonic::{Request, Response, Status};

use crate::retention::RetentionRules;
use crate::sweep;

const ERASE: &str = "/concord.v1.AdminService/EraseSubject";
const SUBJECT_ACCESS: &str = "/concord.v1.AdminService/SubjectAccess";
const RETENTION_SWEEP: &str = "/concord.v1.AdminService/RetentionSweep";

/// How long a subject access request waits for its own access record to
/// reach this replica's audit log (over NATS the log is built from the
/// audit stream), so the report holds every record up to and including it.
const AUDIT_CATCH_UP: Duration = Duration::from_secs(10);

/// The gRPC admin API, and the scheduled retention sweep.
pub struct AdminApi {
    views: Arc<Views>,
    vault: Arc<Vault>,
    audit: Arc<AuditLog>,
    rules: Arc<RetentionRules>,
    door: Door,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Status> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Status::internal(format!("admin task failed: {e}")))?
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
        AdminApi { views, vault, audit, rules, door }
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
        Ok(had_key)
    }

    async fn erase(&self, call: &Call, request: pb::EraseSubjectRequest) -> Result<pb::ErasureReceipt, Status> {
        let subject = subject_of(request.subject.as_ref())?;
        if request.reason.trim().is_empty() {
            return Err(invalid_argument("reason", "required: say why the subject is erased"));
        }
        // Recorded before it takes effect: an erasure is never unaudited.
        call.erases([subject.to_ref()]);
        let record = call.record_now().await?;
        let had_key = self.shred(&subject).await?;
        Ok(pb::ErasureReceipt { subject: Some(subject.to_ref()), had_key, record_id: record.record_id, at: record.at })
    }

    async fn subject_access_report(
        &self,
        call: &Call,
        request: pb::SubjectAccessRequest,
    ) -> Result<pb::SubjectAccessReport, Status> {
        let caller = call.caller()?;
        let subject = subject_of(request.subject.as_ref())?;
        let (views, vault, who, principal) = (self.views.clone(), self.vault.clone(), subject.clone(), caller.clone());
        let held = blocking(move || held_about(&views, vault.as_ref(), &principal, &who)).await?;
        call.decided(&Tally { withheld: held.withheld, policy_hash: held.policy_hash.clone() });
        call.shows(held.events.iter().flat_map(shown));
        let record = call.record_now().await?;
        // The record is durable; the report lists every access record about
        // the subject the audit log now holds, this one last.
        let (audit, who, id) = (self.audit.clone(), subject.clone(), record.record_id.clone());
        let accesses = blocking(move || accesses_about(&audit, &who, &id)).await?;
        Ok(pb::SubjectAccessReport {
            subject: Some(subject.to_ref()),
            produced_at: record.at,
            requested_by: caller.sub.clone(),
            events: held.events,
            withheld: u32::try_from(held.withheld).unwrap_or(u32::MAX),
            policy_hash: held.policy_hash,
            erased: held.erased,
            accesses,
        })
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

/// Every event about `subject` that `principal` may see, oldest first.
fn held_about(
    views: &Views,
    keys: &dyn SubjectKeys,
    principal: &Principal,
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
        let mut stored = Vec::with_capacity(versions.len());
        for (_, position) in versions {
            let bytes = views.stored(position)?;
            if let Ok((_, event)) = decode_entry(&bytes) {
                let subject_ref = subject.to_ref();
                sealed_for_subject |= event.sealed.iter().any(|s| s.subjects.contains(&subject_ref));
            }
            stored.push((position, bytes));
        }
        let visible = views.decide(principal, stored)?;
        held.withheld += visible.withheld;
        held.policy_hash = visible.policy_hash;
        held.events.extend(visible.events);
    }
    let has_key = keys.data_key(subject).map_err(storage_unavailable)?.is_some();
    held.erased = sealed_for_subject && !has_key;
    Ok(held)
}

/// Every access record about `subject`, oldest first, once the record
/// `own_id` is among them (waiting a little for the audit stream).
fn accesses_about(audit: &AuditLog, subject: &SubjectId, own_id: &str) -> Result<Vec<pb::AccessRecord>, Status> {
    let unavailable = |e: concord_audit::AuditError| Status::unavailable(e.to_string());
    let id = uuid::Uuid::parse_str(own_id).map_err(|e| Status::internal(format!("record id {own_id}: {e}")))?;
    let deadline = std::time::Instant::now() + AUDIT_CATCH_UP;
    while audit.log().position_of(id.as_bytes()).map_err(|e| unavailable(e.into()))?.is_none() {
        if std::time::Instant::now() > deadline {
            return Err(Status::unavailable(
                "this replica's audit log has not caught up with the audit stream; try again shortly",
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let key = subject.to_string().into_bytes();
    let (mut records, mut after) = (Vec::new(), 0);
    loop {
        let page = audit.find(BY_SUBJECT, &key, after, 1000).map_err(unavailable)?;
        let Some(&(last, _)) = page.last() else { break };
        after = last;
        records.extend(page.into_iter().map(|(_, r)| r));
    }
    Ok(records)
}

/// The caller, if an admin.
fn admin(call: &Call) -> Result<&Principal, Status> {
    let caller = call.caller()?;
    if caller.role != Role::Admin {
        return Err(Status::permission_denied("data protection requests are for admins (role admin)"));
    }
    Ok(caller)
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn erase_subject(
        &self,
        request: Request<pb::EraseSubjectRequest>,
    ) -> Result<Response<pb::ErasureReceipt>, Status> {
        let access = Access::of(ERASE, &request).about(request.get_ref().subject.as_ref());
        self.door
            .call(access, request, async |call, request| {
                admin(call)?;
                self.erase(call, request.into_inner()).await
            })
            .await
    }

    async fn subject_access(
        &self,
        request: Request<pb::SubjectAccessRequest>,
    ) -> Result<Response<pb::SubjectAccessReport>, Status> {
        let access = Access::of(SUBJECT_ACCESS, &request).about(request.get_ref().subject.as_ref());
        self.door
            .call(access, request, async |call, request| {
                admin(call)?;
                self.subject_access_report(call, request.into_inner()).await
            })
            .await
    }

    async fn retention_sweep(
        &self,
        request: Request<pb::RetentionSweepRequest>,
    ) -> Result<Response<pb::RetentionReport>, Status> {
        self.door
            .call(Access::of(RETENTION_SWEEP, &request), request, async |call, request| {
                admin(call)?;
                self.sweep(call, request.into_inner()).await
            })
            .await
    }
}
