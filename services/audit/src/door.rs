//! The one door every RPC goes through.
//!
//! [`Door::call`] authenticates the caller once (a refusal is recorded, with
//! the RPC and the peer, before UNAUTHENTICATED is returned), runs the
//! handler as a [`Call`], records the call as the handler reported it (what
//! it showed, how many events were withheld, what it added or erased), and
//! releases the answer only once that record is durable. If the record
//! cannot be written, the call fails with UNAVAILABLE. A service plugs in by
//! holding a [`Door`] and answering each RPC inside [`Door::call`]:
//!
//! ```ignore
//! async fn get_event(&self, request: Request<pb::GetEventRequest>) -> Result<Response<pb::EventView>, Status> {
//!     self.door.call(Access::of(GET_EVENT, &request), request, async |call, request| {
//!         let view = self.read(call.caller()?, request.into_inner()).await?;
//!         call.shows(shown(&view));
//!         Ok(view)
//!     })
//!     .await
//! }
//! ```
//!
//! The door also keeps the one rule about roles that holds for every
//! service: an analyst reads only through `ReplayService` (pseudonymised,
//! coded, day-coarse); every other RPC refuses role `analyst` here, with
//! PERMISSION_DENIED, recorded like any other refusal ([`admits`]).
//!
//! Most calls are recorded once, when they end. A call that must be on the
//! record before it takes effect (an erasure) records itself first with
//! [`Call::record_now`]; a stream records each delivery through
//! [`Call::deliveries`]. Either way a later failure is recorded too.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use concord_core::pb;
use concord_identity::{Principal, Verifier};
use tonic::{Request, Response, Status};

use crate::Recorder;
use crate::access::{Access, Tally, audit_unavailable};

/// Authenticates every call and records it before its answer is released;
/// see the module documentation.
#[derive(Clone)]
pub struct Door {
    verifier: Arc<Verifier>,
    recorder: Arc<Recorder>,
}

impl Door {
    /// A door that checks tokens with `verifier` and records calls with `recorder`.
    pub fn new(verifier: Arc<Verifier>, recorder: Arc<Recorder>) -> Self {
        Door { verifier, recorder }
    }

    /// Where this door records calls.
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// Answers one RPC, described by `access`: authenticates the caller of
    /// `request`, runs `handler`, records the call and only then releases
    /// its answer.
    pub async fn call<Q, T>(
        &self,
        access: Access,
        request: Request<Q>,
        handler: impl AsyncFnOnce(&Call, Request<Q>) -> Result<T, Status>,
    ) -> Result<Response<T>, Status> {
        let principal = match self.verifier.authenticate(request.metadata()).await {
            Ok(principal) => principal,
            Err(status) => {
                let record = access.record(None, Vec::new(), &Tally::default(), Some(&status));
                self.recorder.record(record).await.map_err(audit_unavailable)?;
                return Err(status);
            }
        };
        let refused = admits(&principal, access.rpc()).err();
        let call = Call::new(access, Caller::Principal(principal), self.recorder.clone());
        let result = match refused {
            Some(status) => Err(status),
            None => handler(&call, request).await,
        };
        call.finish(result).await.map(Response::new)
    }
}

/// The only service an analyst may call: the replay, which pseudonymises
/// every key, codes every free string and coarsens every time to the day.
pub const ANALYST_SERVICE: &str = "/concord.v1.ReplayService/";

/// Whether `principal`'s role may call `rpc` (a full method path) at all;
/// PERMISSION_DENIED if not. Analysts read only through [`ANALYST_SERVICE`]:
/// everything else (the query, alerts, briefings, explanations, subject
/// access, ...) would show them real keys, names or free text. Each service
/// still checks what it needs beyond this (e.g. the replay is for analysts
/// only).
pub fn admits(principal: &Principal, rpc: &str) -> Result<(), Status> {
    if principal.role == concord_identity::Role::Analyst && !rpc.starts_with(ANALYST_SERVICE) {
        return Err(Status::permission_denied(
            "the analyst role reads only through ReplayService (pseudonymised); this call is not open to analysts",
        ));
    }
    Ok(())
}

