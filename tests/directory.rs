//! The partnership directory against a real platform (its parts over a real
//! nats-server on free ports, redb on a temp dir, gRPC over a socket): one
//! child published by police and children's services under their own
//! record numbers is one subject, found by either number and by name,
//! misspelled and transposed searches find it with a lower score, a reader
//! who may see nothing about it cannot tell it from no match, the store
//! holds no name in plaintext, every search is audited, and an erased
//! subject is no longer found.

use std::path::Path;
use std::time::Duration;

use concord_core::pb;
use concord_core::pb::admin_service_client::AdminServiceClient;
use concord_core::pb::directory_service_client::DirectoryServiceClient;
use concord_identity::{Purpose, Role};
use tonic::Code;
use tonic::transport::Channel;

use crate::common::nats::NatsServer;
use crate::common::{TestPlatform, agency, authorized, publish};

const CHILD: &str = "P-dir0001";
const OTHER: &str = "P-dir0002";
const FIND: &str = "/concord.v1.DirectoryService/Find";

fn person(key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
}

/// `agency` attaching `identity` to `subject`, shared under safeguarding.
fn identified(agency_id: &str, subject: &str, identity: pb::Identity) -> pb::Event {
    pb::Event {
        agency_id: agency_id.into(),
        agency_kind: agency(agency_id).kind() as i32,
        subjects: vec![person(subject)],
        occurred_at: Some(concord_core::timestamp(concord_core::now_millis())),
        borough: "Harrow".into(),
        ward: "Wealdstone".into(),
        classification: pb::Classification::OfficialSensitive as i32,
        lawful_basis: vec![pb::LawfulBasis::Safeguarding as i32],
        schema_version: 1,
        personal: Some(pb::Personal {
            identities: vec![pb::Identity { subject_key: subject.into(), ..identity }],
            ..Default::default()
        }),
        body: Some(pb::event::Body::SubjectIdentified(pb::SubjectIdentified {})),
        ..Default::default()
    }
}

fn id(scheme: &str, value: &str) -> pb::AgencyIdentifier {
    pb::AgencyIdentifier { scheme: scheme.into(), value: value.into() }
}

fn by_name(name: &str, born: &str) -> pb::FindRequest {
    pb::FindRequest { name: name.into(), date_of_birth: born.into(), ..Default::default() }
}

async fn find(client: &mut DirectoryServiceClient<Channel>, token: &str, request: pb::FindRequest) -> pb::FindResponse {
    client.find(authorized(request, token)).await.unwrap().into_inner()
}

fn keys(found: &pb::FindResponse) -> Vec<String> {
    found.hits.iter().map(|h| h.subject.as_ref().unwrap().key.clone()).collect()
}

fn reasons(hit: &pb::DirectoryHit) -> Vec<(pb::MatchField, pb::MatchHow)> {
    hit.reasons
        .iter()
        .map(|r| (pb::MatchField::try_from(r.field).unwrap(), pb::MatchHow::try_from(r.how).unwrap()))
        .collect()
}

