//! `ReplayService`: an analyst replays a window of the log, pseudonymised.
//!
//! The log is read in position order; each batch is decided by the sharing
//! agreement (withheld events are left out, nothing is ever unsealed), then
//! pseudonymised for the analyst and the analysis named in the request
//! ([`Pseudonyms`]), recorded in the audit log (the positions it read and a
//! bit for each it showed: [`concord_audit::positions`]), and only then sent. What an
//! analyst gets is no finer than an analysis needs ([`Analysis::pseudonymise`]):
//! keys and links are pseudonyms, every time is the start of its day in the
//! partnership's time zone (so it stays on its local day), every free
//! string of a body is a code of its field's vocabulary
//! ([`concord_core::codes`]). Resume tokens are sealed with a key kept with
//! the partnership's keys, so a replay can be resumed after a restart, and
//! only by the same analyst and analysis with the same filters.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;

use concord_audit::access::{Access, Tally};
use concord_audit::positions::shown_positions;
use concord_audit::{Call, Deliveries, Door};
use concord_core::pb::replay_service_server::ReplayService;
use concord_core::pb::{self, TimeAxis};
use concord_core::status::invalid_argument;
use concord_core::{EventType, millis};
use concord_identity::{Principal, Role};
use concord_read::Decoded;
use hkdf::Hkdf;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use sha2::Sha256;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::page::PageKey;
use concord_read::{Views, storage_unavailable};

const REPLAY: &str = "/concord.v1.ReplayService/Replay";
/// Default events per batch.
pub const DEFAULT_BATCH: u32 = 500;
/// Largest batch.
pub const MAX_BATCH: u32 = 5000;

/// Keyed hashes for one partnership: a secret kept with its keys, from which
/// each analyst's analysis gets its own key. The key is bound to the analyst
/// (the token's agency and subject) as well as the analysis id, which is only
/// a name the analyst chose: another analyst reusing the name gets other
/// pseudonyms, so their outputs cannot be linked.
#[derive(Clone)]
pub struct Pseudonyms {
    secret: [u8; 32],
    zone: TimeZone,
}

/// One analysis's pseudonyms and resume tokens.
pub struct Analysis {
    key: [u8; 32],
    tokens: PageKey,
    zone: TimeZone,
}

/// HMAC-SHA256 of `message` under `key` (HKDF's extract step is exactly that).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    Hkdf::<Sha256>::extract(Some(key), message).0.into()
}

impl Pseudonyms {
    /// Pseudonyms derived from `secret` (see `Layout::replay_key`), times
    /// coarsened to days of `zone` (the partnership's time zone).
    pub fn new(secret: [u8; 32], zone: TimeZone) -> Self {
        Pseudonyms { secret, zone }
    }

    /// The key of `analyst`'s analysis named `analysis_id`.
    pub fn analysis(&self, analyst: &Principal, analysis_id: &str) -> Analysis {
        // Length-prefixed, so no two (agency, subject, analysis) read the same.
        let (agency, sub) = (analyst.agency.as_str(), analyst.sub.as_str());
        let name = format!(
            "concord/replay/analysis/{}:{agency}/{}:{sub}/{}:{analysis_id}",
            agency.len(),
            sub.len(),
            analysis_id.len()
        );
        let key = hmac(&self.secret, name.as_bytes());
        let tokens = PageKey::from_secret(hmac(&key, b"concord/replay/tokens"));
        Analysis { key, tokens, zone: self.zone.clone() }
    }
}

impl Analysis {
    /// The pseudonym of `what` (e.g. `person/P-7f3a9c`) in this analysis.
    pub fn pseudonym(&self, what: &str) -> String {
        hex::encode(&hmac(&self.key, what.as_bytes())[..10])
    }

    fn event(&self, id: &str) -> String {
        if id.is_empty() { String::new() } else { self.pseudonym(&format!("event/{id}")) }
    }

    fn id(&self, kind: &str, id: &str) -> String {
        if id.is_empty() { String::new() } else { self.pseudonym(&format!("{kind}/{id}")) }
    }

    /// Coarsens a time to the first instant of its day in the partnership's
    /// time zone (a time outside jiff's range, or a day that cannot start
    /// there, to the start of its UTC day).
    fn day(&self, time: &mut Option<pbjson_types::Timestamp>) {
        if let Some(t) = time {
            let local = Timestamp::from_second(t.seconds)
                .and_then(|at| at.to_zoned_datetime(self.zone.clone()).start_of_day())
                .map(|start| start.timestamp().as_second());
            t.seconds = local.unwrap_or(t.seconds.div_euclid(86_400) * 86_400);
            t.nanos = 0;
        }
    }

