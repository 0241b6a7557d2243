//! The daily VVE briefing over a real gRPC socket, on simulated days of a
//! borough published through the platform: each agency kind's briefing
//! holds exactly the events the sharing agreement lets it see in the window
//! (as the independent table in `common/sharing.rs` says, and each exactly
//! as the read side shapes it), and nothing else; two agencies' briefings
//! differ exactly as the agreement says; each briefing's access record lists
//! exactly the events in it; analysts and auditors are refused (and
//! recorded); a published briefing is retrievable by its agency only; the
//! schedule publishes each agency's briefing once.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::sharing::expected;
use common::{TestPlatform, authorized};
use concord_briefing::schedule::{publish_due, schedule_principal};
use concord_briefing::{BriefingApi, BriefingTime, SCHEDULE_PRINCIPAL};
use concord_core::pb::briefing_service_client::BriefingServiceClient;
use concord_core::{AgencyId, millis, pb};
use concord_eventlog::decode_entry;
use concord_identity::{Principal, Purpose, Role};
use concord_policy::Decision;
use concord_simulator::{BoroughConfig, Simulator};
use tonic::Code;
use tonic::transport::Channel;

/// The window briefed: 08:30 to 08:30 London (GMT in February).
const FROM: &str = "2026-02-24T08:30:00Z";
const TO: &str = "2026-02-25T08:30:00Z";

fn ms(rfc3339: &str) -> i64 {
    millis(&concord::client::parse_time(rfc3339).unwrap())
}

fn ts(ms: i64) -> Option<pbjson_types::Timestamp> {
    Some(concord_core::timestamp(ms))
}

fn principal(agency: &AgencyId, role: Role, purpose: Purpose) -> Principal {
    Principal { sub: "tester".into(), agency: agency.clone(), role, purpose, token_id: None, expires_at: 0 }
}

/// Publishes `days` simulated days from Monday 2 February 2026, and a
/// health contact in the window.
async fn simulate(t: &TestPlatform, config: &BoroughConfig, days: usize) -> Simulator {
    let mut simulator = Simulator::new(config.clone(), 7, jiff::civil::date(2026, 2, 2));
    let mut accepted = 0;
    for _ in 0..days {
        for event in simulator.next_day() {
            let agency = AgencyId::parse(&event.agency_id).unwrap();
            // An event relying on a consent not (yet) given is refused at the node.
            if t.platform.node(&agency).unwrap().publish(event, None).await.is_ok() {
                accepted += 1;
            }
        }
    }
    // And one health contact shared for safeguarding in the window, so the
    // agreement's health clauses are exercised whatever the simulation drew.
    let child = &simulator.cohort().children[0];
    let camhs = common::agency("camhs.nwl");
    let mut text = std::collections::HashMap::new();
    text.insert("notes".to_string(), "Disclosed fear of older boys; low mood.".to_string());
    let contact = pb::Event {
        agency_id: camhs.to_string(),
        agency_kind: pb::AgencyKind::Camhs as i32,
        subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: child.key.clone() }],
        occurred_at: ts(ms(FROM) + 3_600_000),
        borough: "Harrow".into(),
        ward: child.ward.clone(),
        classification: pb::Classification::SpecialCategory as i32,
        lawful_basis: vec![pb::LawfulBasis::Safeguarding as i32],
        schema_version: 1,
        personal: Some(pb::Personal {
            identities: vec![pb::Identity {
                subject_key: child.key.clone(),
                name: child.name.clone(),
                ..Default::default()
            }],
            text,
        }),
        body: Some(pb::event::Body::CamhsContact(pb::CamhsContact {
            stage: pb::CamhsStage::Assessment as i32,
            outcome: pb::EngagementOutcome::Engaged as i32,
        })),
        ..Default::default()
    };
    t.platform.node(&camhs).unwrap().publish(contact, None).await.unwrap();
    t.wait_for_size_within(accepted + 1, Duration::from_secs(60)).await;
    simulator
}

/// The platform's own briefing service, over its gRPC server.
async fn serve(t: &TestPlatform) -> (Channel, Arc<BriefingApi>) {
    (t.channel().await, t.platform.briefing.clone())
}

