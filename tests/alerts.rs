//! Immediate alerts over the real gRPC API: a high-risk missing episode
//! reaches children's services and the agencies that know the child within
//! seconds; a child's low-gravity first arrest reaches the YOT (an adult's,
//! or one of unknown age, does not); MAPPA screening follows a high risk of
//! serious harm or custody for violence; cuckooing and modern
//! slavery of an adult reach adult safeguarding only where the agreement lets
//! them see it, and a publisher whose alert reaches nobody is told so;
//! nobody else is alerted; every delivery is in the audit log.

use crate::common;

use std::time::Duration;

use common::{TestPlatform, arrest, authorized};
use concord_core::pb;
use concord_core::pb::alert_service_client::AlertServiceClient;
use concord_core::pb::publish_service_client::PublishServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use futures::StreamExt;
use tonic::Code;
use tonic::codec::Streaming;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

pub(crate) fn missing(subject: &str, episode: &str, risk: pb::RiskLevel) -> pb::Event {
    let mut event = arrest(subject, "");
    event.body = Some(pb::event::Body::MissingEpisode(pb::MissingEpisode {
        episode_id: episode.into(),
        reported_missing_at: event.occurred_at,
        risk: risk as i32,
        ..Default::default()
    }));
    event
}

/// A police concern of `exploitation` about an adult (or a child), on `basis`.
fn concern(subject: &str, exploitation: pb::ExploitationType, adult: bool, basis: pb::LawfulBasis) -> pb::Event {
    let mut event = arrest(subject, "");
    event.lawful_basis = vec![basis as i32];
    event.body = Some(pb::event::Body::ExploitationConcern(pb::ExploitationConcern {
        exploitation_type: exploitation as i32,
        risk: pb::RiskLevel::High as i32,
        adult,
    }));
    event
}

fn first_arrest(subject: &str, gravity: u32) -> pb::Event {
    let mut event = arrest(subject, "");
    if let Some(pb::event::Body::Arrest(a)) = &mut event.body {
        a.gravity_score = gravity;
        a.first_arrest = true;
        a.weapon = false;
    }
    event
}

async fn watch(t: &TestPlatform, agency: &str, role: Role) -> Result<Streaming<pb::Alert>, tonic::Status> {
    let token = t.token(agency, role, Purpose::Safeguarding);
    let mut client = AlertServiceClient::new(t.channel().await);
    Ok(client
        .watch(authorized(pb::WatchAlertsRequest { after_position: 0, ..Default::default() }, &token))
        .await?
        .into_inner())
}