/// Who a call is recorded as.
enum Caller {
    /// An authenticated caller, or one the platform acts as.
    Principal(Principal),
    /// The platform itself, under this name (a scheduled job).
    System(&'static str),
}

/// Whether a call's record has been made.
#[derive(Default)]
enum State {
    /// Not yet: it is made when the call ends.
    #[default]
    Open,
    /// Made (or handed to the call's stream): a success adds nothing more.
    Recorded,
    /// Making it failed, with this status: nothing may be released.
    Failed(Status),
}

/// What a handler reports for its call's record.
#[derive(Default)]
struct Report {
    parameters: Option<String>,
    shown: Vec<pb::ShownEvent>,
    tally: Tally,
    added: Vec<pb::ShownEvent>,
    erased: Vec<pb::SubjectRef>,
    request_id: String,
    state: State,
}

/// One call inside the door: who made it, and what its record will say.
pub struct Call {
    access: Access,
    caller: Caller,
    recorder: Arc<Recorder>,
    report: Mutex<Report>,
}

impl Call {
    fn new(access: Access, caller: Caller, recorder: Arc<Recorder>) -> Self {
        Call { access, caller, recorder, report: Mutex::default() }
    }

    /// A call the platform makes itself as `principal` (e.g. the scheduled
    /// briefing), recorded like a caller's; run it with [`Call::run`].
    pub fn on_behalf_of(access: Access, principal: Principal, recorder: Arc<Recorder>) -> Self {
        Call::new(access, Caller::Principal(principal), recorder)
    }

    /// A call the platform makes as no principal (e.g. the scheduled
    /// retention sweep), recorded under `name` with role `system`; run it
    /// with [`Call::run`].
    pub fn scheduled(access: Access, name: &'static str, recorder: Arc<Recorder>) -> Self {
        Call::new(access, Caller::System(name), recorder)
    }

    /// Runs `handler` as this call, records it, and only then returns its result.
    pub async fn run<T>(self, handler: impl AsyncFnOnce(&Call) -> Result<T, Status>) -> Result<T, Status> {
        let result = handler(&self).await;
        self.finish(result).await
    }

    /// What is known about the call from its request.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The principal the call is made by; `None` for a scheduled call.
    pub fn principal(&self) -> Option<&Principal> {
        match &self.caller {
            Caller::Principal(principal) => Some(principal),
            Caller::System(_) => None,
        }
    }

    /// The principal the call is made by; UNAUTHENTICATED for a scheduled
    /// call, which has none.
    pub fn caller(&self) -> Result<&Principal, Status> {
        self.principal().ok_or_else(|| Status::unauthenticated("this call is made by no principal"))
    }

    fn report(&self) -> MutexGuard<'_, Report> {
        // A report is only ever pushed to: one left by a panicking handler is still whole.
        self.report.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `parameters` (JSON) instead of those taken from the request.
    pub fn parameters(&self, parameters: String) {
        self.report().parameters = Some(parameters);
    }

    /// The answer shows these events.
    pub fn shows(&self, shown: impl IntoIterator<Item = pb::ShownEvent>) {
        self.report().shown.extend(shown);
    }

    /// The agreement decided the answer so (how many it withheld, by which
    /// agreement); recorded whether the call succeeds or not.
    pub fn decided(&self, tally: &Tally) {
        self.report().tally.add(tally.withheld, &tally.policy_hash);
    }

    /// The call added this event to the log (a publish).
    pub fn adds(&self, added: pb::ShownEvent) {
        self.report().added.push(added);
    }

    /// The call erases these subjects.
    pub fn erases(&self, subjects: impl IntoIterator<Item = pb::SubjectRef>) {
        self.report().erased.extend(subjects);
    }

