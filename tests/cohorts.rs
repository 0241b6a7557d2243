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
