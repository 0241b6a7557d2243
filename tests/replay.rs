//! Analysts' replay over the real gRPC API: only analysts may replay; they
//! get what the agreement lets analysts see (never health data), with every
//! subject key, event id and link between events replaced by a pseudonym
//! that is stable within one analysis and different in another, and no
//! personal data or free text; windows by event or report time; a replay
//! resumes from its token; and every batch is in the audit log.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{TestPlatform, arrest, authorized};
use concord_core::pb;
use concord_core::pb::replay_service_client::ReplayServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use futures::StreamExt;

const DAY: i64 = 86_400;
const START: i64 = 1_790_000_000;

fn at(seconds: i64) -> Option<pbjson_types::Timestamp> {
    Some(pbjson_types::Timestamp { seconds, nanos: 0 })
}

/// Replays to the end; returns the events and the last resume token.
async fn replay(
    client: &mut ReplayServiceClient<tonic::transport::Channel>,
    token: &str,
    request: pb::ReplayRequest,
) -> Result<(Vec<pb::Event>, Vec<String>), tonic::Status> {
    let mut stream = client.replay(authorized(request, token)).await?.into_inner();
    let (mut events, mut tokens) = (Vec::new(), Vec::new());
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        assert!(batch.scanned <= batch.total);
        events.extend(batch.events);
        tokens.push(batch.resume_token);
    }
    Ok((events, tokens))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analysts_replay_pseudonymised_windows_that_resume_and_are_audited() {
    let t = TestPlatform::start(Engine::Redb).await;
    let wait = Some(Duration::from_secs(10));
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    let camhs = t.platform.node(&common::agency("camhs.nwl")).unwrap().clone();
    let yot = t.platform.node(&common::agency("yot.harrow")).unwrap().clone();
    // Ten arrests, one a day, recorded a week after each; four CAMHS contacts
    // (health data, never for analysts); a youth justice outcome and a
    // re-offence linked to it.
    let mut originals = Vec::new();
    let mut withheld = Vec::new();
    let mut subjects = BTreeSet::new();
    for day in 0..10 {
        let key = format!("P-rep{:04}", day % 4);
        let mut event = arrest(&key, "seen with Kyle Brennan at the station");
        event.occurred_at = at(START + day * DAY);
        event.recorded_at = at(START + (day + 7) * DAY);
        originals.push(police.publish(event, wait).await.unwrap().event_id.to_string());
        subjects.insert(key);
    }
    for day in 0..4 {
        let mut contact = arrest("P-rep0000", "");
        contact.agency_id = "camhs.nwl".into();
        contact.agency_kind = pb::AgencyKind::Camhs as i32;
        contact.classification = pb::Classification::SpecialCategory as i32;
        contact.occurred_at = at(START + day * DAY);
        contact.body = Some(pb::event::Body::CamhsContact(pb::CamhsContact {
            stage: pb::CamhsStage::Assessment as i32,
            ..Default::default()
        }));
        withheld.push(camhs.publish(contact, wait).await.unwrap().event_id.to_string());
    }
    let mut outcome = arrest("P-rep0001", "");
    outcome.agency_id = "yot.harrow".into();
    outcome.agency_kind = pb::AgencyKind::Yot as i32;
    outcome.occurred_at = at(START + 2 * DAY);
    outcome.body = Some(pb::event::Body::YouthJusticeOutcome(pb::YouthJusticeOutcome {
        disposal: pb::Disposal::YouthCaution as i32,
        first_time_entrant: true,
        main_offence: "robbery".into(),
        age: 15,
        gender: pb::Gender::Male as i32,
        ethnicity: pb::Ethnicity::Black as i32,
        offence_date: at(START + DAY),
    }));
    let outcome_id = yot.publish(outcome, wait).await.unwrap().event_id.to_string();
    originals.push(outcome_id.clone());
    let mut reoffence = arrest("P-rep0001", "");
    reoffence.agency_id = "yot.harrow".into();
    reoffence.agency_kind = pb::AgencyKind::Yot as i32;
    reoffence.occurred_at = at(START + 5 * DAY);
    reoffence.body = Some(pb::event::Body::Reoffence(pb::Reoffence {
        original_event_id: outcome_id.clone(),
        original_offence_date: at(START + DAY),
        reoffence_date: at(START + 4 * DAY),
        offence_category: "theft".into(),
        ..Default::default()
    }));
    originals.push(yot.publish(reoffence, wait).await.unwrap().event_id.to_string());

    let analyst = t.token("police.met.nw", Role::Analyst, Purpose::Analysis);
    let mut client = ReplayServiceClient::new(t.channel().await);
    let all = |analysis: &str| pb::ReplayRequest { analysis_id: analysis.into(), ..Default::default() };

    // Everything but the health data, pseudonymised.
    let (events, _) = replay(&mut client, &analyst, all("profile-1")).await.unwrap();
    assert_eq!(events.len(), 12, "10 arrests, the outcome and the re-offence; no CAMHS contact");
    assert!(events.iter().all(|e| !matches!(e.body, Some(pb::event::Body::CamhsContact(_)))));
    let text = format!("{events:?}") + &serde_json::to_string(&events).unwrap();
    for secret in ["Jordan Testcase", "Kyle Brennan", "2009-02-03", "P-rep"] {
        assert!(!text.contains(secret), "`{secret}` in a replay");
    }
    for id in &originals {
        assert!(!text.contains(id.as_str()), "original event id {id} in a replay");
    }
    assert!(events.iter().all(|e| e.personal.is_none() && e.sealed.is_empty()));
    let pseudonyms: BTreeSet<String> = events.iter().flat_map(|e| &e.subjects).map(|s| s.key.clone()).collect();
    assert_eq!(pseudonyms.len(), subjects.len(), "one pseudonym per person");
    // The re-offence still points at its outcome, by pseudonym.
    let outcome = events.iter().find(|e| matches!(e.body, Some(pb::event::Body::YouthJusticeOutcome(_)))).unwrap();
    let Some(pb::event::Body::Reoffence(r)) = &events.last().unwrap().body else { panic!("log order") };
    assert_eq!(r.original_event_id, outcome.event_id);

    // Stable within an analysis, unlinkable across analyses.
    let (again, _) = replay(&mut client, &analyst, all("profile-1")).await.unwrap();
    assert_eq!(again, events);
    let (other, _) = replay(&mut client, &analyst, all("indicators-1")).await.unwrap();
    let other_pseudonyms: BTreeSet<String> = other.iter().flat_map(|e| &e.subjects).map(|s| s.key.clone()).collect();
    assert!(pseudonyms.is_disjoint(&other_pseudonyms));
    let ids = |es: &[pb::Event]| es.iter().map(|e| e.event_id.clone()).collect::<BTreeSet<_>>();
    assert!(ids(&events).is_disjoint(&ids(&other)));

    // Windows: days 2..5 by event time are 3 arrests + the outcome; by
    // report time (a week later) days 9..12 are arrests of days 2..4 only.
    let arrests_and_outcomes = vec!["arrest".to_string(), "youth_justice_outcome".to_string()];
    let window = |axis: pb::TimeAxis, from: i64, to: i64| pb::ReplayRequest {
        analysis_id: "profile-1".into(),
        from: at(START + from * DAY),
        to: at(START + to * DAY),
        axis: axis as i32,
        event_types: arrests_and_outcomes.clone(),
        ..Default::default()
    };
    let (by_event, _) = replay(&mut client, &analyst, window(pb::TimeAxis::Event, 2, 5)).await.unwrap();
    assert_eq!(by_event.len(), 4);
    let (by_report, _) = replay(&mut client, &analyst, window(pb::TimeAxis::Report, 9, 12)).await.unwrap();
    assert_eq!(by_report.len(), 3);
    assert!(by_report.iter().all(|e| matches!(e.body, Some(pb::event::Body::Arrest(_)))));

    // Resumable: stop after the first batch of 5, carry on from its token.
    let mut first = all("profile-1");
    first.batch_size = 5;
    let mut stream = client.replay(authorized(first.clone(), &analyst)).await.unwrap().into_inner();
    let batch = stream.next().await.unwrap().unwrap();
    drop(stream);
    assert_eq!(batch.events.len(), 5);
    let resumed = pb::ReplayRequest { resume_token: batch.resume_token.clone(), ..first.clone() };
    let (rest, _) = replay(&mut client, &analyst, resumed).await.unwrap();
    assert_eq!([batch.events.clone(), rest].concat(), events);
    // A token is for its own analysis and filters only.
    let stolen = pb::ReplayRequest { resume_token: batch.resume_token.clone(), ..all("indicators-1") };
    let refused = replay(&mut client, &analyst, stolen).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("resume_token"), "{refused:?}");

    // A replay that matches nothing still ends with one (empty) batch, and
    // is recorded like any other.
    let nowhere = pb::ReplayRequest { wards: vec!["Nowhere".into()], ..all("profile-1") };
    let mut stream = client.replay(authorized(nowhere, &analyst)).await.unwrap().into_inner();
    let only = stream.next().await.unwrap().unwrap();
    assert!(only.events.is_empty() && only.scanned == only.total && !only.resume_token.is_empty());
    assert!(stream.next().await.is_none());

    // Only analysts replay, and a request must name its analysis.
    let practitioner = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let refused = replay(&mut client, &practitioner, all("profile-1")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let refused = replay(&mut client, &analyst, all("")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("analysis_id"), "{refused:?}");

    // Every batch is in the audit log, naming the real events (by their
    // positions in the event log: a bit each), pseudonymised.
    let audit = &t.platform.audit;
    let records: Vec<pb::AccessRecord> = (1..=audit.log().size())
        .map(|p| audit.get(p).unwrap().unwrap())
        .filter(|r| r.rpc == "/concord.v1.ReplayService/Replay")
        .collect();
    let log = t.platform.views.log();
    let position = |id: &str| log.position_of(concord_core::EventId::parse(id).unwrap().as_bytes()).unwrap().unwrap();
    let first = records[0].shown_positions.clone().expect("a replay batch names positions");
    let shown: BTreeSet<u64> = concord_audit::positions::shown(&first).collect();
    assert_eq!(shown, originals.iter().map(|id| position(id)).collect::<BTreeSet<_>>());
    assert_eq!((first.after, first.through), (0, log.size()), "the batch read the whole log");
    assert!(records[0].shown.is_empty(), "no event listed one by one");
    assert_eq!(records[0].withheld, 4, "the CAMHS contacts");
    assert_eq!(first.visibility, pb::Visibility::Pseudonymised as i32);
    assert!(first.event_types.contains(&"reoffence".to_string()), "{:?}", first.event_types);
    assert!(records.iter().any(|r| r.role == "practitioner" && r.outcome.starts_with("PermissionDenied")));
    assert!(records.iter().any(|r| {
        r.parameters.contains("Nowhere")
            && r.shown_positions.as_ref().is_some_and(|p| p.bits.is_empty())
            && r.outcome == "ok"
    }));

    // Auditors find the replays that showed an event or a subject, and not
    // those that withheld it.
    use concord_core::pb::audit_service_client::AuditServiceClient;
    let auditor = t.token("childrens_services.harrow", Role::Auditor, Purpose::Audit);
    let mut audit_client = AuditServiceClient::new(t.channel().await);
    let mut replays_about = async |request: pb::ListAccessRequest| {
        let page = audit_client.list_access(authorized(request, &auditor)).await.unwrap().into_inner();
        page.records.into_iter().filter(|e| e.record.as_ref().unwrap().rpc.ends_with("/Replay")).count()
    };
    let about_event = |id: &str| pb::ListAccessRequest { event_id: id.into(), ..Default::default() };
    // The batches that showed the re-offence: the three full replays and
    // the resumed one (and the second batch of the one dropped after its
    // first, if it was recorded before the drop was seen).
    let reoffence = position(originals.last().unwrap());
    let showed_it = records
        .iter()
        .filter(|r| r.shown_positions.as_ref().is_some_and(|p| concord_audit::positions::shows(p, reoffence)))
        .count();
    assert!(showed_it >= 4, "{showed_it}");
    assert_eq!(replays_about(about_event(originals.last().unwrap())).await, showed_it);
    assert_eq!(replays_about(about_event(&withheld[0])).await, 0, "CAMHS contacts are never replayed");
    let person = |key: &str| pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() };
    let about_person = pb::ListAccessRequest { subject: Some(person("P-rep0001")), ..Default::default() };
    assert!(replays_about(about_person).await >= showed_it);
    let of_type = pb::ListAccessRequest { event_type: "reoffence".into(), ..about_event(originals.last().unwrap()) };
    assert_eq!(replays_about(of_type).await, showed_it);
    let of_other_type =
        pb::ListAccessRequest { event_type: "camhs_contact".into(), ..about_event(originals.last().unwrap()) };
    assert_eq!(replays_about(of_other_type).await, 0);
}