    /// The call files, decides or relies on the data protection request
    /// `request_id`: every record of the call (a later failure's too) names
    /// it, so the request's history can be found by its id.
    pub fn concerns_request(&self, request_id: &str) {
        request_id.clone_into(&mut self.report().request_id);
    }

    /// Makes the call's record, as reported so far, durable now (before the
    /// call takes effect, or before a stream opens) and returns it, with its
    /// id and time. The call's success is then not recorded again; a later
    /// failure is. An error (UNAVAILABLE) means the call must fail.
    pub async fn record_now(&self) -> Result<pb::AccessRecord, Status> {
        let record = crate::complete(self.record(None));
        match self.recorder.record(record.clone()).await {
            Ok(_) => {
                self.report().state = State::Recorded;
                Ok(record)
            }
            Err(e) => {
                let status = audit_unavailable(e);
                self.report().state = State::Failed(status.clone());
                Err(status)
            }
        }
    }

    /// Hands the recording of this call to its stream: each delivery is
    /// recorded through the returned [`Deliveries`] before it is sent, and
    /// the call's success is not recorded again.
    pub fn deliveries(&self) -> Result<Deliveries, Status> {
        let principal = self.caller()?.clone();
        let mut report = self.report();
        if matches!(report.state, State::Open) {
            report.state = State::Recorded;
        }
        Ok(Deliveries { access: self.access.clone(), principal, recorder: self.recorder.clone() })
    }

    /// The record of this call, ended with `error` or not.
    fn record(&self, error: Option<&Status>) -> pb::AccessRecord {
        let report = self.report();
        let (principal, system) = match &self.caller {
            Caller::Principal(principal) => (Some(principal), None),
            Caller::System(name) => (None, Some(*name)),
        };
        let mut record = match error {
            None => {
                let mut record = self.access.record(principal, report.shown.clone(), &report.tally, None);
                record.added = report.added.clone();
                record.erased = report.erased.clone();
                record
            }
            // A failure after the call was recorded is a record of its own.
            Some(_) if matches!(report.state, State::Recorded) => {
                self.access.record(principal, Vec::new(), &Tally::default(), error)
            }
            Some(_) => self.access.record(principal, Vec::new(), &report.tally, error),
        };
        if let Some(parameters) = &report.parameters {
            parameters.clone_into(&mut record.parameters);
        }
        report.request_id.clone_into(&mut record.request_id);
        if let Some(name) = system {
            record.principal = name.to_string();
            record.role = "system".to_string();
        }
        record
    }

    /// Records how the call ended, unless already recorded, and only then
    /// releases `result`; nothing is released if a record failed.
    async fn finish<T>(&self, result: Result<T, Status>) -> Result<T, Status> {
        let (recorded, failed) = match &self.report().state {
            State::Open => (false, None),
            State::Recorded => (true, None),
            State::Failed(status) => (false, Some(status.clone())),
        };
        if let Some(status) = failed {
            // Nothing is released unrecorded; the handler's own error, if any, says why.
            return Err(result.err().unwrap_or(status));
        }
        if recorded && result.is_ok() {
            return result;
        }
        let record = self.record(result.as_ref().err());
        self.recorder.record(record).await.map_err(audit_unavailable)?;
        result
    }
}

/// Records a streaming call's deliveries, each before it is sent.
#[derive(Clone)]
pub struct Deliveries {
    access: Access,
    principal: Principal,
    recorder: Arc<Recorder>,
}

impl Deliveries {
    /// Who the stream is for.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The streaming call's full method path.
    pub fn rpc(&self) -> &'static str {
        self.access.rpc()
    }

    /// Records one delivery, showing `shown`, after `tally` was withheld;
    /// an error (UNAVAILABLE) means it must not be sent.
    pub async fn record(&self, shown: Vec<pb::ShownEvent>, tally: &Tally) -> Result<(), Status> {
        let record = self.access.record(Some(&self.principal), shown, tally, None);
        self.recorder.record(record).await.map(drop).map_err(audit_unavailable)
    }

