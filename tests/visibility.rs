//! Per-agency visibility through the real gRPC API: every agency kind × role
//! × purpose reads events of every publisher kind × classification × lawful
//! basis × explicit sharing × consent state, and gets exactly what the table
//! in `common/sharing.rs` says (zero leaks, nothing missing); a consent
//! withdrawn mid-subscription stops the next delivery; the agreement is
//! explained to admins only; and a broken agreement stops start-up.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use common::process::concord;
use common::sharing::{BASIS_SETS, KINDS, agency_of, consent_scope, expected};
use common::{TestPlatform, authorized};
use concord_core::consent::{Consent, ConsentStatus};
use concord_core::pb::policy_service_client::PolicyServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_core::pb::replay_service_client::ReplayServiceClient;
use concord_core::pb::{self, AgencyKind, Classification, LawfulBasis};
use concord_core::{AgencyId, EventType};
use concord_identity::{Principal, Purpose, Role};
use concord_policy::Decision;
use futures::StreamExt;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn ts(seconds: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds, nanos: 0 }
}

fn person(key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
}

/// Every body `kind` may publish with this classification, from
/// `schemas/examples` (consent events aside: the test writes its own).
fn bodies_for(kind: AgencyKind, classification: Classification) -> Vec<pb::event::Body> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/examples");
    let mut bodies = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for path in files {
        let event: pb::Event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut body = event.body.unwrap();
        let event_type = EventType::of(&body);
        let publishers = event_type.publishers();
        let health = event_type == EventType::CamhsContact;
        // Only children's services create briefing items; other agencies
        // publish them only to update their own actions (tests/actions.rs).
        let item_by_other = event_type == EventType::VveBriefingItem && kind != AgencyKind::ChildrensServices;
        if matches!(event_type, EventType::ConsentRecorded | EventType::ConsentWithdrawn)
            || item_by_other
            || (!publishers.is_empty() && !publishers.contains(&kind))
            || (health && classification != Classification::SpecialCategory)
        {
            continue;
        }
        if let pb::event::Body::NrmReferral(n) = &mut body {
            // A child's referral: no consent needed, so any basis will do.
            n.minor = true;
        }
        bodies.push(body);
    }
    // Content the agreement looks at: health by content (a referral for
    // mental health), adults at risk (cuckooing, modern slavery of an adult).
    bodies.push(pb::event::Body::MashReferral(pb::MashReferral {
        referrer_agency_id: agency_of(kind),
        reason: pb::MashReason::MentalHealth as i32,
        ..Default::default()
    }));
    for (exploitation, adult) in [(pb::ExploitationType::Cuckooing, false), (pb::ExploitationType::ModernSlavery, true)]
    {
        bodies.push(pb::event::Body::ExploitationConcern(pb::ExploitationConcern {
            exploitation_type: exploitation as i32,
            risk: pb::RiskLevel::High as i32,
            adult,
        }));
    }
    bodies
}

/// An event by `publisher` about `subject`, with a name to show when shown.
fn envelope(publisher: AgencyKind, subject: &str, classification: Classification, bases: &[LawfulBasis]) -> pb::Event {
    let body = bodies_for(publisher, classification).swap_remove(0);
    envelope_with(publisher, subject, classification, bases, body)
}

fn envelope_with(
    publisher: AgencyKind,
    subject: &str,
    classification: Classification,
    bases: &[LawfulBasis],
    body: pb::event::Body,
) -> pb::Event {
    pb::Event {
        agency_id: agency_of(publisher),
        agency_kind: publisher as i32,
        subjects: vec![person(subject)],
        occurred_at: Some(ts(1_790_000_000)),
        borough: "Harrow".into(),
        ward: "Wealdstone".into(),
        classification: classification as i32,
        lawful_basis: bases.iter().map(|b| *b as i32).collect(),
        schema_version: 1,
        personal: Some(pb::Personal {
            identities: vec![pb::Identity {
                subject_key: subject.into(),
                name: "Casey Matrix".into(),
                date_of_birth: "2010-01-01".into(),
                ..Default::default()
            }],
            text: HashMap::from([("notes".to_string(), "free text only some may read".to_string())]),
        }),
        body: Some(body),
        ..Default::default()
    }
}

/// Children's services records the consent `id` for `subject` with the scope
/// of [`consent_scope`], lapsing at `expires` (seconds) if given.
fn consent_record(id: &str, subject: &str, expires: Option<i64>) -> pb::Event {
    let scope = consent_scope(ConsentStatus::Given);
    let mut e =
        envelope(AgencyKind::ChildrensServices, subject, Classification::Official, &[LawfulBasis::Safeguarding]);
    e.body = Some(pb::event::Body::ConsentRecorded(pb::ConsentRecorded {
        consent_id: id.into(),
        given_by: pb::ConsentGiver::Child as i32,
        agency_kinds: vec![AgencyKind::Vcs as i32],
        agency_ids: scope.agency_ids.clone(),
        purposes: vec![pb::Purpose::Safeguarding as i32, pb::Purpose::CaseManagement as i32],
        expires_at: expires.map(ts),
    }));
    e
}

fn consent_withdrawal(id: &str, subject: &str) -> pb::Event {
    let mut e =
        envelope(AgencyKind::ChildrensServices, subject, Classification::Official, &[LawfulBasis::Safeguarding]);
    e.body = Some(pb::event::Body::ConsentWithdrawn(pb::ConsentWithdrawn { consent_id: id.into() }));
    e
}