/// An analyst's token opens the replay and nothing else: every other read
/// (and every other call) is refused with PERMISSION_DENIED before it runs,
/// and each refusal is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_analyst_reads_only_through_the_replay_and_every_refusal_is_recorded() {
    use concord_core::pb::admin_service_client::AdminServiceClient;
    use concord_core::pb::alert_service_client::AlertServiceClient;
    use concord_core::pb::audit_service_client::AuditServiceClient;
    use concord_core::pb::briefing_service_client::BriefingServiceClient;
    use concord_core::pb::log_service_client::LogServiceClient;
    use concord_core::pb::policy_service_client::PolicyServiceClient;
    use concord_core::pb::publish_service_client::PublishServiceClient;
    use concord_core::pb::query_service_client::QueryServiceClient;

    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    let published = police.publish(arrest("P-ana00001", "seen with Kyle Brennan"), Some(Duration::from_secs(10)));
    let event_id = published.await.unwrap().event_id.to_string();
    let analyst = t.token("police.met.nw", Role::Analyst, Purpose::Analysis);
    let channel = t.channel().await;
    let subject = Some(pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-ana00001".into() });
    macro_rules! a {
        ($m:expr) => {
            authorized($m, &analyst)
        };
    }

    let mut query = QueryServiceClient::new(channel.clone());
    let mut refusals = vec![
        query.get_event(a!(pb::GetEventRequest { event_id: event_id.clone() })).await.map(drop),
        query
            .subject_timeline(a!(pb::SubjectTimelineRequest { subject: subject.clone(), ..Default::default() }))
            .await
            .map(drop),
        query.search(a!(pb::SearchRequest { event_type: "arrest".into(), ..Default::default() })).await.map(drop),
        query.subscribe(a!(pb::SubscribeRequest::default())).await.map(drop),
        AlertServiceClient::new(channel.clone()).watch(a!(pb::WatchAlertsRequest::default())).await.map(drop),
    ];
    let mut briefing = BriefingServiceClient::new(channel.clone());
    refusals.push(briefing.generate(a!(pb::GenerateBriefingRequest::default())).await.map(drop));
    refusals.push(briefing.get_briefing(a!(pb::GetBriefingRequest::default())).await.map(drop));
    refusals.push(briefing.list_briefings(a!(pb::ListBriefingsRequest::default())).await.map(drop));
    let explain = pb::ExplainRequest { event_id: event_id.clone(), ..Default::default() };
    refusals.push(PolicyServiceClient::new(channel.clone()).explain(a!(explain)).await.map(drop));
    let mut admin = AdminServiceClient::new(channel.clone());
    let sar = pb::SubjectAccessRequest { subject: subject.clone(), ..Default::default() };
    refusals.push(admin.subject_access(a!(sar)).await.map(drop));
    let erase = pb::FileRequestRequest {
        kind: pb::RequestKind::Erasure as i32,
        subject: subject.clone(),
        reason: "an analyst tries".into(),
    };
    refusals.push(admin.file_request(a!(erase)).await.map(drop));
    refusals.push(admin.decide_request(a!(pb::DecideRequestRequest::default())).await.map(drop));
    refusals.push(admin.list_requests(a!(pb::ListRequestsRequest::default())).await.map(drop));
    refusals.push(admin.retention_sweep(a!(pb::RetentionSweepRequest::default())).await.map(drop));
    refusals.push(
        AuditServiceClient::new(channel.clone()).list_access(a!(pb::ListAccessRequest::default())).await.map(drop),
    );
    refusals.push(
        LogServiceClient::new(channel.clone()).get_checkpoint(a!(pb::GetCheckpointRequest::default())).await.map(drop),
    );
    let publish = pb::PublishRequest { event: Some(arrest("P-ana00001", "")), wait_for_ledger: false };
    refusals.push(PublishServiceClient::new(channel.clone()).publish(a!(publish)).await.map(drop));
    for (i, refusal) in refusals.iter().enumerate() {
        let status = refusal.as_ref().expect_err(&format!("call {i} was answered to an analyst"));
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "call {i}: {status:?}");
        assert!(status.message().contains("ReplayService"), "call {i}: {status:?}");
    }

    // The replay still answers, and every refusal is recorded as the analyst's.
    let mut client = ReplayServiceClient::new(channel);
    let (events, _) =
        replay(&mut client, &analyst, pb::ReplayRequest { analysis_id: "a-1".into(), ..Default::default() })
            .await
            .unwrap();
    assert_eq!(events.len(), 1);
    let audit = &t.platform.audit;
    let refused: Vec<String> = (1..=audit.log().size())
        .map(|p| audit.get(p).unwrap().unwrap())
        .filter(|r| r.role == "analyst" && r.outcome.starts_with("PermissionDenied"))
        .map(|r| r.rpc)
        .collect();
    assert_eq!(refused.len(), refusals.len(), "{refused:?}");
    assert!(refused.iter().all(|rpc| !rpc.starts_with("/concord.v1.ReplayService/")));
}