    /// As [`Deliveries::record`], for a delivery naming what it shows by
    /// position in the event log (a replay batch; see [`crate::positions`]).
    pub async fn record_positions(&self, shown: pb::ShownPositions, tally: &Tally) -> Result<(), Status> {
        let mut record = self.access.record(Some(&self.principal), Vec::new(), tally, None);
        record.shown_positions = Some(shown);
        self.recorder.record(record).await.map(drop).map_err(audit_unavailable)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use concord_core::AgencyId;
    use concord_identity::{Issuer, Purpose, Role};
    use concord_log::kv::{Engine, open};
    use concord_log::log::Log;

    use super::*;
    use crate::{AUDIT_LOG_ORIGIN, AuditLog};

    const RPC: &str = "/concord.v1.QueryService/GetEvent";

    struct Setup {
        _dir: tempfile::TempDir,
        audit: AuditLog,
        door: Door,
        token: String,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let audit =
            AuditLog::new(Arc::new(Log::open(open(Engine::Redb, dir.path()).unwrap(), AUDIT_LOG_ORIGIN, key).unwrap()));
        let issuer = Issuer::generate("k1", "test-issuer", "test-audience");
        let verifier = Verifier::from_jwks(&issuer.jwks().to_string(), "test-issuer", "test-audience").unwrap();
        let agency = AgencyId::parse("yot.harrow").unwrap();
        let token = issuer
            .mint("reader", &agency, Role::Practitioner, Purpose::CaseManagement, Duration::from_secs(60))
            .unwrap();
        let door = Door::new(Arc::new(verifier), Arc::new(Recorder::local(&audit)));
        Setup { _dir: dir, audit, door, token }
    }

    fn get_event(token: Option<&str>) -> Request<pb::GetEventRequest> {
        let mut request = Request::new(pb::GetEventRequest { event_id: "e-1".into() });
        if let Some(token) = token {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        request
    }

    fn records(audit: &AuditLog) -> Vec<pb::AccessRecord> {
        (1..=audit.log().size()).map(|p| audit.get(p).unwrap().unwrap()).collect()
    }

    fn event(id: &str) -> pb::ShownEvent {
        pb::ShownEvent { event_id: id.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn a_call_without_a_valid_token_is_recorded_and_refused_before_its_handler_runs() {
        let s = setup();
        for token in [None, Some("forged")] {
            let request = get_event(token);
            let refused = s
                .door
                .call(Access::of(RPC, &request), request, async |_, _| -> Result<(), Status> {
                    panic!("the handler ran")
                })
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        }
        let records = records(&s.audit);
        assert_eq!(records.len(), 2);
        for record in records {
            assert_eq!((record.rpc.as_str(), record.principal.as_str()), (RPC, ""));
            assert!(record.outcome.starts_with("Unauthenticated"), "{record:?}");
            assert!(record.parameters.contains("e-1"), "{record:?}");
        }
    }

    #[tokio::test]
    async fn a_call_is_recorded_with_what_its_handler_showed_and_withheld() {
        let s = setup();
        let request = get_event(Some(&s.token));
        let answer = s
            .door
            .call(Access::of(RPC, &request), request, async |call, _| {
                assert_eq!(call.caller()?.sub, "reader");
                call.decided(&Tally { withheld: 2, policy_hash: "cedar:h".into() });
                call.shows([event("e-1")]);
                Ok(7)
            })
            .await
            .unwrap();
        assert_eq!(answer.into_inner(), 7);
        let [record] = records(&s.audit).try_into().unwrap();
        assert_eq!(
            (record.principal.as_str(), record.agency_id.as_str(), record.outcome.as_str()),
            ("reader", "yot.harrow", "ok")
        );
        assert_eq!((record.shown, record.withheld, record.policy_hash.as_str()), (vec![event("e-1")], 2, "cedar:h"));

        // A failure keeps the tally, but lists nothing as shown.
        let request = get_event(Some(&s.token));
        let failed = s
            .door
            .call(Access::of(RPC, &request), request, async |call, _| -> Result<(), Status> {
                call.decided(&Tally { withheld: 1, policy_hash: "cedar:h".into() });
                call.shows([event("e-2")]);
                Err(Status::not_found("no event e-2 that you may see"))
            })
            .await
            .unwrap_err();
        assert_eq!(failed.code(), tonic::Code::NotFound);
        let record = records(&s.audit).pop().unwrap();
        assert!(
            record.outcome.starts_with("NotFound") && record.shown.is_empty() && record.withheld == 1,
            "{record:?}"
        );
    }

    #[tokio::test]
    async fn a_call_recorded_before_it_takes_effect_is_recorded_once_and_a_later_failure_again() {
        let s = setup();
        let request = get_event(Some(&s.token));
        let record_id = s
            .door
            .call(Access::of(RPC, &request), request, async |call, _| {
                call.erases([pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-1".into() }]);
                Ok(call.record_now().await?.record_id)
            })
            .await
            .unwrap()
            .into_inner();
        let [record] = records(&s.audit).try_into().unwrap();
        assert_eq!((record.record_id, record.erased.len()), (record_id, 1));

        let request = get_event(Some(&s.token));
        s.door
            .call(Access::of(RPC, &request), request, async |call, _| -> Result<(), Status> {
                call.erases([pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-2".into() }]);
                call.record_now().await?;
                Err(Status::unavailable("the subject key store is unavailable"))
            })
            .await
            .unwrap_err();
        let records = records(&s.audit);
        assert_eq!(records.len(), 3);
        assert_eq!((records[1].outcome.as_str(), records[1].erased.len()), ("ok", 1));
        assert!(records[2].outcome.starts_with("Unavailable") && records[2].erased.is_empty(), "{:?}", records[2]);
    }

    #[tokio::test]
    async fn an_analyst_is_refused_everything_but_the_replay_and_the_refusal_is_recorded() {
        let s = setup();
        let issuer = Issuer::generate("k1", "test-issuer", "test-audience");
        let verifier = Verifier::from_jwks(&issuer.jwks().to_string(), "test-issuer", "test-audience").unwrap();
        let door = Door::new(Arc::new(verifier), s.door.recorder().clone());
        let agency = AgencyId::parse("childrens_services.harrow").unwrap();
        let analyst =
            issuer.mint("analyst-1", &agency, Role::Analyst, Purpose::Analysis, Duration::from_secs(60)).unwrap();
        let refused = door
            .call(
                Access::of(RPC, &get_event(Some(&analyst))),
                get_event(Some(&analyst)),
                async |_, _| -> Result<(), Status> { panic!("the handler ran") },
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        const REPLAY: &str = "/concord.v1.ReplayService/Replay";
        let replayed = door
            .call(Access::of(REPLAY, &get_event(Some(&analyst))), get_event(Some(&analyst)), async |_, _| Ok(1))
            .await;
        assert_eq!(replayed.unwrap().into_inner(), 1);
        let records = records(&s.audit);
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].principal.as_str(), records[0].role.as_str()), ("analyst-1", "analyst"));
        assert!(records[0].outcome.starts_with("PermissionDenied"), "{:?}", records[0]);
        assert_eq!((records[1].rpc.as_str(), records[1].outcome.as_str()), (REPLAY, "ok"));
    }

    #[tokio::test]
    async fn a_scheduled_call_is_recorded_as_the_system() {
        let s = setup();
        let call = Call::scheduled(Access::of(RPC, &get_event(None)), "concord/sweep", s.door.recorder().clone());
        let refused = call.run(async |call| call.caller().map(drop)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        let [record] = records(&s.audit).try_into().unwrap();
        assert_eq!((record.principal.as_str(), record.role.as_str()), ("concord/sweep", "system"));
    }
}