/// The next alert on `stream`, within a few seconds.
async fn next(stream: &mut Streaming<pb::Alert>) -> (String, String) {
    let alert = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("an alert within seconds");
    let alert = alert.unwrap().unwrap();
    let event = alert.event.unwrap().event.unwrap();
    (alert.rule, event.event_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_reach_the_agencies_they_concern_within_seconds_through_the_agreement() {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    let yot = t.platform.node(&common::agency("yot.harrow")).unwrap().clone();
    // The YOT knows P-alert01 already.
    yot.publish(common::as_yot_rating(arrest("P-alert01", "")), WAIT).await.unwrap();

    let mut social = watch(&t, "childrens_services.harrow", Role::Practitioner).await.unwrap();
    let mut youth = watch(&t, "yot.harrow", Role::Practitioner).await.unwrap();
    let mut adults = watch(&t, "adult_safeguarding.harrow", Role::Practitioner).await.unwrap();
    let mut vcs = watch(&t, "vcs.st-giles", Role::BriefingLead).await.unwrap();
    let refused = watch(&t, "childrens_services.harrow", Role::Analyst).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // Not alerts: a medium-risk missing episode, a serious first arrest.
    police.publish(missing("P-alert01", "M-0", pb::RiskLevel::Medium), WAIT).await.unwrap();
    police.publish(first_arrest("P-alert02", 4), WAIT).await.unwrap();
    // Not alerts: low-gravity first arrests of an adult (born 1990) and of a
    // person whose age the log does not know (no date of birth, no outcome).
    let mut adult = first_arrest("P-alert10", 2);
    adult.personal.as_mut().unwrap().identities[0].date_of_birth = "1990-01-01".into();
    police.publish(adult, WAIT).await.unwrap();
    let mut unknown = first_arrest("P-alert11", 2);
    unknown.personal.as_mut().unwrap().identities.clear();
    police.publish(unknown, WAIT).await.unwrap();
    // Alerts (P-alert03 was born 2009-02-03: 17 on the day of the arrest).
    let missing_id =
        police.publish(missing("P-alert01", "M-1", pb::RiskLevel::VeryHigh), WAIT).await.unwrap().event_id.to_string();
    let arrest_id = police.publish(first_arrest("P-alert03", 2), WAIT).await.unwrap().event_id.to_string();
    // Over the publishing API, as the police's own system would: cuckooing
    // on a basis the agreement does not share with adult safeguarding (the
    // police are told nobody will be alerted), then on the safeguarding
    // basis, then modern slavery of an adult, and of a child (not theirs).
    let police_token = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let mut publish = PublishServiceClient::new(t.channel().await);
    let mut send = async |event: pb::Event| {
        let request = pb::PublishRequest { event: Some(event), wait_for_ledger: true };
        publish.publish(authorized(request, &police_token)).await.unwrap().into_inner()
    };
    use pb::ExploitationType::{Criminal, Cuckooing, ModernSlavery};
    use pb::LawfulBasis::{LegalObligation, Safeguarding};
    let unheard = send(concern("P-alert04", Cuckooing, true, LegalObligation)).await;
    assert!(unheard.unheard_alert.contains("cuckooing"), "{unheard:?}");
    assert!(unheard.unheard_alert.contains("adult_safeguarding"), "{unheard:?}");
    assert!(unheard.unheard_alert.contains("nobody will be alerted"), "{unheard:?}");
    let heard = send(concern("P-alert05", Cuckooing, true, Safeguarding)).await;
    assert_eq!(heard.unheard_alert, "", "adult safeguarding gets it");
    let shared_id = heard.event_id;
    let slavery = send(concern("P-alert06", ModernSlavery, true, Safeguarding)).await;
    assert_eq!(slavery.unheard_alert, "");
    let slavery_id = slavery.event_id;
    let child = send(concern("P-alert07", ModernSlavery, false, Safeguarding)).await;
    assert_eq!(child.unheard_alert, "", "no alert at all: nothing to tell");
    // Not an alert either: a child's criminal exploitation.
    assert_eq!(send(concern("P-alert08", Criminal, false, Safeguarding)).await.unheard_alert, "");

    assert_eq!(next(&mut social).await, ("high-risk-missing".to_string(), missing_id.clone()));
    assert_eq!(next(&mut youth).await, ("high-risk-missing".to_string(), missing_id.clone()));
    assert_eq!(next(&mut youth).await, ("first-arrest-diversion".to_string(), arrest_id.clone()));
    assert_eq!(next(&mut adults).await, ("cuckooing".to_string(), shared_id.clone()));
    assert_eq!(next(&mut adults).await, ("modern-slavery".to_string(), slavery_id.clone()));

    // Nobody got what does not concern them: each stream's next alert is a
    // second missing child, which concerns children's services (and the YOT,
    // which knows the child), not adult safeguarding or the VCS.
    let sentinel = police.publish(missing("P-alert01", "M-2", pb::RiskLevel::High), WAIT).await.unwrap();
    let sentinel = sentinel.event_id.to_string();
    assert_eq!(next(&mut social).await.1, sentinel);
    assert_eq!(next(&mut youth).await.1, sentinel);
    let quiet = tokio::time::timeout(Duration::from_millis(500), adults.next()).await;
    assert!(quiet.is_err(), "adult safeguarding got {quiet:?}");
    let quiet = tokio::time::timeout(Duration::from_millis(500), vcs.next()).await;
    assert!(quiet.is_err(), "the VCS got {quiet:?}");

    // Every delivery is in the audit log, for the reader it went to.
    let audit = &t.platform.audit;
    let mut delivered = Vec::new();
    for position in 1..=audit.log().size() {
        let record = audit.get(position).unwrap().unwrap();
        if record.rpc == "/concord.v1.AlertService/Watch" {
            for shown in &record.shown {
                delivered.push((record.agency_id.clone(), shown.event_id.clone()));
            }
        }
    }
    for (agency, id) in [
        ("childrens_services.harrow", &missing_id),
        ("yot.harrow", &missing_id),
        ("yot.harrow", &arrest_id),
        ("adult_safeguarding.harrow", &shared_id),
        ("adult_safeguarding.harrow", &slavery_id),
        ("childrens_services.harrow", &sentinel),
    ] {
        assert!(delivered.contains(&(agency.to_string(), id.clone())), "{agency} {id} not recorded: {delivered:?}");
    }
    assert_eq!(delivered.len(), 7, "{delivered:?}");

    // The missing child also heads children's services' next briefing.
    let lead = t.token("childrens_services.harrow", Role::BriefingLead, Purpose::Briefing);
    let briefing = common::briefing_around_now(&t, &lead).await;
    let top = &briefing.groups[0];
    assert!(top.reasons.iter().any(|r| r.code == "high_risk_missing"), "{:?}", top.reasons);
    let ids: Vec<&str> = top.events.iter().map(|v| v.event.as_ref().unwrap().event_id.as_str()).collect();
    assert!(ids.contains(&missing_id.as_str()) && ids.contains(&sentinel.as_str()), "{ids:?}");
}

/// A YOT youth justice outcome about `subject`: `disposal` for `offence`.
fn sentence(subject: &str, disposal: pb::Disposal, offence: &str) -> pb::Event {
    let mut event = common::as_yot_rating(arrest(subject, ""));
    event.body = Some(pb::event::Body::YouthJusticeOutcome(pb::YouthJusticeOutcome {
        disposal: disposal as i32,
        main_offence: offence.into(),
        age: 16,
        gender: pb::Gender::Male as i32,
        ethnicity: pb::Ethnicity::White as i32,
        offence_date: event.occurred_at,
        ..Default::default()
    }));
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mappa_screening_follows_a_high_risk_of_serious_harm_or_custody_for_violence() {
    let t = TestPlatform::start(Engine::Redb).await;
    let yot = t.platform.node(&common::agency("yot.harrow")).unwrap().clone();
    let mut police = watch(&t, "police.met.nw", Role::Practitioner).await.unwrap();
    // Not alerts: a low risk of serious harm; custody for theft; a referral
    // order for robbery.
    yot.publish(common::as_yot_rating(arrest("P-mappa01", "")), WAIT).await.unwrap();
    yot.publish(sentence("P-mappa02", pb::Disposal::Custody, "theft"), WAIT).await.unwrap();
    yot.publish(sentence("P-mappa03", pb::Disposal::ReferralOrder, "robbery"), WAIT).await.unwrap();
    // Alerts: a high risk of serious harm; custody for robbery (violent).
    let mut high = common::as_yot_rating(arrest("P-mappa04", ""));
    if let Some(pb::event::Body::AssetPlusRating(r)) = &mut high.body {
        r.risk_of_serious_harm = pb::RiskLevel::High as i32;
        r.mappa_screening = true;
    }
    let high_id = yot.publish(high, WAIT).await.unwrap().event_id.to_string();
    let custody = sentence("P-mappa05", pb::Disposal::Custody, "robbery");
    let custody_id = yot.publish(custody, WAIT).await.unwrap().event_id.to_string();
    assert_eq!(next(&mut police).await, ("mappa-screening".to_string(), high_id));
    assert_eq!(next(&mut police).await, ("mappa-screening".to_string(), custody_id));
    let quiet = tokio::time::timeout(Duration::from_millis(500), police.next()).await;
    assert!(quiet.is_err(), "the police got {quiet:?}");
}