async fn next(stream: &mut tonic::Streaming<pb::EventView>) -> pb::Event {
    let item = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("a delivery in time");
    item.expect("the stream is open").expect("a delivery, not an error").event.unwrap()
}

fn reader(kind: AgencyKind, role: Role, purpose: Purpose) -> Principal {
    Principal {
        sub: "matrix".into(),
        agency: AgencyId::parse(&agency_of(kind)).unwrap(),
        role,
        purpose,
        token_id: None,
        expires_at: 0,
    }
}

fn visibility(d: Decision) -> Option<pb::Visibility> {
    match d {
        Decision::Show => Some(pb::Visibility::Show),
        Decision::ShowRedacted => Some(pb::Visibility::ShowRedacted),
        Decision::Withhold => None,
    }
}

/// Everything one reader's search returns: event id → visibility, checking
/// that what is shown carries personal data and what is redacted does not.
async fn search_all(client: &mut QueryServiceClient<tonic::transport::Channel>, token: &str) -> BTreeMap<String, i32> {
    let mut seen = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let request = pb::SearchRequest { page_size: 1000, page_token, ..Default::default() };
        let page = client.search(authorized(request, token)).await.unwrap().into_inner();
        for view in page.events {
            let event = view.event.unwrap();
            let shown = view.visibility == pb::Visibility::Show as i32;
            assert_eq!(event.personal.is_some(), shown, "personal data vs visibility of {}", event.event_id);
            if !shown {
                assert!(event.sealed.is_empty(), "a redacted event kept its sealed data");
                // Nor any health detail, whatever the event type.
                match &event.body {
                    Some(pb::event::Body::MashReferral(m)) => {
                        assert_ne!(m.reason, pb::MashReason::MentalHealth as i32, "{}", event.event_id)
                    }
                    Some(pb::event::Body::CamhsContact(c)) => {
                        assert_eq!(*c, pb::CamhsContact::default(), "{}", event.event_id)
                    }
                    _ => {}
                }
            }
            seen.insert(event.event_id, view.visibility);
        }
        if page.next_page_token.is_empty() {
            return seen;
        }
        page_token = page.next_page_token;
    }
}