/// Every event in the log that happened or was recorded in `[from, to)`,
/// with its stored bytes and the consent it relies on as it stands now.
fn window_events(
    t: &TestPlatform,
    from: i64,
    to: i64,
) -> Vec<(u64, Vec<u8>, pb::Event, concord_core::consent::Consent)> {
    let in_window = |ts: &Option<pbjson_types::Timestamp>| ts.as_ref().map(millis).is_some_and(|t| from <= t && t < to);
    let now = concord_core::now_millis();
    t.platform
        .log
        .read_from(0, usize::MAX)
        .unwrap()
        .into_iter()
        .filter_map(|entry| {
            let (_, event) = decode_entry(&entry.bytes).unwrap();
            if !(in_window(&event.occurred_at) || in_window(&event.recorded_at)) {
                return None;
            }
            let consent = concord_eventlog::consent_for(&t.platform.log, &event, &[], Some(now)).unwrap();
            Some((entry.position, entry.bytes, event, consent))
        })
        .collect()
}

/// The window's events in a briefing, by id.
fn briefed(briefing: &pb::Briefing) -> BTreeMap<String, pb::EventView> {
    let views: Vec<&pb::EventView> = briefing.groups.iter().flat_map(|g| &g.events).collect();
    let by_id: BTreeMap<String, pb::EventView> =
        views.iter().map(|v| (v.event.as_ref().unwrap().event_id.clone(), (*v).clone())).collect();
    assert_eq!(by_id.len(), views.len(), "each event is in one group, once");
    by_id
}

/// Every event a briefing shows: the window's, the history counted and the
/// briefing items the open actions come from.
fn every_event_in(briefing: &pb::Briefing) -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = briefed(briefing).into_keys().collect();
    ids.extend(briefing.groups.iter().flat_map(|g| &g.history).flat_map(|h| h.event_ids.iter().cloned()));
    ids.extend(briefing.open_actions.iter().map(|a| a.event_id.clone()));
    ids
}

/// The access record of the briefing call whose parameters name `needle`.
fn record_naming(t: &TestPlatform, rpc: &str, needle: &str) -> pb::AccessRecord {
    let log = t.platform.audit.log();
    let found: Vec<pb::AccessRecord> = (1..=log.size())
        .filter_map(|p| t.platform.audit.get(p).unwrap())
        .filter(|r| r.rpc == rpc && r.parameters.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "one record of {rpc} naming {needle}");
    found.into_iter().next().unwrap()
}

fn expected_visibility(decision: Decision) -> Option<i32> {
    match decision {
        Decision::Show => Some(pb::Visibility::Show as i32),
        Decision::ShowRedacted => Some(pb::Visibility::ShowRedacted as i32),
        Decision::Withhold => None,
    }
}