/// Two analysts who name their analyses alike get unlinkable pseudonyms; no
/// replayed event carries a time finer than the day (on the partnership's
/// clocks, Europe/London by default) or a free string outside its field's
/// vocabulary.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analysts_sharing_an_analysis_id_cannot_link_and_replays_are_day_coarse_and_coded() {
    use concord_core::codes::{OFFENCES, OTHER, PROGRAMMES};

    let t = TestPlatform::start(Engine::Redb).await;
    let wait = Some(Duration::from_secs(10));
    let node = |id: &str| t.platform.node(&common::agency(id)).unwrap().clone();
    // 15:09:26.5 on some day, an offence in free text and one coded.
    let afternoon = || Some(pbjson_types::Timestamp { seconds: START + 54_566, nanos: 500_000_000 });
    let mut free = arrest("P-code0001", "");
    free.occurred_at = afternoon();
    free.recorded_at = afternoon();
    free.body = Some(pb::event::Body::Arrest(pb::Arrest {
        offence_category: "robbery of Jo Bloggs' phone outside 12 Acacia Road".into(),
        gravity_score: 3,
        custody_outcome: pb::CustodyOutcome::Bailed as i32,
        ..Default::default()
    }));
    node("police.met.nw").publish(free, wait).await.unwrap();
    let mut coded = arrest("P-code0002", "");
    coded.occurred_at = afternoon();
    node("police.met.nw").publish(coded, wait).await.unwrap();
    let mut item = arrest("P-code0001", "");
    item.agency_id = "childrens_services.harrow".into();
    item.agency_kind = pb::AgencyKind::ChildrensServices as i32;
    item.occurred_at = afternoon();
    item.body = Some(pb::event::Body::VveBriefingItem(pb::VveBriefingItem {
        item_id: "VVE-code-1".into(),
        area: "the stairwell behind Jo's flat".into(),
        risk: pb::RiskLevel::High as i32,
        actions: vec![pb::BriefingAction {
            action_id: "A-1".into(),
            owner_agency_id: "police.met.nw".into(),
            due: afternoon(),
            status: pb::ActionStatus::Open as i32,
        }],
    }));
    node("childrens_services.harrow").publish(item, wait).await.unwrap();
    let mut engagement = arrest("P-code0001", "");
    engagement.agency_id = "vcs.st-giles".into();
    engagement.agency_kind = pb::AgencyKind::Vcs as i32;
    engagement.share_with = vec!["police.met.nw".into(), "childrens_services.harrow".into()];
    engagement.occurred_at = afternoon();
    engagement.body = Some(pb::event::Body::VcsEngagement(pb::VcsEngagement {
        programme: "Tuesdays with Jo Bloggs".into(),
        sessions: 3,
        outcome: pb::EngagementOutcome::Engaged as i32,
    }));
    node("vcs.st-giles").publish(engagement, wait).await.unwrap();

    let issuer = t.layout().issuer().unwrap();
    let mint = |sub: &str, agency: &str| {
        let agency = common::agency(agency);
        issuer.mint(sub, &agency, Role::Analyst, Purpose::Analysis, Duration::from_secs(600)).unwrap()
    };
    let mut client = ReplayServiceClient::new(t.channel().await);
    let same = || pb::ReplayRequest { analysis_id: "profile-2026".into(), ..Default::default() };
    let mut replays = Vec::new();
    for (sub, agency) in
        [("ana", "childrens_services.harrow"), ("bob", "childrens_services.harrow"), ("ana", "police.met.nw")]
    {
        replays.push(replay(&mut client, &mint(sub, agency), same()).await.unwrap().0);
    }
    let keys = |events: &[pb::Event]| -> BTreeSet<String> {
        events.iter().flat_map(|e| e.subjects.iter().map(|s| s.key.clone()).chain([e.event_id.clone()])).collect()
    };
    for (i, a) in replays.iter().enumerate() {
        assert!(!a.is_empty());
        for b in &replays[i + 1..] {
            assert!(keys(a).is_disjoint(&keys(b)), "two analysts' replays share a pseudonym");
        }
    }
    // The same analyst, the same analysis: the same pseudonyms.
    let again = replay(&mut client, &mint("ana", "childrens_services.harrow"), same()).await.unwrap().0;
    assert_eq!(again, replays[0]);

    for event in replays.concat() {
        let json = serde_json::to_value(&event).unwrap();
        let mut times = Vec::new();
        collect_times(&json, &mut times);
        assert!(times.len() >= 2, "{json}");
        let london = jiff::tz::TimeZone::get("Europe/London").unwrap();
        for time in times {
            let local = time.parse::<jiff::Timestamp>().unwrap().to_zoned_datetime(london.clone());
            assert_eq!(local.time(), jiff::civil::Time::midnight(), "a time finer than the day: {time} in {json}");
        }
        let codes: Vec<(&[&str], &str)> = match event.body.as_ref().unwrap() {
            pb::event::Body::Arrest(a) => vec![(OFFENCES, &a.offence_category)],
            pb::event::Body::VcsEngagement(v) => vec![(PROGRAMMES, &v.programme)],
            pb::event::Body::VveBriefingItem(i) => {
                assert_eq!(i.area, OTHER, "free text in `area`");
                assert_eq!(i.actions[0].owner_agency_id, "police");
                vec![]
            }
            other => panic!("unexpected {other:?}"),
        };
        for (vocabulary, value) in codes {
            assert!(vocabulary.contains(&value) || value == OTHER, "`{value}` is no code");
        }
        assert!(!json.to_string().contains("Jo"), "free text reached an analyst: {json}");
    }
    let offences: BTreeSet<String> = replays[0]
        .iter()
        .filter_map(|e| match &e.body {
            Some(pb::event::Body::Arrest(a)) => Some(a.offence_category.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(offences, BTreeSet::from([OTHER.to_string(), "possession_of_weapons".to_string()]));
}

/// Every RFC 3339 time in a proto3 JSON value.
fn collect_times(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.len() >= 19 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' => {
            out.push(s.clone())
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_times(v, out)),
        serde_json::Value::Object(m) => m.values().for_each(|v| collect_times(v, out)),
        _ => {}
    }
}