/// Everything an analyst's replay shows, as its access records list it (the
/// replay names no real id): event id → visibility. Analysts read nothing
/// else: their search is refused.
async fn analyst_replay(t: &TestPlatform, token: &str, analysis: &str) -> BTreeMap<String, i32> {
    let mut query = QueryServiceClient::new(t.channel().await);
    let refused = query.search(authorized(pb::SearchRequest::default(), token)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let mut replay = ReplayServiceClient::new(t.channel().await);
    let request = pb::ReplayRequest { analysis_id: analysis.into(), batch_size: 5000, ..Default::default() };
    let mut stream = replay.replay(authorized(request, token)).await.unwrap().into_inner();
    while let Some(batch) = stream.next().await {
        let batch = batch.unwrap();
        assert!(batch.events.iter().all(|e| e.personal.is_none() && e.sealed.is_empty()));
    }
    let audit = &t.platform.audit;
    let mut seen = BTreeMap::new();
    for position in 1..=audit.log().size() {
        let record = audit.get(position).unwrap().unwrap();
        if record.rpc == "/concord.v1.ReplayService/Replay" && record.parameters.contains(&format!("\"{analysis}\"")) {
            // A replay batch names the events it showed by their positions.
            let shown = record.shown_positions.expect("a replay batch names positions");
            for position in concord_audit::positions::shown(&shown) {
                let entry = t.platform.views.log().get(position).unwrap().unwrap();
                let (_, event) = concord_eventlog::decode_entry(&entry.bytes).unwrap();
                seen.insert(event.event_id, shown.visibility);
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_reader_sees_exactly_what_the_agreement_allows() {
    let agencies = KINDS.iter().map(|k| AgencyId::parse(&agency_of(*k)).unwrap()).collect();
    let t = TestPlatform::start_for(agencies).await;
    let node = |kind: AgencyKind| t.platform.node(&AgencyId::parse(&agency_of(kind)).unwrap()).unwrap().clone();
    let cs = node(AgencyKind::ChildrensServices);

    // One subject per consent state: given, later withdrawn, expired, never recorded.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let subjects = [
        ("P-given", "C-given", ConsentStatus::Given),
        ("P-withdrawn", "C-withdrawn", ConsentStatus::Withdrawn),
        ("P-expired", "C-expired", ConsentStatus::Expired),
        ("P-none", "C-none", ConsentStatus::None),
    ];
    let mut all: Vec<(pb::Event, Consent)> = Vec::new();
    for (subject, id, status) in subjects {
        if status == ConsentStatus::None {
            continue;
        }
        let expires = (status == ConsentStatus::Expired).then_some(now + 5);
        let record = consent_record(id, subject, expires);
        let published = cs.publish(record.clone(), WAIT).await.unwrap();
        all.push((pb::Event { event_id: published.event_id.to_string(), ..record }, Consent::none()));
    }

    let mut planned = Vec::new();
    let mut types = std::collections::BTreeSet::new();
    for publisher in KINDS {
        for classification in [Classification::OfficialSensitive, Classification::SpecialCategory] {
            // Each combination takes the next of the event types this publisher may send.
            let bodies = bodies_for(publisher, classification);
            let mut next_body = bodies.iter().cycle();
            for bases in BASIS_SETS {
                for share_with in [vec![], vec![agency_of(AgencyKind::Vcs)], vec![agency_of(AgencyKind::Education)]] {
                    for (subject, consent_id, status) in subjects {
                        let consent_based = bases.contains(&LawfulBasis::Consent);
                        if !consent_based && status != ConsentStatus::None {
                            continue;
                        }
                        let body = next_body.next().unwrap().clone();
                        let merge =
                            matches!(body, pb::event::Body::SubjectsMerged(_) | pb::event::Body::SubjectsUnmerged(_));
                        // A consent covers the people it names, never a duplicate merged in.
                        if merge && consent_based {
                            continue;
                        }
                        types.insert(EventType::of(&body));
                        let mut event = envelope_with(publisher, subject, classification, bases, body);
                        // A merge names the subject kept, then its duplicate.
                        if merge {
                            event.subjects.push(person(&format!("{subject}-dup")));
                        }
                        event.share_with = share_with.clone();
                        if consent_based {
                            event.consent_ref = consent_id.into();
                        }
                        planned.push((publisher, event, status));
                    }
                }
            }
        }
    }
    assert_eq!(types.len(), EventType::ALL.len() - 2, "every event type but the consent ones: {types:?}");
    // Those relying on the consent about to lapse go first, while it stands.
    planned.sort_by_key(|(_, _, status)| *status != ConsentStatus::Expired);
    for (publisher, mut event, status) in planned {
        let consent_based = concord_core::consent::relies_on_consent(&event);
        let result = node(publisher).publish(event.clone(), WAIT).await;
        if consent_based && status == ConsentStatus::None {
            // Consent is among its bases and there is none: it never enters
            // the log, whatever other bases it has.
            let err = result.expect_err("an event without a lawful basis was accepted");
            assert!(err.to_string().contains("consent"), "{err}");
            continue;
        }
        let published = result.unwrap();
        event.event_id = published.event_id.to_string();
        all.push((event, consent_scope(status)));
    }
    let withdrawal = consent_withdrawal("C-withdrawn", "P-withdrawn");
    let published = cs.publish(withdrawal.clone(), WAIT).await.unwrap();
    all.push((pb::Event { event_id: published.event_id.to_string(), ..withdrawal }, Consent::none()));
    // Let the expiring consent lapse.
    while time::OffsetDateTime::now_utc().unix_timestamp() <= now + 5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(t.platform.log.size(), all.len() as u64);

    let mut client = QueryServiceClient::new(t.channel().await);
    let mut counts: HashMap<Option<pb::Visibility>, usize> = HashMap::new();
    for kind in KINDS {
        for role in Role::ALL {
            for purpose in Purpose::ALL {
                let who = reader(kind, *role, *purpose);
                let token = t.token(who.agency.as_str(), *role, *purpose);
                let analyst = *role == Role::Analyst;
                let got = if analyst {
                    analyst_replay(&t, &token, &format!("matrix-{kind:?}-{purpose}")).await
                } else {
                    search_all(&mut client, &token).await
                };
                let mut want = BTreeMap::new();
                for (event, consent) in &all {
                    let decision = expected(&who, event, consent);
                    *counts.entry(visibility(decision)).or_default() += 1;
                    if let Some(v) = visibility(decision) {
                        // An analyst's replay shows what analysts may see, pseudonymised.
                        let v = if analyst { pb::Visibility::Pseudonymised } else { v };
                        want.insert(event.event_id.clone(), v as i32);
                    }
                }
                if got != want {
                    let leaked: Vec<_> = got.iter().filter(|(id, v)| want.get(*id) != Some(v)).collect();
                    let missing: Vec<_> = want.iter().filter(|(id, v)| got.get(*id) != Some(v)).collect();
                    let describe = |id: &String| {
                        let (e, c) = all.iter().find(|(e, _)| e.event_id == *id).unwrap();
                        format!(
                            "{} {:?} {:?} share {:?} consent {:?}",
                            e.agency_id, e.classification, e.lawful_basis, e.share_with, c.status
                        )
                    };
                    panic!(
                        "{who:?}\nleaked or wrong: {:?}\nmissing: {:?}",
                        leaked.iter().map(|(id, v)| (describe(id), v)).collect::<Vec<_>>(),
                        missing.iter().map(|(id, v)| (describe(id), v)).collect::<Vec<_>>()
                    );
                }

                // Timelines agree with search, page by page, for one purpose per role.
                if *purpose == Purpose::CaseManagement && !analyst {
                    for (subject, ..) in subjects {
                        let mut from_timeline = BTreeMap::new();
                        let mut page_token = String::new();
                        loop {
                            let request =
                                pb::SubjectTimelineRequest { subject: Some(person(subject)), page_size: 7, page_token };
                            let page = client.subject_timeline(authorized(request, &token)).await.unwrap().into_inner();
                            // Only the last page may be short: a short page would count withheld events.
                            assert!(page.events.len() == 7 || page.next_page_token.is_empty(), "{who:?}");
                            for view in page.events {
                                from_timeline.insert(view.event.unwrap().event_id, view.visibility);
                            }
                            if page.next_page_token.is_empty() {
                                break;
                            }
                            page_token = page.next_page_token;
                        }
                        let about: BTreeMap<_, _> = want
                            .iter()
                            .filter(|(id, _)| {
                                all.iter().any(|(e, _)| e.event_id == **id && e.subjects[0].key == subject)
                            })
                            .map(|(k, v)| (k.clone(), *v))
                            .collect();
                        assert_eq!(from_timeline, about, "{who:?} timeline of {subject}");
                    }
                    // Searching in small pages gives the same, in full pages.
                    let mut paged = BTreeMap::new();
                    let mut page_token = String::new();
                    loop {
                        let request = pb::SearchRequest { page_size: 7, page_token, ..Default::default() };
                        let page = client.search(authorized(request, &token)).await.unwrap().into_inner();
                        assert!(page.events.len() == 7 || page.next_page_token.is_empty(), "{who:?}");
                        for view in page.events {
                            paged.insert(view.event.unwrap().event_id, view.visibility);
                        }
                        if page.next_page_token.is_empty() {
                            break;
                        }
                        page_token = page.next_page_token;
                    }
                    assert_eq!(paged, want, "{who:?} searching page by page");
                }
            }
        }
    }
    for outcome in [Some(pb::Visibility::Show), Some(pb::Visibility::ShowRedacted), None] {
        assert!(counts.get(&outcome).copied().unwrap_or(0) > 1000, "{counts:?}");
    }

    // A withheld event and a missing one look the same.
    let vcs_token = t.token(&agency_of(AgencyKind::Vcs), Role::Practitioner, Purpose::Safeguarding);
    let vcs = reader(AgencyKind::Vcs, Role::Practitioner, Purpose::Safeguarding);
    let (withheld, _) = all.iter().find(|(e, c)| expected(&vcs, e, c) == Decision::Withhold).unwrap();
    let missing = concord_core::EventId::new_v7().to_string();
    for id in [&withheld.event_id, &missing] {
        let status =
            client.get_event(authorized(pb::GetEventRequest { event_id: id.clone() }, &vcs_token)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(status.message(), format!("no event {id} that you may see"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_withdrawn_mid_subscription_stops_the_next_delivery() {
    let agencies = KINDS.iter().map(|k| AgencyId::parse(&agency_of(*k)).unwrap()).collect();
    let t = TestPlatform::start_for(agencies).await;
    let node = |kind: AgencyKind| t.platform.node(&AgencyId::parse(&agency_of(kind)).unwrap()).unwrap().clone();
    let (vcs, cs, police) = (node(AgencyKind::Vcs), node(AgencyKind::ChildrensServices), node(AgencyKind::Police));
    cs.publish(consent_record("C-live", "P-live", None), WAIT).await.unwrap();

    // The YOT (named in the consent) follows the subject; so does the police,
    // who see nothing shared by consent alone.
    let mut client = QueryServiceClient::new(t.channel().await);
    let yot_token = t.token(&agency_of(AgencyKind::Yot), Role::Practitioner, Purpose::CaseManagement);
    let request = pb::SubscribeRequest { subject: Some(person("P-live")), ..Default::default() };
    let mut stream = client.subscribe(authorized(request, &yot_token)).await.unwrap().into_inner();
    assert!(matches!(next(&mut stream).await.body, Some(pb::event::Body::ConsentRecorded(_))));

    let engaged = |bases: &[LawfulBasis]| {
        let mut e = envelope(AgencyKind::Vcs, "P-live", Classification::OfficialSensitive, bases);
        e.consent_ref = "C-live".into();
        e
    };
    let first = vcs.publish(engaged(&[LawfulBasis::Consent]), WAIT).await.unwrap();
    let delivered = next(&mut stream).await;
    assert_eq!(delivered.event_id, first.event_id.to_string());
    assert!(delivered.personal.is_some(), "consent covers the YOT in full");

    let withdrawal = cs.publish(consent_withdrawal("C-live", "P-live"), WAIT).await.unwrap();
    assert_eq!(next(&mut stream).await.event_id, withdrawal.event_id.to_string());
    // Consent gone: a new consent-only event is refused outright, and one with
    // another basis that does not cover the YOT is not delivered to it.
    let refused = vcs.publish(engaged(&[LawfulBasis::Consent]), WAIT).await.unwrap_err();
    // VCS relies on children's services' consent: it is told the consent is not
    // given for this child, not that it was withdrawn (that is the owner's to know).
    let refused = refused.to_string();
    assert!(refused.contains("is none") && !refused.contains("withdrawn"), "{refused}");
    // Nor does another basis beside it excuse the withdrawn consent it names.
    let also_refused = vcs.publish(engaged(&[LawfulBasis::Consent, LawfulBasis::LegalObligation]), WAIT).await;
    assert!(also_refused.unwrap_err().to_string().contains("is none"));
    let mut on_another_basis = engaged(&[LawfulBasis::LegalObligation]);
    on_another_basis.consent_ref.clear();
    let second = vcs.publish(on_another_basis, WAIT).await.unwrap();
    let arrest = police
        .publish(envelope(AgencyKind::Police, "P-live", Classification::Official, &[LawfulBasis::Safeguarding]), WAIT)
        .await
        .unwrap();
    let delivered = next(&mut stream).await;
    assert_eq!(delivered.event_id, arrest.event_id.to_string(), "the next delivery skips the event shared by consent");
    assert_ne!(delivered.event_id, second.event_id.to_string());

    // Read again from the start, the first engagement is withheld too.
    let mut again = client
        .subscribe(authorized(
            pb::SubscribeRequest { subject: Some(person("P-live")), ..Default::default() },
            &yot_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(next(&mut again).await.event_id);
    }
    assert!(!ids.contains(&first.event_id.to_string()) && !ids.contains(&second.event_id.to_string()), "{ids:?}");

    // Explain, for an information governance review (admins only).
    let mut policy = PolicyServiceClient::new(t.channel().await);
    let admin = t.token(&agency_of(AgencyKind::ChildrensServices), Role::Admin, Purpose::Administration);
    let ask = |role: &str, event_id: String| pb::ExplainRequest {
        agency_id: agency_of(AgencyKind::Yot),
        role: role.into(),
        purpose: "case_management".into(),
        event_id,
    };
    let why =
        policy.explain(authorized(ask("practitioner", first.event_id.to_string()), &admin)).await.unwrap().into_inner();
    assert_eq!(why.decision, pb::Visibility::Withheld as i32);
    assert_eq!((why.consent_ref.as_str(), why.consent_state.as_str()), ("C-live", "withdrawn"));
    assert!(why.policy_hash.starts_with("cedar:"), "{why:?}");
    let why = policy
        .explain(authorized(ask("practitioner", arrest.event_id.to_string()), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(why.decision, pb::Visibility::Show as i32);
    assert_eq!(why.see_detail_rules, vec!["statutory-partners".to_string()]);
    let bad = policy.explain(authorized(ask("wizard", arrest.event_id.to_string()), &admin)).await.unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert_eq!(concord_core::status::field_of(&bad).as_deref(), Some("role"));
    let denied =
        policy.explain(authorized(ask("practitioner", arrest.event_id.to_string()), &yot_token)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
}

#[test]
fn a_broken_agreement_stops_start_up_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy");
    std::fs::create_dir(&policy).unwrap();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy");
    std::fs::copy(deploy.join("concord.cedarschema"), policy.join("concord.cedarschema")).unwrap();
    let good = std::fs::read_to_string(deploy.join("agreement.cedar")).unwrap();

    // The shipped agreement checks.
    std::fs::write(policy.join("agreement.cedar"), &good).unwrap();
    let out = concord(&["policy", "check", "--policy", policy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let data = dir.path().join("data");
    let start = |policy: &Path| common::process::up_with_policy(&data, policy);
    // A syntax error on line 3, then a rule naming an attribute the schema lacks.
    let typo =
        format!("{good}\n@id(\"typo\")\npermit (principal, action, resource)\nwhen {{ principal.agency == \"x\" }};\n");
    let typo_lines = (good.lines().count() + 2)..=(good.lines().count() + 4);
    for (broken, lines) in
        [(format!("// x\n\npermit (principal, action resource);\n{good}"), 3..=3), (typo, typo_lines)]
    {
        std::fs::write(policy.join("agreement.cedar"), &broken).unwrap();
        for out in [start(&policy), concord(&["policy", "check", "--policy", policy.to_str().unwrap()])] {
            assert!(!out.status.success());
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("the sharing agreement is invalid"), "{stderr}");
            let line: usize = stderr
                .split("agreement.cedar:")
                .nth(1)
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no agreement.cedar:LINE in {stderr}"));
            assert!(lines.contains(&line), "line {line}, want {lines:?}: {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_agreement_applies_to_a_live_subscription_from_the_next_delivery() {
    let agencies = KINDS.iter().map(|k| AgencyId::parse(&agency_of(*k)).unwrap()).collect();
    let t = TestPlatform::start_for(agencies).await;
    let police = t.platform.node(&AgencyId::parse(&agency_of(AgencyKind::Police)).unwrap()).unwrap().clone();
    let arrest = || envelope(AgencyKind::Police, "P-policy", Classification::Official, &[LawfulBasis::Safeguarding]);
    let mut client = QueryServiceClient::new(t.channel().await);
    let yot = t.token(&agency_of(AgencyKind::Yot), Role::Practitioner, Purpose::Safeguarding);
    let request = pb::SubscribeRequest { subject: Some(person("P-policy")), ..Default::default() };
    let mut stream = client.subscribe(authorized(request, &yot)).await.unwrap().into_inner();
    let first = police.publish(arrest(), WAIT).await.unwrap();
    assert_eq!(next(&mut stream).await.event_id, first.event_id.to_string());

    // A stricter agreement: only exploitation concerns are shared.
    let schema =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy/concord.cedarschema"))
            .unwrap();
    let strict = "permit (principal, action, resource) when { resource.event_type == \"exploitation_concern\" };";
    let strict =
        concord_policy::CedarAgreement::from_texts(("strict.cedar", strict), ("concord.cedarschema", &schema)).unwrap();
    t.platform.views.set_policy(std::sync::Arc::new(strict));
    let second = police.publish(arrest(), WAIT).await.unwrap();
    let mut concern = arrest();
    concern.body = Some(
        bodies_for(AgencyKind::Police, Classification::Official)
            .into_iter()
            .find(|b| EventType::of(b) == EventType::ExploitationConcern)
            .unwrap(),
    );
    let third = police.publish(concern, WAIT).await.unwrap();
    let delivered = next(&mut stream).await;
    assert_eq!(delivered.event_id, third.event_id.to_string(), "the arrest after the change is withheld");
    assert_ne!(delivered.event_id, second.event_id.to_string());
    assert!(delivered.personal.is_some(), "the new agreement shows it in full");
}

#[test]
fn sighup_reloads_the_agreement_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy");
    std::fs::create_dir(&policy).unwrap();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy");
    for file in ["concord.cedarschema", "agreement.cedar"] {
        std::fs::copy(deploy.join(file), policy.join(file)).unwrap();
    }
    let s = |v: &str| v.to_string();
    let mut up = common::process::Proc::spawn_logging(
        "up",
        dir.path(),
        &[
            s("up"),
            s("--no-simulate"),
            s("--data"),
            dir.path().join("data").display().to_string(),
            s("--grpc"),
            s("127.0.0.1:0"),
            s("--policy"),
            policy.display().to_string(),
        ],
        "info",
    );
    up.wait_for_output("sharing agreement loaded", 60);
    // Ready (it serves, and listens for reloads).
    up.wait_for_output("concord up is ready", 60);

    std::fs::write(policy.join("agreement.cedar"), "permit (principal, action resource);").unwrap();
    up.signal("HUP");
    let out = up.wait_for_output("new sharing agreement refused", 30);
    assert!(out.contains("agreement.cedar:1:"), "the refusal names the line: {out}");
    assert!(up.running(), "a broken agreement on reload does not stop the platform");

    std::fs::write(policy.join("agreement.cedar"), "forbid (principal, action, resource);").unwrap();
    up.signal("HUP");
    up.wait_for_output("sharing agreement reloaded and in force", 30);
    assert!(up.running());
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_counts_the_consent_it_has_just_recorded_before_the_ledger_has_it() {
    use std::sync::Arc;
    // A node and a ledger's consent answers over an embedded bus, with the
    // ledger not consuming yet: what the node publishes stays unreceipted.
    let dir = tempfile::tempdir().unwrap();
    let layout = concord::layout::Layout::new(dir.path());
    let agency = AgencyId::parse(&agency_of(AgencyKind::ChildrensServices)).unwrap();
    layout.ensure_keys(std::slice::from_ref(&agency)).unwrap();
    let log = concord::platform::open_log(&layout, concord_log::kv::Engine::Redb).unwrap();
    let bus: Arc<dyn concord_bus::EventBus> = Arc::new(concord_bus::EmbeddedBus::new());
    bus.answer_consent(concord_ledger::consent::answerer(log.clone())).await.unwrap();
    let open = |name: &str| concord::platform::open_store(&layout, concord_log::kv::Engine::Redb, name).unwrap();
    let vault = Arc::new(concord::platform::open_vault(&layout, None).await.unwrap());
    let key = concord_core::sign::AgencyKey::load(agency.clone(), &layout.agency_key(&agency)).unwrap();
    let outbox = concord_node::Outbox::open(open("outbox")).unwrap();
    let node = concord_node::Node::start(key, vault, bus, outbox).await.unwrap();

    let mut relying =
        envelope(AgencyKind::ChildrensServices, "P-fast", Classification::OfficialSensitive, &[LawfulBasis::Consent]);
    relying.consent_ref = "C-fast".into();
    // The ledger has no such consent and neither has the node: refused.
    let refused = node.publish(relying.clone(), None).await.unwrap_err();
    assert!(refused.to_string().contains("consent `C-fast` is none"), "{refused}");
    // Once the node has recorded it (still unreceipted), the same event is accepted.
    node.publish(consent_record("C-fast", "P-fast", None), None).await.unwrap();
    node.publish(relying, None).await.unwrap();
    assert_eq!(log.size(), 0, "the ledger never saw either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_detail_stays_with_camhs_and_the_mash_and_admins_and_auditors_read_no_content() {
    let agencies = KINDS.iter().map(|k| AgencyId::parse(&agency_of(*k)).unwrap()).collect();
    let t = TestPlatform::start_for(agencies).await;
    let camhs = t.platform.node(&AgencyId::parse(&agency_of(AgencyKind::Camhs)).unwrap()).unwrap().clone();
    let referral = |classification: Classification, share_with: Vec<String>| {
        let body = pb::event::Body::MashReferral(pb::MashReferral {
            referrer_agency_id: agency_of(AgencyKind::Camhs),
            reason: pb::MashReason::MentalHealth as i32,
            decision: pb::ThresholdDecision::EarlyHelp as i32,
            decided_at: Some(ts(1_790_000_100)),
        });
        let mut e = envelope_with(AgencyKind::Camhs, "P-health", classification, &[LawfulBasis::Safeguarding], body);
        e.share_with = share_with;
        e
    };
    // Classified special category; and classified official but shared with the police.
    let mut ids = Vec::new();
    for e in [
        referral(Classification::SpecialCategory, vec![]),
        referral(Classification::Official, vec![agency_of(AgencyKind::Police)]),
    ] {
        ids.push(camhs.publish(e, WAIT).await.unwrap().event_id.to_string());
    }
    let mut client = QueryServiceClient::new(t.channel().await);
    let get = async |client: &mut QueryServiceClient<_>, id: &str, token: &str| {
        client.get_event(authorized(pb::GetEventRequest { event_id: id.to_string() }, token)).await
    };
    // The police learn that a referral exists and its decision; not why, nor the notes.
    let police = t.token(&agency_of(AgencyKind::Police), Role::Practitioner, Purpose::Safeguarding);
    for id in &ids {
        let view = get(&mut client, id, &police).await.unwrap().into_inner();
        assert_eq!(view.visibility, pb::Visibility::ShowRedacted as i32);
        let event = view.event.unwrap();
        assert!(event.personal.is_none() && event.sealed.is_empty(), "{event:?}");
        let Some(pb::event::Body::MashReferral(m)) = event.body else { panic!("{event:?}") };
        assert_eq!(m.reason, pb::MashReason::Unspecified as i32, "the reason is health detail");
        assert_eq!(m.decision, pb::ThresholdDecision::EarlyHelp as i32);
    }
    // The MASH, for safeguarding, reads it in full.
    let mash = t.token(&agency_of(AgencyKind::ChildrensServices), Role::Practitioner, Purpose::Safeguarding);
    let view = get(&mut client, &ids[0], &mash).await.unwrap().into_inner();
    let event = view.event.unwrap();
    assert!(
        matches!(event.body, Some(pb::event::Body::MashReferral(m)) if m.reason == pb::MashReason::MentalHealth as i32)
    );
    assert_eq!(event.personal.unwrap().text["notes"], "free text only some may read");

    // Admins and auditors, even of the publishing agency, read no content.
    for role in [Role::Admin, Role::Auditor] {
        for purpose in [Purpose::Administration, Purpose::Audit, Purpose::Safeguarding] {
            let token = t.token(&agency_of(AgencyKind::Camhs), role, purpose);
            for id in &ids {
                let status = get(&mut client, id, &token).await.unwrap_err();
                assert_eq!(status.code(), tonic::Code::NotFound, "{role:?} {purpose:?}");
            }
            let request = pb::SubjectTimelineRequest { subject: Some(person("P-health")), ..Default::default() };
            if let Ok(page) = client.subject_timeline(authorized(request, &token)).await {
                assert!(page.into_inner().events.is_empty(), "{role:?} {purpose:?}");
            }
        }
    }
}

/// What a VCS worker is told about a child of whom police hold records it
/// may not see, and about a child of whom nobody holds anything, with each
/// child's key and each event id written out of the answer.
struct Told {
    answers: Vec<String>,
}

impl Told {
    fn new() -> Self {
        Told { answers: Vec::new() }
    }

    /// Notes `answer`, with `hide` (keys, ids) replaced by placeholders and
    /// any other event id by `ID`.
    fn note(&mut self, answer: String, hide: &[(&str, &str)]) {
        let mut answer = answer;
        for (secret, placeholder) in hide {
            answer = answer.replace(secret, placeholder);
        }
        self.answers.push(without_ids(&answer));
    }

    /// Notes a refusal: its code and message.
    fn refused(&mut self, status: tonic::Status, hide: &[(&str, &str)]) {
        self.note(format!("{:?}: {}", status.code(), status.message()), hide);
    }
}

/// `text` with every UUID written as `ID`.
fn without_ids(text: &str) -> String {
    let (mut out, mut token) = (String::new(), String::new());
    let flush = |token: &mut String, out: &mut String| {
        let uuid = token.len() == 36 && [8, 13, 18, 23].iter().all(|&i| token.as_bytes()[i] == b'-');
        out.push_str(if uuid { "ID" } else { token.as_str() });
        token.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() || c == '-' {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// A VCS engagement about `key`, published by VCS: without personal data
/// and with its report time set, so publishing it again is a duplicate.
fn engagement(key: &str) -> pb::Event {
    let mut event = common::arrest(key, "");
    event.personal = None;
    event.recorded_at = Some(ts(1_790_000_100));
    event.agency_id = "vcs.st-giles".into();
    event.agency_kind = AgencyKind::Vcs as i32;
    event.body = Some(pb::event::Body::VcsEngagement(pb::VcsEngagement {
        programme: "mentoring".into(),
        sessions: 1,
        outcome: pb::EngagementOutcome::Engaged as i32,
    }));
    event
}

/// Nothing a VCS token gets over gRPC (a conflict, a duplicate publish, a
/// reused id, a correction, an item version, a not-found, a timeline) tells
/// it that police hold records about child A that it may not see: every
/// answer is the same as for child B, of whom there is nothing at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_a_caller_is_told_reveals_events_it_may_not_see() {
    use concord_core::pb::publish_service_client::PublishServiceClient;

    let t = TestPlatform::start_for(common::agencies()).await;
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    let cs = t.platform.node(&common::agency("childrens_services.harrow")).unwrap().clone();
    let (a, b) = ("P-withheldA", "P-nothingB");
    // Police hold three records about A, none shared with VCS; CS holds a
    // briefing item about A whose first version VCS may not see.
    let mut withheld = Vec::new();
    for _ in 0..3 {
        withheld.push(police.publish(common::arrest(a, "known to police"), WAIT).await.unwrap().event_id.to_string());
    }
    let item = |key: &str, share: bool| {
        let mut event = common::arrest(key, "");
        event.agency_id = "childrens_services.harrow".into();
        event.agency_kind = AgencyKind::ChildrensServices as i32;
        event.share_with = if share { vec!["vcs.st-giles".into()] } else { Vec::new() };
        event.body = Some(pb::event::Body::VveBriefingItem(pb::VveBriefingItem {
            item_id: format!("VVE-{key}"),
            area: "Wealdstone".into(),
            risk: pb::RiskLevel::High as i32,
            actions: Vec::new(),
        }));
        event
    };
    cs.publish(item(a, false), WAIT).await.unwrap();
    cs.publish(item(a, true), WAIT).await.unwrap();
    cs.publish(item(b, true), WAIT).await.unwrap();
    // Police correct one of A's records, and share the correction (only) with VCS;
    // for B they share one like it, correcting nothing.
    let shared = |key: &str, corrects: &str| {
        let mut event = common::arrest(key, "");
        event.corrects = corrects.into();
        event.share_with = vec!["vcs.st-giles".into()];
        event
    };
    let correction = police.publish(shared(a, &withheld[0]), WAIT).await.unwrap().event_id.to_string();
    let plain = police.publish(shared(b, ""), WAIT).await.unwrap().event_id.to_string();

    let vcs = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
    let channel = t.channel().await;
    let mut publish = PublishServiceClient::new(channel.clone());
    let mut query = QueryServiceClient::new(channel);
    let send = |event: pb::Event| authorized(pb::PublishRequest { event: Some(event), wait_for_ledger: true }, &vcs);
    let expecting = |key: &str, version: u64| {
        let mut event = engagement(key);
        event.expected_versions =
            vec![pb::ExpectedVersion { subject: Some(person(key)), version, item_id: String::new() }];
        event
    };

    let mut told = [Told::new(), Told::new()];
    for (key, told) in [a, b].into_iter().zip(told.iter_mut()) {
        let fresh = concord_core::EventId::new_v7().to_string();
        let mut hide = vec![(key, "KEY"), (fresh.as_str(), "ID")];
        hide.extend(withheld.iter().map(|id| (id.as_str(), "ID")));
        hide.push((correction.as_str(), "SHOWN"));
        hide.push((plain.as_str(), "SHOWN"));

        // Expected versions: VCS's own stream about the child is empty, whatever police hold.
        let first = publish.publish(send(expecting(key, 0))).await.unwrap().into_inner();
        let first_id = first.event_id.clone();
        told.note(format!("published, duplicate={}", first.duplicate), &hide);
        told.refused(publish.publish(send(expecting(key, 0))).await.unwrap_err(), &hide);
        told.refused(publish.publish(send(expecting(key, 7))).await.unwrap_err(), &hide);

        // A duplicate publish, and an id reused with other content: its own id
        // for B, an id of a police record it may not see for A.
        let mut again = expecting(key, 0);
        again.event_id = first_id.clone();
        let again = publish.publish(send(again)).await.unwrap().into_inner();
        told.note(format!("again: {}, duplicate={}", again.event_id == first_id, again.duplicate), &hide);
        let mut reused = engagement(key);
        reused.event_id = if key == a { withheld[1].clone() } else { first_id.clone() };
        told.refused(publish.publish(send(reused)).await.unwrap_err(), &hide);

        // A correction of a record it may not see, and of one not in the log.
        let mut theirs = engagement(key);
        theirs.corrects = if key == a { withheld[2].clone() } else { fresh.clone() };
        told.refused(publish.publish(send(theirs)).await.unwrap_err(), &hide);

        // Reading: a police record it may not see, or an id not in the log.
        let asked = if key == a { withheld[0].clone() } else { fresh.clone() };
        let missing = query.get_event(authorized(pb::GetEventRequest { event_id: asked }, &vcs)).await.unwrap_err();
        told.note(format!("{:?} {}", missing.code(), missing.message()), &hide);

        // The timeline: the shared arrest (a correction of a withheld record
        // for A), the briefing item (a later version for A), its own events.
        let request = pb::SubjectTimelineRequest { subject: Some(person(key)), ..Default::default() };
        let page = query.subject_timeline(authorized(request, &vcs)).await.unwrap().into_inner();
        let kinds: Vec<String> = page
            .events
            .iter()
            .map(|v| {
                let event = v.event.as_ref().unwrap();
                let body = event.body.as_ref().map(|b| EventType::of(b).to_string()).unwrap_or_default();
                format!(
                    "{body} by {} corrects={:?} changes={:?} superseded_by={:?} item_version={}",
                    event.agency_id, event.corrects, v.changes, v.superseded_by, v.item_version
                )
            })
            .collect();
        told.note(format!("{kinds:?} next={:?}", page.next_page_token), &hide);
    }
    let [told_a, told_b] = told;
    assert_eq!(told_a.answers.len(), 8);
    for (about_a, about_b) in told_a.answers.iter().zip(&told_b.answers) {
        assert_eq!(about_a, about_b, "VCS is told something different about a child police hold records on");
    }
    for answer in &told_a.answers {
        for secret in ["police.met.nw", "position", "stream is at", "number 3", "number 4"] {
            if answer.contains("arrest by police.met.nw") {
                continue;
            }
            assert!(!answer.contains(secret), "`{secret}` in {answer}");
        }
    }
}