    /// `event` (already redacted) as an analyst gets it: every subject key and
    /// every id that links events replaced by its pseudonym; no consent
    /// reference, no expected versions, no `share_with` list; every time
    /// coarsened to the start of its day in the partnership's time zone;
    /// every free string of the body mapped to
    /// its field's coded vocabulary (unknown values become `other`).
    pub fn pseudonymise(&self, mut event: pb::Event) -> pb::Event {
        use concord_core::codes::{self, OFFENCES, PROGRAMMES};
        use pb::event::Body;
        event.personal = None;
        event.sealed.clear();
        event.event_id = self.event(&event.event_id);
        event.corrects = self.event(&event.corrects);
        event.consent_ref = self.id("consent", &event.consent_ref);
        event.expected_versions.clear();
        event.share_with.clear();
        self.day(&mut event.occurred_at);
        self.day(&mut event.recorded_at);
        for subject in &mut event.subjects {
            subject.key = self.pseudonym(&format!("{}/{}", subject.kind, subject.key));
        }
        let ward = event.ward.clone();
        // Every body is listed, so a new one cannot pass through unexamined.
        match &mut event.body {
            Some(Body::Arrest(a)) => a.offence_category = codes::code(OFFENCES, &a.offence_category),
            Some(Body::StopAndSearch(_))
            | Some(Body::ExploitationConcern(_))
            | Some(Body::NrmReferral(_))
            | Some(Body::AssetPlusRating(_))
            | Some(Body::CamhsContact(_))
            | Some(Body::SubjectIdentified(_))
            | Some(Body::SubjectsMerged(_))
            | Some(Body::SubjectsUnmerged(_))
            | None => {}
            Some(Body::MissingEpisode(m)) => {
                m.episode_id = self.id("episode", &m.episode_id);
                m.found_ward = codes::place(&m.found_ward, &ward);
                self.day(&mut m.reported_missing_at);
                self.day(&mut m.returned_at);
            }
            Some(Body::MashReferral(m)) => {
                m.referrer_agency_id = codes::agency(&m.referrer_agency_id);
                self.day(&mut m.decided_at);
            }
            Some(Body::VveBriefingItem(item)) => {
                item.item_id = self.id("item", &item.item_id);
                item.area = codes::place(&item.area, &ward);
                for action in &mut item.actions {
                    action.action_id = self.id("action", &action.action_id);
                    action.owner_agency_id = codes::agency(&action.owner_agency_id);
                    self.day(&mut action.due);
                }
            }
            Some(Body::YouthJusticeOutcome(o)) => {
                o.main_offence = codes::code(OFFENCES, &o.main_offence);
                self.day(&mut o.offence_date);
            }
            Some(Body::Reoffence(r)) => {
                r.original_event_id = self.event(&r.original_event_id);
                r.offence_category = codes::code(OFFENCES, &r.offence_category);
                r.proven_by_event_id = self.event(&r.proven_by_event_id);
                self.day(&mut r.original_offence_date);
                self.day(&mut r.reoffence_date);
                self.day(&mut r.proven_date);
            }
            Some(Body::ReleaseFromCustody(r)) => r.sentence_event_id = self.event(&r.sentence_event_id),
            Some(Body::VcsEngagement(v)) => v.programme = codes::code(PROGRAMMES, &v.programme),
            Some(Body::ConsentRecorded(c)) => {
                c.consent_id = self.id("consent", &c.consent_id);
                c.agency_ids = c.agency_ids.iter().map(|a| codes::agency(a)).collect();
                self.day(&mut c.expires_at);
            }
            Some(Body::ConsentWithdrawn(c)) => c.consent_id = self.id("consent", &c.consent_id),
            // A cohort's name says what it is for ("exploitation"): coded.
            Some(Body::CohortChanged(c)) => c.cohort = self.id("cohort", &c.cohort),
        }
        event
    }
}

/// A replay's checked filters.
#[derive(Debug, Clone)]
struct Window {
    from: Option<i64>,
    to: Option<i64>,
    report_time: bool,
    types: Vec<EventType>,
    agencies: Vec<String>,
    wards: Vec<String>,
}