/// Every file under `dir` holding `needle` (in any case).
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let needles = [needle.to_string(), needle.to_lowercase(), needle.to_uppercase()];
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && needles.iter().any(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_child_from_two_agencies_is_found_as_one_subject_within_the_agreement() {
    let nats = NatsServer::start();
    let t = TestPlatform::start_nats(&nats.url()).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let social = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let vcs = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);

    // Police and children's services each attach their own record number.
    let by_police = pb::Identity {
        name: "Kwabena Oyelaran-Whitfield".into(),
        date_of_birth: "2009-04-07".into(),
        address: "14 Bramble Court, Wealdstone, Harrow HA3 7QX".into(),
        identifiers: vec![id("police.met.nw/crn", "01/77341")],
        ..Default::default()
    };
    publish(&t, identified("police.met.nw", CHILD, by_police), &police).await.unwrap();
    let by_social_care = pb::Identity {
        name: "Kwabéna OYELARAN WHITFIELD".into(),
        date_of_birth: "2009-04-07".into(),
        identifiers: vec![id("childrens_services.harrow/lcs", "LCS-556102")],
        ..Default::default()
    };
    publish(&t, identified("childrens_services.harrow", CHILD, by_social_care), &social).await.unwrap();
    // Another child, known to police only.
    let other = pb::Identity {
        name: "Tomasz Wierzbicki".into(),
        date_of_birth: "2008-11-20".into(),
        identifiers: vec![id("police.met.nw/crn", "01/90002")],
        ..Default::default()
    };
    publish(&t, identified("police.met.nw", OTHER, other), &police).await.unwrap();

    let mut client = DirectoryServiceClient::new(t.channel().await);
    // Each agency finds the child by its own record number: one subject.
    let crn = pb::FindRequest { identifier: Some(id("police.met.nw/crn", "01 / 77341")), ..Default::default() };
    let found = find(&mut client, &police, crn.clone()).await;
    assert_eq!(keys(&found), [CHILD]);
    assert_eq!(reasons(&found.hits[0]), [(pb::MatchField::Identifier, pb::MatchHow::Exact)]);
    let lcs =
        pb::FindRequest { identifier: Some(id("childrens_services.harrow/lcs", "lcs-556102")), ..Default::default() };
    assert_eq!(keys(&find(&mut client, &social, lcs).await), [CHILD]);

    // By name and date of birth: one hit, whichever spelling was recorded.
    let exact = find(&mut client, &social, by_name("kwabena oyelaran-whitfield", "2009-04-07")).await;
    assert_eq!(keys(&exact), [CHILD], "the two agencies' records are one subject");
    assert_eq!(exact.hits[0].score, 1.0);
    // Misspelled, and with day and month swapped: found, with a lower score.
    let misspelled = find(&mut client, &social, by_name("Kwabena Oyelaran Whitfeild", "2009-04-07")).await;
    assert_eq!(keys(&misspelled), [CHILD]);
    assert!(misspelled.hits[0].score < 1.0, "{misspelled:?}");
    assert!(reasons(&misspelled.hits[0]).contains(&(pb::MatchField::Name, pb::MatchHow::SoundsLike)));
    let transposed = find(&mut client, &social, by_name("Kwabena Oyelaran-Whitfield", "2009-07-04")).await;
    assert_eq!(keys(&transposed), [CHILD]);
    assert!(transposed.hits[0].score < 1.0);
    assert!(reasons(&transposed.hits[0]).contains(&(pb::MatchField::DateOfBirth, pb::MatchHow::DayMonthTransposed)));
    let initial = find(&mut client, &police, by_name("K. Whitfield", "")).await;
    assert_eq!(keys(&initial), [CHILD]);
    let postcode = pb::FindRequest { postcode: "ha3 7qx".into(), ..Default::default() };
    assert_eq!(keys(&find(&mut client, &police, postcode).await), [CHILD]);

    // The VCS may see nothing about either child: its search for one looks
    // exactly like a search for no one.
    let about_child = client.find(authorized(by_name("Kwabena Oyelaran-Whitfield", "2009-04-07"), &vcs)).await;
    let about_no_one = client.find(authorized(by_name("Nobody Atall", "2001-01-01"), &vcs)).await;
    let (about_child, about_no_one) = (about_child.unwrap(), about_no_one.unwrap());
    assert_eq!(about_child.metadata().len(), about_no_one.metadata().len());
    assert_eq!(about_child.into_inner(), about_no_one.into_inner());
    let by_vcs = find(&mut client, &vcs, crn.clone()).await;
    assert!(by_vcs.hits.is_empty());

    // A malformed search is refused naming the field, and audited too.
    let refused = client.find(authorized(by_name("", "07/04/2009"), &police)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(concord_core::status::field_of(&refused).as_deref(), Some("date_of_birth"));

    // Every search is in the audit log, with its terms as keyed hashes only.
    // (Over NATS the audit log is built from the audit stream: it may lag a moment.)
    let searches = 11;
    let mut records = Vec::new();
    for _ in 0..200 {
        let audit = &t.platform.audit;
        records = (1..=audit.log().size()).map(|p| audit.get(p).unwrap().unwrap()).filter(|r| r.rpc == FIND).collect();
        if records.len() >= searches {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(records.len(), searches, "{records:#?}");
    for record in &records {
        for plain in ["kwabena", "Kwabena", "whitfield", "77341", "2009-04-07", "HA3"] {
            assert!(!record.parameters.contains(plain), "{}", record.parameters);
        }
    }
    let vcs_records: Vec<_> = records.iter().filter(|r| r.agency_id == "vcs.st-giles").collect();
    assert_eq!(vcs_records.len(), 3);
    assert!(vcs_records.iter().all(|r| r.shown.is_empty()));
    assert!(records.iter().any(|r| r.shown.iter().any(|s| s.subjects.contains(&person(CHILD)))));

    // No store of the data directory holds a name or a record number in plaintext.
    for needle in ["Oyelaran", "Whitfield", "Kwabena", "Wierzbicki", "77341", "556102", "Bramble"] {
        assert_eq!(files_holding(t.dir.path(), needle), Vec::<String>::new(), "{needle} in plaintext");
    }

    // Erased (two data protection officers of different agencies), the child
    // is no longer found; the other child still is.
    erase(&t, CHILD).await;
    assert!(find(&mut client, &police, crn).await.hits.is_empty());
    assert!(find(&mut client, &social, by_name("Kwabena Oyelaran-Whitfield", "2009-04-07")).await.hits.is_empty());
    let other = pb::FindRequest { identifier: Some(id("police.met.nw/crn", "01/90002")), ..Default::default() };
    assert_eq!(keys(&find(&mut client, &police, other).await), [OTHER]);
}

/// Files an erasure of `key` and has another agency's data protection officer approve it.
async fn erase(t: &TestPlatform, key: &str) {
    let officer = |sub: &str, agency_id: &str| {
        t.layout()
            .issuer()
            .unwrap()
            .mint(sub, &agency(agency_id), Role::DataProtection, Purpose::Administration, Duration::from_secs(600))
            .unwrap()
    };
    let (filer, approver) = (officer("cs-dpo", "childrens_services.harrow"), officer("police-dpo", "police.met.nw"));
    let mut admin = AdminServiceClient::new(t.channel().await);
    let filed = pb::FileRequestRequest {
        kind: pb::RequestKind::Erasure as i32,
        subject: Some(person(key)),
        reason: "erasure request 2026-7: no longer necessary".into(),
    };
    let filed = admin.file_request(authorized(filed, &filer)).await.unwrap().into_inner();
    let decided = pb::DecideRequestRequest {
        request_id: filed.request_id,
        decision: pb::RequestDecision::Approve as i32,
        ..Default::default()
    };
    let decided = admin.decide_request(authorized(decided, &approver)).await.unwrap().into_inner();
    assert!(decided.had_key);
}

/// `agency_id` saying `duplicate` is `kept` (or, with `undo`, that it is not).
pub(crate) fn merge(agency_id: &str, kept: &str, duplicate: &str, undo: bool) -> pb::Event {
    let mut event = identified(agency_id, kept, pb::Identity::default());
    event.personal = None;
    event.subjects = vec![person(kept), person(duplicate)];
    event.body = Some(match undo {
        false => pb::event::Body::SubjectsMerged(pb::SubjectsMerged {}),
        true => pb::event::Body::SubjectsUnmerged(pb::SubjectsUnmerged {}),
    });
    event
}

async fn timeline(t: &TestPlatform, token: &str, key: &str) -> Vec<(String, Option<String>)> {
    let mut client = pb::query_service_client::QueryServiceClient::new(t.channel().await);
    let (mut out, mut page_token) = (Vec::new(), String::new());
    loop {
        // Small pages, so a merged timeline is followed across page tokens.
        let request = pb::SubjectTimelineRequest { subject: Some(person(key)), page_size: 2, page_token };
        let page = client.subject_timeline(authorized(request, token)).await.unwrap().into_inner();
        for view in page.events {
            let event = view.event.unwrap();
            let kind = event.body.as_ref().map(|b| concord_core::EventType::of(b).to_string());
            out.push((event.event_id, kind));
        }
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_moves_one_timeline_into_the_other_and_an_unmerge_restores_both() {
    let nats = NatsServer::start();
    let t = TestPlatform::start_nats(&nats.url()).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let social = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let (kept, duplicate) = ("P-merge01", "P-merge02");
    // Two agencies created two keys for one child.
    let child = |crn: &str| pb::Identity {
        name: "Amara Nwachukwu".into(),
        date_of_birth: "2010-06-01".into(),
        identifiers: vec![id(crn.split('=').next().unwrap(), crn.split('=').nth(1).unwrap())],
        ..Default::default()
    };
    let mut own = Vec::new();
    own.push(
        publish(&t, identified("police.met.nw", kept, child("police.met.nw/crn=01/55501")), &police).await.unwrap(),
    );
    own.push(publish(&t, crate::common::arrest(kept, "notes"), &police).await.unwrap());
    let theirs = publish(
        &t,
        identified("childrens_services.harrow", duplicate, child("childrens_services.harrow/lcs=L-9")),
        &social,
    )
    .await
    .unwrap();
    let ids = |responses: &[&pb::PublishResponse]| responses.iter().map(|r| r.event_id.clone()).collect::<Vec<_>>();
    let kept_before: Vec<String> = timeline(&t, &social, kept).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(kept_before, ids(&own.iter().collect::<Vec<_>>()));
    let duplicate_before: Vec<String> = timeline(&t, &social, duplicate).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(duplicate_before, ids(&[&theirs]));
    let mut directory = DirectoryServiceClient::new(t.channel().await);
    let by_name = || by_name("Amara Nwachukwu", "2010-06-01");
    let mut both = keys(&find(&mut directory, &social, by_name()).await);
    both.sort();
    assert_eq!(both, [kept, duplicate], "two subjects: a likely duplicate");
    let duplicates_of = |key: &str| pb::DuplicatesRequest { subject: Some(person(key)), limit: 0 };
    let proposed = directory.duplicates(authorized(duplicates_of(kept), &social)).await.unwrap().into_inner();
    assert_eq!(keys(&proposed), [duplicate], "proposed");
    assert_eq!(proposed.hits[0].score, 1.0);
    let vcs = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
    let hidden = directory.duplicates(authorized(duplicates_of(kept), &vcs)).await.unwrap().into_inner();
    assert!(hidden.hits.is_empty(), "nothing proposed from what the VCS may not see");

    // Merged: the duplicate's timeline moves into the one kept.
    let merged = publish(&t, merge("childrens_services.harrow", kept, duplicate, false), &social).await.unwrap();
    let after_merge = timeline(&t, &social, kept).await;
    let expected = [own[0].event_id.clone(), own[1].event_id.clone(), theirs.event_id.clone(), merged.event_id.clone()];
    assert_eq!(after_merge.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), expected);
    let moved = timeline(&t, &social, duplicate).await;
    assert_eq!(moved, [(merged.event_id.clone(), Some("subjects_merged".to_string()))], "only where it went");
    assert_eq!(keys(&find(&mut directory, &social, by_name()).await), [kept], "found as the subject kept");
    let lcs = pb::FindRequest { identifier: Some(id("childrens_services.harrow/lcs", "L-9")), ..Default::default() };
    assert_eq!(keys(&find(&mut directory, &social, lcs.clone()).await), [kept]);
    let proposed = directory.duplicates(authorized(duplicates_of(kept), &social)).await.unwrap().into_inner();
    assert!(proposed.hits.is_empty(), "merged: no longer proposed");

    // Unmerged: each has its own timeline again (with the merge and its undoing).
    let unmerged = publish(&t, merge("childrens_services.harrow", kept, duplicate, true), &social).await.unwrap();
    let kept_after: Vec<String> = timeline(&t, &social, kept).await.into_iter().map(|(id, _)| id).collect();
    let mut expected_kept = ids(&own.iter().collect::<Vec<_>>());
    expected_kept.extend([merged.event_id.clone(), unmerged.event_id.clone()]);
    assert_eq!(kept_after, expected_kept);
    let duplicate_after: Vec<String> = timeline(&t, &social, duplicate).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(duplicate_after, [theirs.event_id.clone(), merged.event_id.clone(), unmerged.event_id.clone()]);
    assert_eq!(keys(&find(&mut directory, &social, lcs).await), [duplicate]);

    // Merges are events like any other: the log still verifies end to end.
    let size = t.platform.log.size();
    let root = t.platform.log.root_at(size).unwrap();
    for position in 1..=size {
        let proof = t.platform.log.inclusion_proof(position, size).unwrap();
        let leaf = concord_log::hash::leaf_hash(&t.platform.log.get(position).unwrap().unwrap().bytes);
        concord_log::verify::verify_inclusion(&leaf, position - 1, size, &proof, &root).unwrap();
    }
}

fn subject(kind: pb::SubjectKind, key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: kind as i32, key: key.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn places_and_vehicles_have_profiles_and_are_found_by_address_uprn_and_registration() {
    let nats = NatsServer::start();
    let t = TestPlatform::start_nats(&nats.url()).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let yot = t.token("yot.harrow", Role::Practitioner, Purpose::Safeguarding);
    let vcs = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
    let (place, vehicle) = (subject(pb::SubjectKind::Place, "PL-flat14"), subject(pb::SubjectKind::Vehicle, "V-ab12"));
    let mut flat = identified(
        "police.met.nw",
        "PL-flat14",
        pb::Identity {
            address: "Flat 2, 14 Bramble Court, Harrow".into(),
            postcode: "HA3 7QX".into(),
            uprn: "100021234567".into(),
            ..Default::default()
        },
    );
    flat.subjects = vec![place.clone()];
    publish(&t, flat, &police).await.unwrap();
    let mut car =
        identified("police.met.nw", "V-ab12", pb::Identity { registration: "AB12 CDE".into(), ..Default::default() });
    car.subjects = vec![vehicle.clone()];
    car.ward = "Greenhill".into();
    publish(&t, car, &police).await.unwrap();

    let mut directory = DirectoryServiceClient::new(t.channel().await);
    let by_registration =
        pb::FindRequest { registration: "ab12cde".into(), kind: pb::SubjectKind::Vehicle as i32, ..Default::default() };
    assert_eq!(keys(&find(&mut directory, &yot, by_registration).await), ["V-ab12"]);
    let as_person =
        pb::FindRequest { registration: "AB12 CDE".into(), kind: pb::SubjectKind::Person as i32, ..Default::default() };
    assert!(find(&mut directory, &yot, as_person).await.hits.is_empty(), "a vehicle is no person");
    let by_uprn = pb::FindRequest { identifier: Some(id("uprn", "100021234567")), ..Default::default() };
    assert_eq!(keys(&find(&mut directory, &yot, by_uprn).await), ["PL-flat14"]);
    let by_address = pb::FindRequest { address: "flat 2 14 bramble court harrow".into(), ..Default::default() };
    assert_eq!(keys(&find(&mut directory, &yot, by_address).await), ["PL-flat14"]);

    let profile = |s: &pb::SubjectRef| pb::ProfileRequest { subject: Some(s.clone()) };
    let flat = directory.profile(authorized(profile(&place), &yot)).await.unwrap().into_inner();
    assert_eq!(flat.addresses, ["Flat 2, 14 Bramble Court, Harrow"]);
    assert_eq!(
        (flat.postcodes, flat.uprns, flat.wards),
        (vec!["HA3 7QX".to_string()], vec!["100021234567".to_string()], vec!["Wealdstone".to_string()])
    );
    let car = directory.profile(authorized(profile(&vehicle), &yot)).await.unwrap().into_inner();
    assert_eq!((car.registrations, car.wards), (vec!["AB12 CDE".to_string()], vec!["Greenhill".to_string()]));

    // The VCS may see nothing about the flat: its profile is refused as a
    // subject nobody holds is.
    let hidden = directory.profile(authorized(profile(&place), &vcs)).await.unwrap_err();
    let unknown = subject(pb::SubjectKind::Place, "PL-nobody");
    let missing = directory.profile(authorized(profile(&unknown), &vcs)).await.unwrap_err();
    assert_eq!((hidden.code(), missing.code()), (Code::NotFound, Code::NotFound));
    assert_eq!(hidden.message().replace("PL-flat14", "X"), missing.message().replace("PL-nobody", "X"));
}

pub(crate) fn cohort_change(agency_id: &str, cohort: &str, removed: bool, keys: &[&str]) -> pb::Event {
    let mut event = identified(agency_id, keys[0], pb::Identity::default());
    event.personal = None;
    event.subjects = keys.iter().map(|k| person(k)).collect();
    event.body = Some(pb::event::Body::CohortChanged(pb::CohortChanged { cohort: cohort.into(), removed }));
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agency_keeps_a_cohort_as_events_and_a_live_feed_follows_it() {
    let nats = NatsServer::start();
    let t = TestPlatform::start_nats(&nats.url()).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let yot = t.token("yot.harrow", Role::Practitioner, Purpose::Safeguarding);
    publish(&t, cohort_change("yot.harrow", "caseload", false, &["P-coh01", "P-coh02"]), &yot).await.unwrap();
    // Another agency's cohort of the same name is its own.
    publish(&t, cohort_change("police.met.nw", "caseload", false, &["P-coh03"]), &police).await.unwrap();
    let mut directory = DirectoryServiceClient::new(t.channel().await);
    let members =
        |token: &str| authorized(pb::CohortRequest { cohort: "caseload".into(), ..Default::default() }, token);
    let keys_of = |m: pb::CohortMembers| m.members.into_iter().map(|s| s.key).collect::<Vec<_>>();
    assert_eq!(keys_of(directory.cohort(members(&yot)).await.unwrap().into_inner()), ["P-coh01", "P-coh02"]);
    assert_eq!(keys_of(directory.cohort(members(&police)).await.unwrap().into_inner()), ["P-coh03"]);

    // The YOT's live feed of its caseload: only events about its members,
    // membership as it stands at each event.
    let mut query = pb::query_service_client::QueryServiceClient::new(t.channel().await);
    let request = pb::SubscribeRequest { cohort: "caseload".into(), ..Default::default() };
    let mut feed = query.subscribe(authorized(request, &yot)).await.unwrap().into_inner();
    let member = publish(&t, crate::common::arrest("P-coh01", ""), &police).await.unwrap();
    let outsider = publish(&t, crate::common::arrest("P-coh03", ""), &police).await.unwrap();
    let left = publish(&t, cohort_change("yot.harrow", "caseload", true, &["P-coh01"]), &yot).await.unwrap();
    let after_leaving = publish(&t, crate::common::arrest("P-coh01", ""), &police).await.unwrap();
    let last = publish(&t, crate::common::arrest("P-coh02", ""), &police).await.unwrap();
    let mut delivered = Vec::new();
    while delivered.last() != Some(&last.event_id) {
        let view = tokio::time::timeout(Duration::from_secs(10), feed.message()).await.unwrap().unwrap().unwrap();
        delivered.push(view.event.unwrap().event_id);
    }
    assert_eq!(delivered.len(), 4, "{delivered:?}");
    // The YOT's own first cohort event, the member's arrest, the leaving; not
    // the outsider's arrest nor the arrest after leaving.
    assert_eq!(delivered[1..], [member.event_id, left.event_id, last.event_id.clone()]);
    assert!(!delivered.contains(&outsider.event_id) && !delivered.contains(&after_leaving.event_id));
}

/// Replays the whole log as an analyst into a problem profile: how many
/// people were reported missing, and how many of them more than once.
async fn missing_people_replayed(t: &TestPlatform) -> (u64, u64) {
    use futures::StreamExt;
    let analyst = t.token("childrens_services.harrow", Role::Analyst, Purpose::Analysis);
    let mut client = pb::replay_service_client::ReplayServiceClient::new(t.channel().await);
    let request = pb::ReplayRequest { analysis_id: "merges".into(), ..Default::default() };
    let mut stream = client.replay(authorized(request, &analyst)).await.unwrap().into_inner();
    let mut profile = concord_analytics::Profile::new(concord_analytics::ProfileConfig::default());
    while let Some(batch) = stream.next().await {
        batch.unwrap().events.iter().for_each(|e| profile.apply(e));
    }
    let missing = profile.figures(&concord_analytics::Population::default()).repeat_missing;
    (missing.people, missing.repeat_people)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_profile_counts_a_merged_pair_as_one_person_until_it_is_unmerged() {
    let t = TestPlatform::start(concord_log::kv::Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let social = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let high = pb::RiskLevel::High;
    publish(&t, crate::alerts::missing("P-rm01", "E-rm1", high), &police).await.unwrap();
    publish(&t, crate::alerts::missing("P-rm02", "E-rm2", high), &police).await.unwrap();
    assert_eq!(missing_people_replayed(&t).await, (2, 0), "two people, each missing once");
    publish(&t, merge("childrens_services.harrow", "P-rm01", "P-rm02", false), &social).await.unwrap();
    assert_eq!(missing_people_replayed(&t).await, (1, 1), "one person, missing twice");
    publish(&t, merge("childrens_services.harrow", "P-rm01", "P-rm02", true), &social).await.unwrap();
    assert_eq!(missing_people_replayed(&t).await, (2, 0), "two again");
}
