//! Following a cohort over the real gRPC API: alerts, the briefing and the
//! live feed keep to the events about members of one of the reader's
//! agency's cohorts, membership as it stands at each event and each subject
//! as merges make it then (a duplicate merged into a member is the member,
//! until the merge is undone), still through the agreement; a cohort the
//! agency does not have, another agency's included, is refused naming the field.

use std::collections::BTreeSet;
use std::time::Duration;

use concord_core::pb;
use concord_core::pb::alert_service_client::AlertServiceClient;
use concord_core::pb::briefing_service_client::BriefingServiceClient;
use concord_core::pb::directory_service_client::DirectoryServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_core::status::field_of;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use tonic::Code;

use crate::alerts::missing;
use crate::common::{TestPlatform, arrest, authorized, publish};
use crate::directory::{cohort_change, merge};

const SOCIAL: &str = "childrens_services.harrow";
const POLICE: &str = "police.met.nw";
const VCS: &str = "vcs.st-giles";

/// The refusal is INVALID_ARGUMENT naming the field `cohort`.
fn names_the_cohort(status: tonic::Status) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(field_of(&status).as_deref(), Some("cohort"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_follow_a_cohort_through_its_merges_and_refuse_a_cohort_the_agency_does_not_have() {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token(POLICE, Role::Practitioner, Purpose::Safeguarding);
    let social = t.token(SOCIAL, Role::Practitioner, Purpose::Safeguarding);
    publish(&t, cohort_change(SOCIAL, "missing-watch", false, &["P-cw01"]), &social).await.unwrap();
    publish(&t, cohort_change(POLICE, "police-list", false, &["P-cw02"]), &police).await.unwrap();

    let mut alerts = AlertServiceClient::new(t.channel().await);
    let watch = |cohort: &str| pb::WatchAlertsRequest { cohort: cohort.into(), ..Default::default() };
    let mut stream = alerts.watch(authorized(watch("missing-watch"), &social)).await.unwrap().into_inner();
    let very_high = pb::RiskLevel::VeryHigh;
    let member = publish(&t, missing("P-cw01", "E-cw1", very_high), &police).await.unwrap();
    let outsider = publish(&t, missing("P-cw02", "E-cw2", very_high), &police).await.unwrap();
    // P-cw03 is found to be the member: while merged, its alerts are the member's.
    publish(&t, merge(SOCIAL, "P-cw01", "P-cw03", false), &social).await.unwrap();
    let merged = publish(&t, missing("P-cw03", "E-cw3", very_high), &police).await.unwrap();
    publish(&t, merge(SOCIAL, "P-cw01", "P-cw03", true), &social).await.unwrap();
    let unmerged = publish(&t, missing("P-cw03", "E-cw4", very_high), &police).await.unwrap();
    let last = publish(&t, missing("P-cw01", "E-cw5", very_high), &police).await.unwrap();
    let mut delivered = Vec::new();
    while delivered.last() != Some(&last.event_id) {
        let alert = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap().unwrap().unwrap();
        assert_eq!(alert.rule, "high-risk-missing");
        delivered.push(alert.event.unwrap().event.unwrap().event_id);
    }
    assert_eq!(delivered, [member.event_id, merged.event_id, last.event_id], "not {outsider:?} nor {unmerged:?}");

    // A cohort the agency does not have, or another agency's, is refused.
    for cohort in ["no-such-cohort", "police-list"] {
        names_the_cohort(alerts.watch(authorized(watch(cohort), &social)).await.unwrap_err());
    }
    let mut query = QueryServiceClient::new(t.channel().await);
    let subscribe = pb::SubscribeRequest { cohort: "police-list".into(), ..Default::default() };
    names_the_cohort(query.subscribe(authorized(subscribe, &social)).await.unwrap_err());
}

/// The ids of the events a briefing's groups show.
fn shown(briefing: &pb::Briefing) -> BTreeSet<String> {
    let views = briefing.groups.iter().flat_map(|g| &g.events);
    views.filter_map(|v| v.event.as_ref()).map(|e| e.event_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_briefing_follows_a_cohort_through_its_merges_and_refuses_a_cohort_the_agency_does_not_have() {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token(POLICE, Role::Practitioner, Purpose::Safeguarding);
    let social = t.token(SOCIAL, Role::Practitioner, Purpose::Safeguarding);
    publish(&t, cohort_change(SOCIAL, "exploitation", false, &["P-cb01"]), &social).await.unwrap();
    publish(&t, cohort_change(POLICE, "police-list", false, &["P-cb02"]), &police).await.unwrap();
    let member = publish(&t, arrest("P-cb01", ""), &police).await.unwrap();
    let outsider = publish(&t, arrest("P-cb02", ""), &police).await.unwrap();
    publish(&t, merge(SOCIAL, "P-cb01", "P-cb03", false), &social).await.unwrap();
    let merged = publish(&t, arrest("P-cb03", ""), &police).await.unwrap();
    publish(&t, merge(SOCIAL, "P-cb01", "P-cb03", true), &social).await.unwrap();
    let unmerged = publish(&t, arrest("P-cb03", ""), &police).await.unwrap();

    let now = concord_core::now_millis();
    let generate = |cohort: &str| pb::GenerateBriefingRequest {
        from: Some(concord_core::timestamp(now - 3_600_000)),
        to: Some(concord_core::timestamp(now + 3_600_000)),
        cohort: cohort.into(),
        ..Default::default()
    };
    let mut briefings = BriefingServiceClient::new(t.channel().await);
    let everyone = shown(&briefings.generate(authorized(generate(""), &social)).await.unwrap().into_inner());
    for arrest in [&member, &outsider, &merged, &unmerged] {
        assert!(everyone.contains(&arrest.event_id), "without a cohort, every arrest: {everyone:?}");
    }
    let cohort = shown(&briefings.generate(authorized(generate("exploitation"), &social)).await.unwrap().into_inner());
    assert!(cohort.contains(&member.event_id) && cohort.contains(&merged.event_id), "{cohort:?}");
    assert!(!cohort.contains(&outsider.event_id) && !cohort.contains(&unmerged.event_id), "{cohort:?}");

    for name in ["no-such-cohort", "police-list"] {
        names_the_cohort(briefings.generate(authorized(generate(name), &social)).await.unwrap_err());
    }
}

/// A cohort's newest events as `token`'s reader gets them from one
/// `DirectoryService.Cohort` call, with the one access record it made.
async fn newest(t: &TestPlatform, token: &str, cohort: &str, count: u32) -> (Vec<String>, pb::AccessRecord) {
    let from = t.platform.audit.log().size() + 1;
    let mut directory = DirectoryServiceClient::new(t.channel().await);
    let request = pb::CohortRequest { cohort: cohort.into(), newest_events: count };
    let answer = directory.cohort(authorized(request, token)).await.unwrap().into_inner();
    let positions: Vec<u64> = answer.events.iter().map(|v| v.position).collect();
    assert!(positions.windows(2).all(|w| w[0] > w[1]), "newest first, each once: {positions:?}");
    let ids: Vec<String> = answer.events.into_iter().filter_map(|v| v.event).map(|e| e.event_id).collect();
    let audit = &t.platform.audit;
    let records: Vec<pb::AccessRecord> =
        (from..=audit.log().size()).map(|position| audit.get(position).unwrap().unwrap()).collect();
    let mut calls = records.into_iter().filter(|r| r.rpc == "/concord.v1.DirectoryService/Cohort");
    let record = calls.next().expect("the call's access record");
    assert!(calls.next().is_none(), "one access record per call");
    let listed: Vec<String> = record.shown.iter().map(|s| s.event_id.clone()).collect();
    assert_eq!(listed, ids, "the record names exactly the events returned");
    (ids, record)
}

/// What `token`'s reader may see about `members` (their timelines, as
/// merges make them), newest first, each event once: what a cohort of
/// them should show.
async fn seen_about(t: &TestPlatform, token: &str, members: &[&str]) -> Vec<String> {
    let mut query = QueryServiceClient::new(t.channel().await);
    let mut views = Vec::new();
    for member in members {
        let subject = pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: (*member).into() };
        let request = pb::SubjectTimelineRequest { subject: Some(subject), page_size: 1000, ..Default::default() };
        views.extend(query.subject_timeline(authorized(request, token)).await.unwrap().into_inner().events);
    }
    views.sort_by_key(|v| std::cmp::Reverse(v.position));
    views.dedup_by_key(|v| v.position);
    views.into_iter().filter_map(|v| v.event).map(|e| e.event_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cohort_call_returns_the_newest_events_its_reader_may_see_in_one_access_record() {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token(POLICE, Role::Practitioner, Purpose::Safeguarding);
    let social = t.token(SOCIAL, Role::Practitioner, Purpose::Safeguarding);
    let vcs = t.token(VCS, Role::Practitioner, Purpose::Safeguarding);
    // One event names both members: it is shown once.
    let joined = publish(&t, cohort_change(SOCIAL, "feed-list", false, &["P-cf01", "P-cf02"]), &social).await.unwrap();
    publish(&t, cohort_change(VCS, "vcs-list", false, &["P-cf01", "P-cf02"]), &vcs).await.unwrap();
    let first = publish(&t, arrest("P-cf01", ""), &police).await.unwrap();
    let outsider = publish(&t, arrest("P-cf04", ""), &police).await.unwrap();
    // P-cf03 is found to be P-cf01: its events are the member's.
    publish(&t, merge(SOCIAL, "P-cf01", "P-cf03", false), &social).await.unwrap();
    let merged = publish(&t, arrest("P-cf03", ""), &police).await.unwrap();
    let second = publish(&t, arrest("P-cf02", ""), &police).await.unwrap();

    // Members only, as before: no events, none listed.
    let (ids, record) = newest(&t, &social, "feed-list", 0).await;
    assert!(ids.is_empty() && record.shown.is_empty(), "{record:?}");

    // Everything the social worker may see about the members, newest first.
    let expected = seen_about(&t, &social, &["P-cf01", "P-cf02"]).await;
    for event in [&joined, &first, &merged, &second] {
        assert!(expected.contains(&event.event_id), "{expected:?}");
    }
    assert!(!expected.contains(&outsider.event_id));
    let (all, _) = newest(&t, &social, "feed-list", 200).await;
    assert_eq!(all, expected);
    assert_eq!(all.iter().filter(|id| **id == joined.event_id).count(), 1, "an event about two members once");
    let (two, _) = newest(&t, &social, "feed-list", 2).await;
    assert_eq!(two, expected[..2], "the newest two");

    // The voluntary sector's worker follows the same children in its own
    // cohort and gets only what the agreement lets it see: the arrests are
    // withheld, and tallied, not shown or named.
    let (theirs, record) = newest(&t, &vcs, "vcs-list", 200).await;
    assert_eq!(theirs, seen_about(&t, &vcs, &["P-cf01", "P-cf02"]).await);
    for arrest in [&first, &merged, &second] {
        assert!(!theirs.contains(&arrest.event_id), "{theirs:?}");
    }
    assert!(record.withheld >= 3, "{record:?}");
    // Withheld events change nothing else: the newest one it may see comes first.
    let (one, _) = newest(&t, &vcs, "vcs-list", 1).await;
    assert_eq!(one, theirs[..1]);

    // Too many at once is refused naming the field; another agency's cohort too.
    let mut directory = DirectoryServiceClient::new(t.channel().await);
    let request = |cohort: &str, count: u32| pb::CohortRequest { cohort: cohort.into(), newest_events: count };
    let status = directory.cohort(authorized(request("feed-list", 201), &social)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(field_of(&status).as_deref(), Some("newest_events"), "{status:?}");
    let (others, _) = newest(&t, &vcs, "feed-list", 200).await;
    assert!(others.is_empty(), "another agency's cohort shows nothing: {others:?}");
}