impl Window {
    fn of(request: &pb::ReplayRequest) -> Result<Window, Status> {
        let (from, to) = (request.from.as_ref().map(millis), request.to.as_ref().map(millis));
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(invalid_argument("to", "must be after `from`"));
        }
        let mut types = Vec::new();
        for t in &request.event_types {
            types.push(t.parse().map_err(|_| invalid_argument("event_types", &format!("`{t}` is not an event type")))?);
        }
        let report_time = match TimeAxis::try_from(request.axis) {
            Ok(TimeAxis::Unspecified | TimeAxis::Event) => false,
            Ok(TimeAxis::Report) => true,
            Err(_) => return Err(invalid_argument("axis", "not a time axis")),
        };
        Ok(Window { from, to, report_time, types, agencies: request.agency_ids.clone(), wards: request.wards.clone() })
    }

    fn matches(&self, event: &pb::Event) -> bool {
        let time = if self.report_time { event.recorded_at.as_ref() } else { event.occurred_at.as_ref() };
        let at = time.map(millis);
        let in_window =
            self.from.is_none_or(|f| at.is_some_and(|a| a >= f)) && self.to.is_none_or(|t| at.is_some_and(|a| a < t));
        let of_type =
            self.types.is_empty() || event.body.as_ref().is_some_and(|b| self.types.contains(&EventType::of(b)));
        in_window
            && of_type
            && (self.agencies.is_empty() || self.agencies.contains(&event.agency_id))
            && (self.wards.is_empty() || self.wards.contains(&event.ward))
    }
}

fn valid_analysis_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The gRPC replay API.
pub struct ReplayApi {
    views: Arc<Views>,
    door: Door,
    pseudonyms: Arc<Pseudonyms>,
}

impl ReplayApi {
    /// Replays `views`' log to analysts, pseudonymised with `pseudonyms`,
    /// every call through `door`.
    pub fn new(views: Arc<Views>, door: Door, pseudonyms: Pseudonyms) -> Self {
        ReplayApi { views, door, pseudonyms: Arc::new(pseudonyms) }
    }

    /// Checks a replay and starts it; its batches are recorded as they are sent.
    fn start(&self, call: &Call, request: pb::ReplayRequest) -> Result<BatchStream, Status> {
        if call.caller()?.role != Role::Analyst {
            return Err(Status::permission_denied("replay is for analysts (role analyst)"));
        }
        if !valid_analysis_id(&request.analysis_id) {
            return Err(invalid_argument("analysis_id", "required: letters, digits, '-', '_' and '.', at most 128"));
        }
        let window = Window::of(&request)?;
        let batch = match request.batch_size {
            0 => DEFAULT_BATCH as usize,
            n if n <= MAX_BATCH => n as usize,
            _ => return Err(invalid_argument("batch_size", &format!("at most {MAX_BATCH}"))),
        };
        let analysis = self.pseudonyms.analysis(call.caller()?, &request.analysis_id);
        let scope = format!("replay {window:?}");
        let Some(after) = analysis.tokens.decode(&scope, &request.resume_token) else {
            return Err(invalid_argument("resume_token", "not a token from this analysis and these filters"));
        };
        let (tx, rx) = mpsc::channel(2);
        let deliveries = call.deliveries()?;
        let job = Job { views: self.views.clone(), deliveries, analysis, window, scope, batch };
        // Its batches are recorded in the call's trace.
        tokio::spawn(job.run(after, tx).instrument(tracing::Span::current()));
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

type BatchStream = Pin<Box<dyn Stream<Item = Result<pb::ReplayBatch, Status>> + Send>>;

#[tonic::async_trait]
impl ReplayService for ReplayApi {
    type ReplayStream = BatchStream;

    async fn replay(&self, request: Request<pb::ReplayRequest>) -> Result<Response<Self::ReplayStream>, Status> {
        self.door.call(Access::of(REPLAY, &request), request, async |call, r| self.start(call, r.into_inner())).await
    }
}

/// One running replay.
struct Job {
    views: Arc<Views>,
    deliveries: Deliveries,
    analysis: Analysis,
    window: Window,
    scope: String,
    batch: usize,
}

impl Job {
    /// Sends batches until the end of the log (as it was when the replay
    /// started), the reader hangs up, or a batch cannot be recorded. The last
    /// batch is sent even when empty, so every replay is recorded and ends
    /// with a token and complete progress.
    async fn run(self, mut after: u64, tx: mpsc::Sender<Result<pb::ReplayBatch, Status>>) {
        let job = Arc::new(self);
        let total = job.views.log().size();
        loop {
            let reading = job.clone();
            let read = tokio::task::spawn_blocking(move || reading.read(after, total)).await;
            let (events, shown, tally, reached) = match read {
                Ok(Ok(batch)) => batch,
                Ok(Err(status)) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(Status::internal(format!("replay task failed: {e}")))).await;
                    return;
                }
            };
            if reached <= after && reached < total {
                let _ = tx.send(Err(storage_unavailable(format!("the log ends early, at position {reached}")))).await;
                return;
            }
            after = reached;
            let last = after >= total;
            if events.is_empty() && !last {
                continue;
            }
            if let Err(status) = job.deliveries.record_positions(shown, &tally).await {
                let _ = tx.send(Err(status)).await;
                return;
            }
            let batch = pb::ReplayBatch {
                events,
                resume_token: job.analysis.tokens.encode(&job.scope, after),
                scanned: after.min(total),
                total,
            };
            if tx.send(Ok(batch)).await.is_err() || last {
                return;
            }
        }
    }