/// Checks one agency's briefing against the agreement and its access record.
fn check_briefing(
    t: &TestPlatform,
    simulator: &Simulator,
    reader: &Principal,
    briefing: &pb::Briefing,
    events: &[(u64, Vec<u8>, pb::Event, concord_core::consent::Consent)],
) -> BTreeMap<String, i32> {
    assert_eq!(briefing.recipient_agency_id, reader.agency.as_str());
    assert_eq!((millis(briefing.from.as_ref().unwrap()), millis(briefing.to.as_ref().unwrap())), (ms(FROM), ms(TO)));
    let got = briefed(briefing);

    // Exactly what the partnership's table says, at the visibility it says.
    let want: BTreeMap<String, i32> = events
        .iter()
        .filter_map(|(_, _, e, consent)| Some((e.event_id.clone(), expected_visibility(expected(reader, e, consent))?)))
        .collect();
    let got_visibility: BTreeMap<String, i32> = got.iter().map(|(id, v)| (id.clone(), v.visibility)).collect();
    assert_eq!(got_visibility, want, "{}: the briefing holds exactly what the agreement allows", reader.agency);

    // Each event exactly as the read side shows it to this reader.
    let stored: Vec<(u64, Vec<u8>)> = events.iter().map(|(p, b, _, _)| (*p, b.clone())).collect();
    let decided = t.platform.views.decide(reader, stored).unwrap();
    assert_eq!(decided.events.len(), got.len());
    for view in &decided.events {
        assert_eq!(Some(view), got.get(&view.event.as_ref().unwrap().event_id), "{}", reader.agency);
    }
    assert_eq!(briefing.policy_hash, decided.policy_hash);

    // A name appears only where an event shown in full carries it.
    let names_shown: BTreeSet<&str> = got
        .values()
        .filter(|v| v.visibility == pb::Visibility::Show as i32)
        .flat_map(|v| v.event.iter().flat_map(|e| &e.personal).flat_map(|p| &p.identities))
        .map(|i| i.subject_key.as_str())
        .collect();
    for child in &simulator.cohort().children {
        let rendered = format!("{} (person/{})", child.name, child.key);
        if briefing.html.contains(&concord_briefing::render::html::escape(&rendered))
            || briefing.markdown.contains(&concord_briefing::render::markdown::escape(&rendered))
        {
            assert!(
                names_shown.contains(child.key.as_str()),
                "{}: {} named without an event shown in full",
                reader.agency,
                child.key
            );
        }
    }

    // The access record lists exactly the events in the briefing.
    let record = record_naming(t, "/concord.v1.BriefingService/Generate", &briefing.briefing_id);
    let listed: BTreeSet<String> = record.shown.iter().map(|s| s.event_id.clone()).collect();
    assert_eq!(listed.len(), record.shown.len(), "each event listed once");
    assert_eq!(listed, every_event_in(briefing), "{}", reader.agency);
    assert_eq!((record.agency_id.as_str(), record.outcome.as_str()), (reader.agency.as_str(), "ok"));
    assert_eq!(record.policy_hash, briefing.policy_hash);
    let withheld_in_window = events.len() - want.len();
    assert!(record.withheld as usize >= withheld_in_window, "{} < {withheld_in_window}", record.withheld);
    got_visibility
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_agencys_briefing_holds_exactly_what_the_agreement_lets_it_see() {
    let config = BoroughConfig::harrow();
    let t = TestPlatform::start_for(config.agencies.clone()).await;
    let simulator = simulate(&t, &config, 26).await;
    let (channel, _api) = serve(&t).await;
    let mut client = BriefingServiceClient::new(channel);
    let events = window_events(&t, ms(FROM), ms(TO));
    assert!(events.len() >= 15, "a busy day: {}", events.len());
    assert!(
        events.iter().any(|(_, _, e, _)| millis(e.occurred_at.as_ref().unwrap()) < ms(FROM)),
        "a late report of an earlier incident is in the window"
    );

    let request =
        pb::GenerateBriefingRequest { from: ts(ms(FROM)), to: ts(ms(TO)), publish: false, ..Default::default() };
    let mut seen: BTreeMap<AgencyId, BTreeMap<String, i32>> = BTreeMap::new();
    let mut briefings = BTreeMap::new();
    for agency in &config.agencies {
        let token = t.token(agency.as_str(), Role::BriefingLead, Purpose::Safeguarding);
        let briefing = client.generate(authorized(request.clone(), &token)).await.unwrap().into_inner();
        let reader = principal(agency, Role::BriefingLead, Purpose::Safeguarding);
        seen.insert(agency.clone(), check_briefing(&t, &simulator, &reader, &briefing, &events));
        assert!(
            briefing.markdown.starts_with(&format!("# VVE briefing for {agency}")),
            "{}",
            &briefing.markdown[..200]
        );
        assert!(briefing.html.contains("<h2>Open actions</h2>"));
        briefings.insert(agency.clone(), briefing);
    }

    // Two agencies' briefings differ exactly as the agreement says.
    for (a, b) in config.agencies.iter().flat_map(|a| config.agencies.iter().map(move |b| (a, b))) {
        let (ra, rb) = (
            principal(a, Role::BriefingLead, Purpose::Safeguarding),
            principal(b, Role::BriefingLead, Purpose::Safeguarding),
        );
        let only_a: BTreeSet<&String> = seen[a].keys().filter(|id| !seen[b].contains_key(*id)).collect();
        let says: BTreeSet<&String> = events
            .iter()
            .filter(|(_, _, e, c)| {
                expected(&ra, e, c) != Decision::Withhold && expected(&rb, e, c) == Decision::Withhold
            })
            .map(|(_, _, e, _)| &e.event_id)
            .collect();
        assert_eq!(only_a, says, "what {a} sees and {b} does not");
    }
    let police = &seen[&common::agency("police.met.nw")];
    let vcs = &seen[&common::agency("vcs.st-giles")];
    let camhs = &seen[&common::agency("camhs.nwl")];
    assert!(police.len() > vcs.len() && !vcs.is_empty(), "police {} vcs {}", police.len(), vcs.len());
    let redacted =
        |seen: &BTreeMap<String, i32>| seen.values().filter(|v| **v == pb::Visibility::ShowRedacted as i32).count();
    assert!(redacted(police) > 0, "police learn only that health contacts exist");
    // CAMHS sees health detail in full; what it sees redacted is only the
    // briefing items in which it owns an action (the agreement's clause 15).
    let owns_action = |id: &String| {
        events.iter().any(|(_, _, e, _)| {
            &e.event_id == id
                && matches!(&e.body, Some(pb::event::Body::VveBriefingItem(i))
                    if i.actions.iter().any(|a| a.owner_agency_id == "camhs.nwl"))
        })
    };
    let camhs_redacted = camhs.iter().filter(|(_, v)| **v == pb::Visibility::ShowRedacted as i32);
    assert!(camhs_redacted.clone().all(|(id, _)| owns_action(id)), "CAMHS sees health detail in full");
    assert!(redacted(camhs) > 0, "CAMHS learns of the items it has actions in");

    // Briefings rank, summarise history and carry the open actions.
    let cs = &briefings[&common::agency("childrens_services.harrow")];
    assert!(cs.groups.windows(2).all(|w| w[0].score >= w[1].score), "ranked by score");
    assert!(cs.groups.iter().any(|g| !g.reasons.is_empty()));
    assert!(cs.groups.iter().flat_map(|g| &g.history).any(|h| !h.counts.is_empty()), "history before the window");
    assert!(!cs.open_actions.is_empty(), "open actions from the briefing items");
    assert!(cs.open_actions.iter().all(|a| a.item_version > 0), "each with its item's version, for updates");
    assert!(cs.open_actions.windows(2).all(|w| w[0].overdue >= w[1].overdue), "overdue first");
    assert!(cs.markdown.contains("[recorded late: "), "late reports are marked");

    // Analysts and auditors are refused, and the refusal is recorded.
    for (role, purpose) in [(Role::Analyst, Purpose::Analysis), (Role::Auditor, Purpose::Audit)] {
        let token = t.token("childrens_services.harrow", role, purpose);
        let status = client.generate(authorized(request.clone(), &token)).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}: {status:?}");
        let refused: Vec<pb::AccessRecord> = (1..=t.platform.audit.log().size())
            .filter_map(|p| t.platform.audit.get(p).unwrap())
            .filter(|r| r.role == role.as_str() && r.rpc.ends_with("/Generate"))
            .collect();
        assert_eq!(refused.len(), 1);
        assert!(refused[0].outcome.starts_with("PermissionDenied") && refused[0].shown.is_empty(), "{:?}", refused[0]);
    }
    let status = client.generate(tonic::Request::new(request)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let bad = pb::GenerateBriefingRequest { from: ts(ms(TO)), to: ts(ms(FROM)), publish: false, ..Default::default() };
    let token = t.token("police.met.nw", Role::BriefingLead, Purpose::Safeguarding);
    let status = client.generate(authorized(bad, &token)).await.unwrap_err();
    assert_eq!((status.code(), concord_core::status::field_of(&status)), (Code::InvalidArgument, Some("to".into())));

    // By default the window ends at the latest briefing time (08:30 London).
    let time = BriefingTime::default();
    let before = time.latest_at_or_before(concord_core::now_millis()).unwrap();
    let latest =
        client.generate(authorized(pb::GenerateBriefingRequest::default(), &token)).await.unwrap().into_inner();
    let after = time.latest_at_or_before(concord_core::now_millis()).unwrap();
    let to = millis(latest.to.as_ref().unwrap());
    assert!(to == before || to == after);
    assert_eq!(millis(latest.from.as_ref().unwrap()), time.day_before(to).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_published_briefing_is_for_its_agency_only_and_the_schedule_publishes_once() {
    let config = BoroughConfig::harrow();
    let t = TestPlatform::start_for(config.agencies.clone()).await;
    let simulator = simulate(&t, &config, 26).await;
    let (channel, api) = serve(&t).await;
    let mut client = BriefingServiceClient::new(channel);
    let events = window_events(&t, ms(FROM), ms(TO));
    let police_lead = t.token("police.met.nw", Role::BriefingLead, Purpose::Safeguarding);

    let request =
        pb::GenerateBriefingRequest { from: ts(ms(FROM)), to: ts(ms(TO)), publish: true, ..Default::default() };
    let published = client.generate(authorized(request, &police_lead)).await.unwrap().into_inner();
    assert!(published.published);

    // Retrieved by another reader of the same agency: the same briefing,
    // decided again for them, and recorded as a read of those events.
    let officer = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let get = pb::GetBriefingRequest { briefing_id: published.briefing_id.clone() };
    let again = client.get_briefing(authorized(get.clone(), &officer)).await.unwrap().into_inner();
    assert_eq!((again.briefing_id.as_str(), again.published), (published.briefing_id.as_str(), true));
    assert_eq!(again.generated_at, published.generated_at);
    assert_eq!(briefed(&again), briefed(&published));
    assert_eq!(every_event_in(&again), every_event_in(&published));
    assert_eq!(again.open_actions, published.open_actions);
    assert_eq!(again.markdown, published.markdown);
    let record = record_naming(&t, "/concord.v1.BriefingService/GetBriefing", &published.briefing_id);
    let listed: BTreeSet<String> = record.shown.iter().map(|s| s.event_id.clone()).collect();
    assert_eq!(listed, every_event_in(&again));
    assert_eq!(record.role, "practitioner");

    // The command line retrieves and lists it too.
    let out = tempfile::tempdir().unwrap();
    let concord = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
            .args(args)
            .args(["--addr", &format!("http://{}", t.addr)])
            .env("CONCORD_TOKEN", &officer)
            .output()
            .unwrap()
    };
    let got = concord(&["briefing", "--get", &published.briefing_id, "--out", out.path().to_str().unwrap()]);
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    let stem = out.path().join(format!("briefing-{}", published.briefing_id));
    assert_eq!(std::fs::read_to_string(stem.with_extension("md")).unwrap(), published.markdown);
    assert!(std::fs::read_to_string(stem.with_extension("html")).unwrap().contains("<html"));
    let listed = concord(&["briefing", "--list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&published.briefing_id));

    // Refused to another agency, and that refusal is recorded too.
    let social_worker = t.token("childrens_services.harrow", Role::BriefingLead, Purpose::Safeguarding);
    let status = client.get_briefing(authorized(get.clone(), &social_worker)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let refusals: Vec<pb::AccessRecord> = (1..=t.platform.audit.log().size())
        .filter_map(|p| t.platform.audit.get(p).unwrap())
        .filter(|r| r.rpc.ends_with("/GetBriefing") && r.agency_id == "childrens_services.harrow")
        .collect();
    assert_eq!(refusals.len(), 1);
    assert!(refusals[0].outcome.starts_with("PermissionDenied") && refusals[0].shown.is_empty());
    let unknown = pb::GetBriefingRequest { briefing_id: uuid_v7() };
    assert_eq!(client.get_briefing(authorized(unknown, &officer)).await.unwrap_err().code(), Code::NotFound);

    // Listed for its agency only.
    let list = pb::ListBriefingsRequest::default();
    let listed = client.list_briefings(authorized(list.clone(), &officer)).await.unwrap().into_inner();
    let ids: Vec<&str> = listed.briefings.iter().map(|b| b.briefing_id.as_str()).collect();
    assert_eq!(ids, [published.briefing_id.as_str()]);
    assert_eq!(listed.briefings[0].events as usize, briefed(&published).len());
    let theirs = client.list_briefings(authorized(list.clone(), &social_worker)).await.unwrap().into_inner();
    assert!(theirs.briefings.is_empty());
    let other = pb::ListBriefingsRequest { agency_id: "police.met.nw".into(), ..Default::default() };
    assert_eq!(
        client.list_briefings(authorized(other, &social_worker)).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // The schedule publishes each agency's briefing for the window ending
    // at the briefing time, as the platform itself, once.
    let time = BriefingTime::parse("08:30", "Europe/London").unwrap();
    let now = ms(TO) + 60_000;
    let outcomes = publish_due(&api, &config.agencies, &time, now).await;
    assert_eq!(outcomes.len(), 5);
    for (agency, outcome) in outcomes {
        let briefing = outcome.unwrap().unwrap_or_else(|| panic!("{agency}: published"));
        assert_eq!(briefing.generated_by, SCHEDULE_PRINCIPAL);
        let reader = schedule_principal(&agency);
        let record = record_naming(&t, "/concord.v1.BriefingService/Generate", &briefing.briefing_id);
        assert_eq!((record.principal.as_str(), record.purpose.as_str()), (SCHEDULE_PRINCIPAL, "briefing"));
        check_briefing_as_scheduled(&t, &simulator, &reader, &briefing, &events);
    }
    for (agency, outcome) in publish_due(&api, &config.agencies, &time, now + 3_600_000).await {
        assert!(outcome.unwrap().is_none(), "{agency}: already published");
    }
    let listed = client.list_briefings(authorized(list, &officer)).await.unwrap().into_inner();
    assert_eq!(listed.briefings.len(), 2, "the lead's and the schedule's");
}

/// A scheduled briefing holds exactly what the agreement lets the agency's
/// briefing leads see for the purpose of the briefing.
fn check_briefing_as_scheduled(
    t: &TestPlatform,
    simulator: &Simulator,
    reader: &Principal,
    briefing: &pb::Briefing,
    events: &[(u64, Vec<u8>, pb::Event, concord_core::consent::Consent)],
) {
    // The record names the schedule, not "tester": the decision is the same.
    let tester = Principal { sub: "tester".into(), ..reader.clone() };
    check_briefing(t, simulator, &tester, briefing, events);
}

fn uuid_v7() -> String {
    concord_core::EventId::new_v7().to_string()
}

/// A briefing over several boroughs of one police area: events elsewhere
/// are left out, and a subject known in another borough shows it, as far as
/// the agreement lets the recipient see.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_briefing_across_boroughs_shows_who_is_known_across_the_border() {
    let t = TestPlatform::start(concord_log::kv::Engine::Redb).await;
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    let now = concord_core::now_millis();
    let at = |ms: i64| Some(concord_core::timestamp(ms));
    let arrest_in = |subject: &str, borough: &str, when: i64, shared: &[&str]| {
        let mut event = common::arrest(subject, "");
        event.borough = borough.into();
        event.occurred_at = at(when);
        event.recorded_at = at(when);
        event.share_with = shared.iter().map(|a| a.to_string()).collect();
        event
    };
    let wait = Some(Duration::from_secs(10));
    let day = 86_400_000;
    // Known in Brent two months ago; arrested in Harrow today.
    police.publish(arrest_in("P-border1", "Brent", now - 60 * day, &[]), wait).await.unwrap();
    let here = police.publish(arrest_in("P-border1", "Harrow", now, &["vcs.st-giles"]), wait).await.unwrap();
    // Arrested in Brent today: outside the briefing's boroughs.
    let there = police.publish(arrest_in("P-border2", "Brent", now, &["vcs.st-giles"]), wait).await.unwrap();

    let mut client = BriefingServiceClient::new(t.channel().await);
    let ask = |token: &str| {
        let boroughs = vec!["harrow".to_string(), "Barnet".to_string()];
        authorized(
            pb::GenerateBriefingRequest {
                from: at(now - 3_600_000),
                to: at(now + 3_600_000),
                publish: false,
                boroughs,
                ..Default::default()
            },
            token,
        )
    };
    let social = t.token("childrens_services.harrow", Role::BriefingLead, Purpose::Briefing);
    let briefing = client.generate(ask(&social)).await.unwrap().into_inner();
    let ids = every_event_in(&briefing);
    assert!(ids.contains(&here.event_id.to_string()) && !ids.contains(&there.event_id.to_string()), "{ids:?}");
    let history = &briefing.groups.iter().find(|g| !g.history.is_empty()).unwrap().history[0];
    assert_eq!(history.boroughs, ["Brent"]);
    assert!(briefing.markdown.contains("also known in Brent"), "{}", briefing.markdown);
    assert!(briefing.markdown.contains("VVE briefing for childrens_services.harrow: harrow, Barnet"));

    // The VCS was shared today's arrest but not the Brent one: it learns nothing of Brent.
    let vcs = t.token("vcs.st-giles", Role::BriefingLead, Purpose::Briefing);
    let theirs = client.generate(ask(&vcs)).await.unwrap().into_inner();
    assert_eq!(every_event_in(&theirs), BTreeSet::from([here.event_id.to_string()]));
    assert!(theirs.groups.iter().flat_map(|g| &g.history).all(|h| h.boroughs.is_empty()), "{:?}", theirs.groups);
    assert!(!theirs.markdown.contains("Brent"), "{}", theirs.markdown);
}
