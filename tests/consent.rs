//! Consent provenance, from the attacker's side over gRPC against a running
//! platform: a consent belongs to the agency that recorded it (another
//! agency can neither rewrite nor withdraw it, at the node or past it at the
//! ledger); it covers only the people it names; whenever consent is among an
//! event's bases its reference must resolve to a consent given for those
//! people, whatever other bases the event has; and who gave it must fit the
//! subject (an adult's NRM referral needs the adult's own consent).

use crate::common;

use std::time::Duration;

use common::{TestPlatform, agency, arrest, as_camhs_contact, authorized, publish};
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_core::{pb, status};
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use tonic::Code;

fn person(key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
}

/// `agency_id` (of `kind`) records consent `id` for `subjects`, given by
/// `given_by`, for YOT and children's services, for safeguarding.
fn consent(
    agency_id: &str,
    kind: pb::AgencyKind,
    id: &str,
    subjects: &[&str],
    given_by: pb::ConsentGiver,
) -> pb::Event {
    let mut e = arrest(subjects[0], "");
    e.agency_id = agency_id.into();
    e.agency_kind = kind as i32;
    e.classification = pb::Classification::Official as i32;
    e.subjects = subjects.iter().map(|s| person(s)).collect();
    e.personal = None;
    e.body = Some(pb::event::Body::ConsentRecorded(pb::ConsentRecorded {
        consent_id: id.into(),
        given_by: given_by as i32,
        agency_kinds: vec![pb::AgencyKind::Yot as i32, pb::AgencyKind::ChildrensServices as i32],
        agency_ids: vec![],
        purposes: vec![pb::Purpose::Safeguarding as i32],
        expires_at: None,
    }));
    e
}