    /// Reads entries after `after` until a batch of matching events is
    /// decided or `total` is reached; returns the pseudonymised events, what
    /// the access record names (the positions read and those shown), the
    /// tally, and the position reached.
    #[allow(clippy::type_complexity)]
    fn read(&self, mut after: u64, total: u64) -> Result<(Vec<pb::Event>, pb::ShownPositions, Tally, u64), Status> {
        let log = self.views.log();
        let start = after;
        let mut matched = Vec::with_capacity(self.batch);
        while matched.len() < self.batch && after < total {
            let want = (self.batch - matched.len()).min((total - after) as usize);
            let entries = log.read_from(after, want).map_err(storage_unavailable)?;
            let Some(last) = entries.last().map(|e| e.position) else { break };
            for entry in entries {
                let decoded = Decoded::of(entry.position, &entry.bytes)?;
                if self.window.matches(&decoded.event) {
                    matched.push(decoded);
                }
            }
            after = last;
        }
        let visible = self.views.decide_for_replay(self.deliveries.principal(), matched)?;
        let mut tally = Tally::default();
        tally.add(visible.withheld, &visible.policy_hash);
        let mut events = Vec::with_capacity(visible.events.len());
        let mut positions = Vec::with_capacity(visible.events.len());
        let mut types = BTreeSet::new();
        for view in visible.events {
            let Some(event) = view.event else { continue };
            positions.push(view.position);
            if let Some(body) = &event.body {
                types.insert(EventType::of(body));
            }
            events.push(self.analysis.pseudonymise(event));
        }
        let types = types.into_iter().map(|t| t.to_string());
        let shown = shown_positions(start, after, &positions, pb::Visibility::Pseudonymised, types);
        Ok((events, shown, tally, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyst(agency: &str, sub: &str) -> Principal {
        Principal {
            sub: sub.into(),
            agency: concord_core::AgencyId::parse(agency).unwrap(),
            role: Role::Analyst,
            purpose: concord_identity::Purpose::Analysis,
            token_id: None,
            expires_at: 0,
        }
    }

    #[test]
    fn pseudonyms_are_stable_within_an_analysis_and_differ_across_analyses_analysts_and_partnerships() {
        let ours = Pseudonyms::new([1; 32], london());
        let me = analyst("childrens_services.harrow", "ana");
        let (a, b) = (ours.analysis(&me, "profile-2026"), ours.analysis(&me, "indicators-2026"));
        assert_eq!(a.pseudonym("person/P-1"), ours.analysis(&me, "profile-2026").pseudonym("person/P-1"));
        assert_ne!(a.pseudonym("person/P-1"), a.pseudonym("person/P-2"));
        assert_ne!(a.pseudonym("person/P-1"), b.pseudonym("person/P-1"));
        assert_ne!(
            a.pseudonym("person/P-1"),
            Pseudonyms::new([2; 32], london()).analysis(&me, "profile-2026").pseudonym("person/P-1")
        );
        // The same analysis id, reused by another analyst, links nothing.
        for other in [analyst("childrens_services.harrow", "bob"), analyst("police.met.nw", "ana")] {
            assert_ne!(a.pseudonym("person/P-1"), ours.analysis(&other, "profile-2026").pseudonym("person/P-1"));
        }
        assert_eq!(a.pseudonym("person/P-1").len(), 20);
    }

    #[test]
    fn a_pseudonymised_event_keeps_no_key_or_link_of_the_original() {
        let analysis = Pseudonyms::new([1; 32], london()).analysis(&analyst("childrens_services.harrow", "ana"), "a");
        let event = pb::Event {
            event_id: "0190f0c0-0000-7000-8000-000000000001".into(),
            corrects: "0190f0c0-0000-7000-8000-000000000000".into(),
            consent_ref: "C-1".into(),
            subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-7f3a9c".into() }],
            body: Some(pb::event::Body::Reoffence(pb::Reoffence {
                original_event_id: "0190f0c0-0000-7000-8000-00000000000a".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let out = analysis.pseudonymise(event.clone());
        let text = format!("{out:?}");
        for original in ["P-7f3a9c", "0190f0c0", "C-1"] {
            assert!(!text.contains(original), "{original} survived: {text}");
        }
        assert_eq!(
            out.corrects,
            analysis.pseudonymise(pb::Event { event_id: event.corrects.clone(), ..Default::default() }).event_id
        );
    }

    #[test]
    fn a_pseudonymised_event_has_day_times_and_coded_strings_only() {
        let analysis = Pseudonyms::new([1; 32], london()).analysis(&analyst("childrens_services.harrow", "ana"), "a");
        // 2026-03-14 15:09:26.5 UTC (GMT: London's clocks say the same)
        let at = || Some(pbjson_types::Timestamp { seconds: 1_773_500_966, nanos: 500_000_000 });
        let midnight = Some(pbjson_types::Timestamp { seconds: 1_773_446_400, nanos: 0 });
        let event = pb::Event {
            occurred_at: at(),
            recorded_at: at(),
            ward: "Wealdstone".into(),
            share_with: vec!["vcs.st-giles".into()],
            body: Some(pb::event::Body::VveBriefingItem(pb::VveBriefingItem {
                item_id: "VVE-1".into(),
                area: "outside Jo's flat, 12 Acacia Road".into(),
                actions: vec![pb::BriefingAction {
                    owner_agency_id: "police.met.nw".into(),
                    due: at(),
                    ..Default::default()
                }],
                ..Default::default()
            })),
            ..Default::default()
        };
        let out = analysis.pseudonymise(event);
        assert_eq!((&out.occurred_at, &out.recorded_at), (&midnight, &midnight));
        assert!(out.share_with.is_empty());
        let Some(pb::event::Body::VveBriefingItem(item)) = out.body else { panic!() };
        assert_eq!((item.area.as_str(), item.actions[0].owner_agency_id.as_str()), ("other", "police"));
        assert_eq!(item.actions[0].due, midnight);

        let outcome = pb::Event {
            body: Some(pb::event::Body::YouthJusticeOutcome(pb::YouthJusticeOutcome {
                main_offence: "Robbery".into(),
                offence_date: at(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let Some(pb::event::Body::YouthJusticeOutcome(o)) = analysis.pseudonymise(outcome).body else { panic!() };
        assert_eq!((o.main_offence.as_str(), o.offence_date), ("robbery", midnight));
    }

    fn london() -> TimeZone {
        TimeZone::get("Europe/London").unwrap()
    }

    #[test]
    fn a_time_stays_on_its_day_on_the_partnerships_clocks() {
        let time = |seconds| pb::Event {
            occurred_at: Some(pbjson_types::Timestamp { seconds, nanos: 0 }),
            ..Default::default()
        };
        let ana = analyst("childrens_services.harrow", "ana");
        let (london, utc) = (Pseudonyms::new([1; 32], london()), Pseudonyms::new([1; 32], TimeZone::UTC));
        // 2026-07-01 00:30 BST is 2026-06-30 23:30 UTC (1_782_862_200): in
        // London it is a 1 July event, whose day starts at 2026-06-30 23:00
        // UTC (1_782_860_400); in UTC a 30 June one, from 00:00 UTC
        // (1_782_777_600).
        let day = |p: &Pseudonyms| p.analysis(&ana, "a").pseudonymise(time(1_782_862_200)).occurred_at.unwrap().seconds;
        assert_eq!(day(&london), 1_782_860_400);
        assert_eq!(day(&utc), 1_782_777_600);
        // 2026-10-25, when the clocks go back at 02:00 BST, starts at
        // 2026-10-24 23:00 UTC (1_792_882_800); 20:00 GMT that day is
        // 1_792_958_400.
        assert_eq!(
            london.analysis(&ana, "a").pseudonymise(time(1_792_958_400)).occurred_at.unwrap().seconds,
            1_792_882_800
        );
    }
}