fn refused_on(result: Result<pb::PublishResponse, tonic::Status>, field: &str) -> String {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(status::field_of(&status).as_deref(), Some(field), "{status:?}");
    status.message().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consent_belongs_to_the_agency_that_recorded_it() {
    let t = TestPlatform::start(Engine::Redb).await;
    let camhs = t.token("camhs.nwl", Role::Practitioner, Purpose::Safeguarding);
    let vcs = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
    let given = consent("camhs.nwl", pb::AgencyKind::Camhs, "C-owned", &["P-own001"], pb::ConsentGiver::Child);
    publish(&t, given, &camhs).await.unwrap();
    let mut contact = as_camhs_contact(arrest("P-own001", "talked about home"));
    contact.lawful_basis = vec![pb::LawfulBasis::Consent as i32];
    contact.consent_ref = "C-owned".into();
    let contact_id = publish(&t, contact, &camhs).await.unwrap().event_id;

    // VCS reuses the id to widen the consent to itself, then to withdraw it: refused at its node.
    let mut hijack = consent("vcs.st-giles", pb::AgencyKind::Vcs, "C-owned", &["P-own001"], pb::ConsentGiver::Child);
    if let Some(pb::event::Body::ConsentRecorded(c)) = &mut hijack.body {
        c.agency_kinds = vec![pb::AgencyKind::Vcs as i32];
    }
    let message = refused_on(publish(&t, hijack.clone(), &vcs).await, "consent_recorded.consent_id");
    assert!(message.contains("another agency"), "{message}");
    let mut withdrawal = hijack.clone();
    withdrawal.body = Some(pb::event::Body::ConsentWithdrawn(pb::ConsentWithdrawn { consent_id: "C-owned".into() }));
    refused_on(publish(&t, withdrawal.clone(), &vcs).await, "consent_withdrawn.consent_id");

    // Past the node, straight onto the bus with VCS's own key: the ledger refuses both.
    let vcs_node = t.platform.node(&agency("vcs.st-giles")).unwrap();
    let mut receipts = t.platform.bus.receipts(&agency("vcs.st-giles")).await.unwrap();
    for event in [hijack, withdrawal] {
        let (id, outbound) = vcs_node.prepare(event).await.unwrap();
        t.platform.bus.publish(outbound).await.unwrap();
        let receipt = loop {
            let r = tokio::time::timeout(Duration::from_secs(10), receipts.next()).await.unwrap().unwrap();
            if r.event_id == id.to_string() {
                break r;
            }
        };
        let Some(pb::receipt::Outcome::Rejected(reason)) = receipt.outcome else {
            panic!("the ledger took another agency's consent event: {receipt:?}");
        };
        assert!(reason.contains("only the agency that recorded a consent"), "{reason}");
    }

    // The consent stands as CAMHS recorded it: VCS reads nothing, the YOT still reads the contact.
    let get = |token: String| {
        let (t, id) = (&t, contact_id.clone());
        async move {
            let mut client = QueryServiceClient::new(t.channel().await);
            client.get_event(authorized(pb::GetEventRequest { event_id: id }, &token)).await
        }
    };
    assert_eq!(get(vcs).await.unwrap_err().code(), Code::NotFound);
    let yot = t.token("yot.harrow", Role::Practitioner, Purpose::Safeguarding);
    assert!(get(yot).await.is_ok(), "the consent CAMHS gave still covers the YOT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consent_covers_only_the_people_it_names_whatever_the_other_bases() {
    let t = TestPlatform::start(Engine::Redb).await;
    let cs = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let given = consent(
        "childrens_services.harrow",
        pb::AgencyKind::ChildrensServices,
        "C-one",
        &["P-named01"],
        pb::ConsentGiver::Child,
    );
    publish(&t, given, &cs).await.unwrap();
    let about = |subjects: &[&str], bases: &[pb::LawfulBasis], consent_ref: &str| {
        let mut e = arrest(subjects[0], "");
        e.agency_id = "childrens_services.harrow".into();
        e.agency_kind = pb::AgencyKind::ChildrensServices as i32;
        e.subjects = subjects.iter().map(|s| person(s)).collect();
        e.personal = None;
        e.lawful_basis = bases.iter().map(|b| *b as i32).collect();
        e.consent_ref = consent_ref.into();
        e.body = Some(pb::event::Body::ExploitationConcern(pb::ExploitationConcern {
            exploitation_type: pb::ExploitationType::Criminal as i32,
            risk: pb::RiskLevel::High as i32,
            adult: false,
        }));
        e
    };
    // One person's consent does not cover another person named beside them.
    let both = about(&["P-named01", "P-other01"], &[pb::LawfulBasis::Consent], "C-one");
    let message = refused_on(publish(&t, both, &cs).await, "consent_ref");
    assert!(message.contains("none"), "{message}");
    // Another basis beside consent does not excuse a consent that does not resolve.
    let invented = about(&["P-named01"], &[pb::LawfulBasis::Consent, pb::LawfulBasis::Safeguarding], "C-invented");
    refused_on(publish(&t, invented, &cs).await, "consent_ref");
    // The person it names is covered.
    publish(&t, about(&["P-named01"], &[pb::LawfulBasis::Consent], "C-one"), &cs).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_adults_nrm_referral_needs_the_adults_own_consent() {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let nrm = |consent_ref: &str| {
        let mut e = arrest("P-adult01", "");
        e.personal = None;
        e.lawful_basis = vec![pb::LawfulBasis::Consent as i32, pb::LawfulBasis::Safeguarding as i32];
        e.consent_ref = consent_ref.into();
        e.body = Some(pb::event::Body::NrmReferral(pb::NrmReferral {
            exploitation_type: pb::ExploitationType::ModernSlavery as i32,
            minor: false,
        }));
        e
    };
    refused_on(publish(&t, nrm("C-made-up"), &police).await, "consent_ref");
    let by_parent =
        consent("police.met.nw", pb::AgencyKind::Police, "C-parent", &["P-adult01"], pb::ConsentGiver::ParentCarer);
    publish(&t, by_parent, &police).await.unwrap();
    let message = refused_on(publish(&t, nrm("C-parent"), &police).await, "consent_ref");
    assert!(message.contains("the adult themselves"), "{message}");
    let by_adult =
        consent("police.met.nw", pb::AgencyKind::Police, "C-adult", &["P-adult01"], pb::ConsentGiver::AdultSubject);
    publish(&t, by_adult, &police).await.unwrap();
    publish(&t, nrm("C-adult"), &police).await.unwrap();
    // A consent given by a person for themselves names exactly that person.
    let two = consent(
        "police.met.nw",
        pb::AgencyKind::Police,
        "C-two",
        &["P-adult01", "P-adult02"],
        pb::ConsentGiver::AdultSubject,
    );
    refused_on(publish(&t, two, &police).await, "subjects");
}
