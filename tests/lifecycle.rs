//! The personal data lifecycle over the real gRPC API, from the attacker's
//! side: erasure by crypto-shredding only once a data protection person of
//! another agency approves a data protection person's request (then nothing
//! of the subject is readable anywhere, on any read path or in any file,
//! while the log still verifies and analysts' replay is unchanged); subject
//! access reports that list the requester's agency's view and its own
//! access trail, every agency's only by an approved request; and the
//! retention sweep (dry run and real), for admins. Every call is audited.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{TestPlatform, arrest, authorized};
use concord_core::pb;
use concord_core::pb::admin_service_client::AdminServiceClient;
use concord_core::pb::audit_service_client::AuditServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_core::pb::replay_service_client::ReplayServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use futures::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

const ERASURE: pb::RequestKind = pb::RequestKind::Erasure;
const TRAIL: pb::RequestKind = pb::RequestKind::AccessTrail;
const APPROVE: pb::RequestDecision = pb::RequestDecision::Approve;
const REFUSE: pb::RequestDecision = pb::RequestDecision::Refuse;
const WITHDRAW: pb::RequestDecision = pb::RequestDecision::Withdraw;

fn person(key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
}

/// A token for the person `sub` (tokens from `TestPlatform::token` all name "tester").
fn token_of(t: &TestPlatform, sub: &str, agency: &str, role: Role) -> String {
    let agency = concord_core::AgencyId::parse(agency).unwrap();
    t.layout().issuer().unwrap().mint(sub, &agency, role, Purpose::Administration, Duration::from_secs(600)).unwrap()
}

fn file(kind: pb::RequestKind, key: &str, reason: &str, token: &str) -> tonic::Request<pb::FileRequestRequest> {
    authorized(pb::FileRequestRequest { kind: kind as i32, subject: Some(person(key)), reason: reason.into() }, token)
}

fn decide(
    id: &str,
    decision: pb::RequestDecision,
    reason: &str,
    token: &str,
) -> tonic::Request<pb::DecideRequestRequest> {
    let request = pb::DecideRequestRequest {
        request_id: id.into(),
        decision: decision as i32,
        reason: reason.into(),
        ..Default::default()
    };
    authorized(request, token)
}

fn at(seconds: i64) -> Option<pbjson_types::Timestamp> {
    Some(pbjson_types::Timestamp { seconds, nanos: 0 })
}

/// An arrest of `subject` with identifiers and notes of our choosing.
fn arrest_of(subject: &str, name: &str, born: &str, address: &str, notes: &str) -> pb::Event {
    let mut event = arrest(subject, notes);
    let personal = event.personal.as_mut().unwrap();
    personal.identities[0].name = name.into();
    personal.identities[0].date_of_birth = born.into();
    personal.identities[0].address = address.into();
    event
}

async fn publish(t: &TestPlatform, agency: &str, event: pb::Event) -> String {
    let node = t.platform.node(&common::agency(agency)).unwrap().clone();
    node.publish(event, Some(Duration::from_secs(10))).await.unwrap().event_id.to_string()
}

async fn timeline(client: &mut QueryServiceClient<Channel>, token: &str, key: &str) -> Vec<pb::EventView> {
    let request = pb::SubjectTimelineRequest { subject: Some(person(key)), ..Default::default() };
    client.subject_timeline(authorized(request, token)).await.unwrap().into_inner().events
}

async fn replay_all(client: &mut ReplayServiceClient<Channel>, token: &str) -> Vec<pb::Event> {
    let request = pb::ReplayRequest { analysis_id: "lifecycle-1".into(), ..Default::default() };
    let mut stream = client.replay(authorized(request, token)).await.unwrap().into_inner();
    let mut events = Vec::new();
    while let Some(batch) = stream.next().await {
        events.extend(batch.unwrap().events);
    }
    events
}

async fn accesses_about(client: &mut AuditServiceClient<Channel>, token: &str, key: &str) -> Vec<pb::AccessRecord> {
    let (mut records, mut page_token) = (Vec::new(), String::new());
    loop {
        let request =
            pb::ListAccessRequest { subject: Some(person(key)), page_token, page_size: 1000, ..Default::default() };
        let page = client.list_access(authorized(request, token)).await.unwrap().into_inner();
        records.extend(page.records.into_iter().filter_map(|e| e.record));
        if page.next_page_token.is_empty() {
            return records;
        }
        page_token = page.next_page_token;
    }
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn names_of(view: &pb::EventView) -> Vec<String> {
    let personal = view.event.as_ref().and_then(|e| e.personal.as_ref());
    personal.map(|p| p.identities.iter().map(|i| i.name.clone()).collect()).unwrap_or_default()
}

fn texts_of(view: &pb::EventView) -> Vec<String> {
    let personal = view.event.as_ref().and_then(|e| e.personal.as_ref());
    personal.map(|p| p.text.values().cloned().collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasure_leaves_nothing_of_the_subject_readable_and_changes_nothing_else() {
    let t = TestPlatform::start(Engine::Redb).await;
    let secrets =
        ["Kasimir Quellbrook", "2010-05-06", "17 Larkspur Mews", "seen with a blue scooter at Quintrell Yard"];
    let (name, born, address, notes) = (secrets[0], secrets[1], secrets[2], secrets[3]);
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(publish(&t, "police.met.nw", arrest_of("P-erase01", name, born, address, notes)).await);
    }
    // One event about two people: its notes are sealed under both their keys.
    let mut both = arrest_of("P-erase01", name, born, address, "arrested together outside Fenwright Lane");
    both.subjects.push(person("P-keep01"));
    both.personal.as_mut().unwrap().identities.push(pb::Identity {
        subject_key: "P-keep01".into(),
        name: "Tamsin Keepwell".into(),
        ..Default::default()
    });
    let shared_id = publish(&t, "police.met.nw", both).await;
    publish(&t, "police.met.nw", arrest_of("P-keep01", "Tamsin Keepwell", "2009-01-01", "", "her own notes")).await;

    let practitioner = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let analyst = t.token("police.met.nw", Role::Analyst, Purpose::Analysis);
    let auditor = t.token("yot.harrow", Role::Auditor, Purpose::Audit);
    let mut query = QueryServiceClient::new(t.channel().await);
    let mut replay = ReplayServiceClient::new(t.channel().await);
    let mut admin_client = AdminServiceClient::new(t.channel().await);

    let before = timeline(&mut query, &practitioner, "P-erase01").await;
    assert_eq!(before.len(), 3);
    // The reader remembers every record's key (opened ahead, and as read):
    // what it remembers must not outlive the erasure either.
    while t.platform.views.open_ahead(1000).unwrap() > 0 {}
    assert!(before.iter().all(|v| names_of(v).contains(&name.to_string()) && v.erased == 0));
    let replayed_before = replay_all(&mut replay, &analyst).await;
    let size = t.platform.log.size();
    let root_before = t.platform.log.root_at(size).unwrap();

    // From the attacker's side: an agency admin (here the VCS's, whose
    // agency published none of it) or a practitioner cannot erase, nor
    // file or decide a request; nothing is erased.
    let vcs_admin = token_of(&t, "vcs-admin", "vcs.st-giles", Role::Admin);
    let vcs_dpo = token_of(&t, "vcs-dpo", "vcs.st-giles", Role::DataProtection);
    let vcs_dpo2 = token_of(&t, "vcs-dpo-2", "vcs.st-giles", Role::DataProtection);
    let police_dpo = token_of(&t, "police-dpo", "police.met.nw", Role::DataProtection);
    let reason = "erasure request 2026-114: no longer necessary";
    for token in [&vcs_admin, &practitioner] {
        let refused = admin_client.file_request(file(ERASURE, "P-erase01", reason, token)).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    let mut anonymous = file(ERASURE, "P-erase01", "no token", "x");
    anonymous.metadata_mut().insert("authorization", "Bearer not-a-token".parse().unwrap());
    assert_eq!(admin_client.file_request(anonymous).await.unwrap_err().code(), Code::Unauthenticated);
    let no_reason = admin_client.file_request(file(ERASURE, "P-erase01", "  ", &vcs_dpo)).await.unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert_eq!(concord_core::status::field_of(&no_reason).as_deref(), Some("reason"), "{no_reason:?}");

    // A data protection person's request alone erases nothing.
    let filed = admin_client.file_request(file(ERASURE, "P-erase01", reason, &vcs_dpo)).await.unwrap().into_inner();
    assert_eq!(filed.state, pb::RequestState::Pending as i32);
    let id = filed.request_id.clone();
    // Nor does its approval by the VCS admin, the requester, or anyone else at the VCS.
    for token in [&vcs_admin, &vcs_dpo, &vcs_dpo2] {
        let refused = admin_client.decide_request(decide(&id, APPROVE, "", token)).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    // Another agency's admin, or its practitioner, cannot approve either.
    let police_admin = token_of(&t, "police-admin", "police.met.nw", Role::Admin);
    let refused = admin_client.decide_request(decide(&id, APPROVE, "", &police_admin)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // Withdrawal is the requester's agency's; refusal is another's.
    let refused = admin_client.decide_request(decide(&id, WITHDRAW, "not mine", &police_dpo)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let still = timeline(&mut query, &practitioner, "P-erase01").await;
    assert!(still.iter().all(|v| names_of(v).contains(&name.to_string())), "nothing is erased yet");
    let listed = admin_client
        .list_requests(authorized(pb::ListRequestsRequest::default(), &police_dpo))
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].request_id.as_str(), listed[0].requested_agency.as_str()), (id.as_str(), "vcs.st-giles"));
    assert_eq!(listed[0].state, pb::RequestState::Pending as i32);
    assert!(admin_client.list_requests(authorized(pb::ListRequestsRequest::default(), &vcs_admin)).await.is_err());

    // Approval by a data protection person of another agency erases.
    let approved = admin_client.decide_request(decide(&id, APPROVE, "", &police_dpo)).await.unwrap().into_inner();
    assert!(approved.had_key);
    assert_eq!(approved.state, pb::RequestState::Approved as i32);
    assert_eq!((approved.decided_by.as_str(), approved.decided_agency.as_str()), ("police-dpo", "police.met.nw"));
    // Decided once: it cannot be withdrawn or refused afterwards.
    let late = admin_client.decide_request(decide(&id, WITHDRAW, "too late", &vcs_dpo)).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);

    // Every read path now gives the redacted form, and says why.
    let after = timeline(&mut query, &practitioner, "P-erase01").await;
    assert_eq!(after.len(), 3, "the events stay, as redacted records");
    for view in &after {
        assert!(view.erased > 0, "each view says personal data was erased: {view:?}");
        assert!(!names_of(view).contains(&name.to_string()));
        assert!(texts_of(view).is_empty(), "notes sealed under the erased key are gone: {view:?}");
    }
    let shared = after.iter().find(|v| v.event.as_ref().unwrap().event_id == shared_id).unwrap();
    assert_eq!(names_of(shared), vec!["Tamsin Keepwell".to_string()], "the other subject's identity stays readable");
    let kept = timeline(&mut query, &practitioner, "P-keep01").await;
    assert!(kept.iter().any(|v| texts_of(v) == vec!["her own notes".to_string()]), "other subjects are untouched");
    for id in &ids {
        let view = query
            .get_event(authorized(pb::GetEventRequest { event_id: id.clone() }, &practitioner))
            .await
            .unwrap()
            .into_inner();
        assert!(names_of(&view).is_empty() && view.erased > 0);
    }
    let search = pb::SearchRequest { event_type: "arrest".into(), page_size: 1000, ..Default::default() };
    let found = query.search(authorized(search, &practitioner)).await.unwrap().into_inner().events;
    assert_eq!(found.len(), 4);
    assert!(found.iter().all(|v| !names_of(v).contains(&name.to_string())));
    let subscribe = pb::SubscribeRequest { subject: Some(person("P-erase01")), ..Default::default() };
    let mut live = query.subscribe(authorized(subscribe, &practitioner)).await.unwrap().into_inner();
    for _ in 0..3 {
        let view = tokio::time::timeout(Duration::from_secs(5), live.next()).await.unwrap().unwrap().unwrap();
        assert!(!names_of(&view).contains(&name.to_string()) && texts_of(&view).is_empty());
    }

    // No file the platform writes holds any of it.
    for secret in secrets {
        assert_eq!(files_holding(t.dir.path(), secret), Vec::<String>::new(), "`{secret}` is on disk");
    }
    // The log is untouched and still verifies; analysts' replay is unchanged.
    assert_eq!(t.platform.log.size(), size);
    assert_eq!(t.platform.log.root_at(size).unwrap(), root_before);
    let checkpoint = t.platform.log.checkpoint().unwrap();
    let log = &t.platform.log;
    concord_log::offline::verify_store(log.kv().as_ref(), &checkpoint, &log.verifying_key(), log.origin()).unwrap();
    assert_eq!(replay_all(&mut replay, &analyst).await, replayed_before, "analytics see exactly what they saw");

    // The request and the approval are in the audit log, found by subject,
    // with the reason, who asked and who approved.
    let mut audit = AuditServiceClient::new(t.channel().await);
    let records = accesses_about(&mut audit, &auditor, "P-erase01").await;
    let request = records.iter().find(|r| r.record_id == filed.record_id).expect("the request is recorded");
    assert_eq!((request.principal.as_str(), request.role.as_str()), ("vcs-dpo", "data_protection"));
    assert!(request.rpc.ends_with("/FileRequest") && request.request_id == id, "{request:?}");
    assert!(request.parameters.contains("erasure request 2026-114"), "{}", request.parameters);
    let approval = records.iter().find(|r| r.record_id == approved.record_id).expect("the approval is recorded");
    assert_eq!(approval.erased, vec![person("P-erase01")]);
    assert_eq!((approval.principal.as_str(), approval.agency_id.as_str()), ("police-dpo", "police.met.nw"));
    assert_eq!(approval.request_id, id);
    assert!(records.iter().any(|r| r.outcome.starts_with("PermissionDenied")), "the refused attempts are recorded");

    // Approving again is harmless, and recorded.
    let again = admin_client.decide_request(decide(&id, APPROVE, "", &police_dpo)).await.unwrap().into_inner();
    assert!(!again.had_key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_or_withdrawn_erasure_request_erases_nothing_and_the_command_line_files_and_approves() {
    let t = TestPlatform::start(Engine::Redb).await;
    let name = "Perpetua Lindqvist-Hale";
    publish(&t, "police.met.nw", arrest_of("P-ask01", name, "2010-02-02", "", "")).await;
    let practitioner = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let vcs_dpo = token_of(&t, "vcs-dpo", "vcs.st-giles", Role::DataProtection);
    let yot_dpo = token_of(&t, "yot-dpo", "yot.harrow", Role::DataProtection);
    let mut admin_client = AdminServiceClient::new(t.channel().await);
    let mut query = QueryServiceClient::new(t.channel().await);

    // Refused by another agency (with a reason): approving afterwards fails.
    let first = admin_client.file_request(file(ERASURE, "P-ask01", "asked", &vcs_dpo)).await.unwrap().into_inner();
    let no_reason = admin_client.decide_request(decide(&first.request_id, REFUSE, "", &yot_dpo)).await.unwrap_err();
    assert_eq!(concord_core::status::field_of(&no_reason).as_deref(), Some("reason"));
    let refusal = "Art. 17(3)(b): the child protection plan is open";
    let refused = admin_client.decide_request(decide(&first.request_id, REFUSE, refusal, &yot_dpo)).await.unwrap();
    assert_eq!(refused.into_inner().state, pb::RequestState::Refused as i32);
    let late = admin_client.decide_request(decide(&first.request_id, APPROVE, "", &yot_dpo)).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    // Withdrawn by the requester's agency: approving afterwards fails.
    let second = admin_client.file_request(file(ERASURE, "P-ask01", "asked again", &vcs_dpo)).await.unwrap();
    let second = second.into_inner().request_id;
    admin_client.decide_request(decide(&second, WITHDRAW, "filed in error", &vcs_dpo)).await.unwrap();
    let late = admin_client.decide_request(decide(&second, APPROVE, "", &yot_dpo)).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(names_of(&timeline(&mut query, &practitioner, "P-ask01").await[0]).contains(&name.to_string()));

    // The command line: file, list, approve.
    let addr = format!("http://{}", t.addr);
    let concord = |token: &str, args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
            .arg("erase")
            .args(["--addr", &addr])
            .args(args)
            .env("CONCORD_TOKEN", token)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (ok, out) = concord(&vcs_dpo, &["--request", "--subject", "person/P-ask01", "--reason", "third time"]);
    assert!(ok, "{out}");
    let id = out.split_whitespace().next().unwrap().to_string();
    let (ok, out) = concord(&yot_dpo, &["--list"]);
    assert!(ok && out.contains(&format!("{id} pending person/P-ask01")) && out.contains("refused"), "{out}");
    let (ok, out) = concord(&vcs_dpo, &["--approve", &id]);
    assert!(!ok && out.contains("another agency"), "{out}");
    let (ok, out) = concord(&yot_dpo, &["--approve", &id]);
    assert!(ok && out.contains("erased person/P-ask01"), "{out}");
    let after = timeline(&mut query, &practitioner, "P-ask01").await;
    assert!(names_of(&after[0]).is_empty() && after[0].erased > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subject_access_report_lists_exactly_the_audit_logs_records_about_the_subject() {
    let t = TestPlatform::start(Engine::Redb).await;
    let mut ids = Vec::new();
    for notes in ["first arrest", "second arrest"] {
        ids.push(publish(&t, "police.met.nw", arrest_of("P-sar01", "Odalys Brenwick", "2009-08-09", "", notes)).await);
    }
    publish(&t, "camhs.nwl", common::as_camhs_contact(arrest("P-sar01", ""))).await;

    let mut query = QueryServiceClient::new(t.channel().await);
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::CrimePrevention);
    let social = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let vcs = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
    timeline(&mut query, &police, "P-sar01").await;
    timeline(&mut query, &social, "P-sar01").await;
    query.get_event(authorized(pb::GetEventRequest { event_id: ids[0].clone() }, &social)).await.unwrap();
    // The agreement shows the VCS nothing, but their look is about the subject all the same.
    assert!(timeline(&mut query, &vcs, "P-sar01").await.is_empty());
    let other = arrest_of("P-other01", "Someone Else", "2008-01-01", "", "");
    publish(&t, "police.met.nw", other).await;
    timeline(&mut query, &police, "P-other01").await;

    // Neither a practitioner nor the agency's admin may ask.
    let admin = t.token("childrens_services.harrow", Role::Admin, Purpose::Administration);
    let dpo = token_of(&t, "cs-dpo", "childrens_services.harrow", Role::DataProtection);
    let police_dpo = token_of(&t, "police-dpo", "police.met.nw", Role::DataProtection);
    let mut admin_client = AdminServiceClient::new(t.channel().await);
    let sar = |token: &str, trail: &str| {
        authorized(pb::SubjectAccessRequest { subject: Some(person("P-sar01")), trail_request: trail.into() }, token)
    };
    for token in [&social, &admin] {
        assert_eq!(admin_client.subject_access(sar(token, "")).await.unwrap_err().code(), Code::PermissionDenied);
    }
    let report = admin_client.subject_access(sar(&dpo, "")).await.unwrap().into_inner();

    // What is held: what the agreement lets the requester's agency see.
    let as_agency = timeline(&mut query, &social, "P-sar01").await;
    let shown: Vec<&str> = report.events.iter().map(|v| v.event.as_ref().unwrap().event_id.as_str()).collect();
    let expected: Vec<&str> = as_agency.iter().map(|v| v.event.as_ref().unwrap().event_id.as_str()).collect();
    assert_eq!(shown, expected);
    assert_eq!(report.events.len() + report.withheld as usize, 3);
    assert!(report.events.iter().any(|v| names_of(v).contains(&"Odalys Brenwick".to_string())));
    assert!(!report.erased && !report.all_agencies);

    // Who saw it: exactly the audit log's records about the subject made by
    // the requester's own agency, this request last; no other agency's trail.
    let auditor = t.token("yot.harrow", Role::Auditor, Purpose::Audit);
    let mut audit = AuditServiceClient::new(t.channel().await);
    let held = accesses_about(&mut audit, &auditor, "P-sar01").await;
    let reported: Vec<&str> = report.accesses.iter().map(|r| r.record_id.as_str()).collect();
    let own: Vec<&str> = held
        .iter()
        .filter(|r| r.agency_id == "childrens_services.harrow")
        .map(|r| r.record_id.as_str())
        .take(reported.len())
        .collect();
    assert_eq!(reported, own);
    let last = report.accesses.last().unwrap();
    assert!(last.rpc.ends_with("/SubjectAccess") && last.principal == "cs-dpo");
    let rpcs: BTreeSet<&str> = report.accesses.iter().map(|r| r.rpc.rsplit('/').next().unwrap()).collect();
    for rpc in ["SubjectTimeline", "GetEvent", "SubjectAccess"] {
        assert!(rpcs.contains(rpc), "{rpc} missing from {rpcs:?}");
    }
    assert!(report.accesses.iter().all(|r| r.agency_id == "childrens_services.harrow"), "{:#?}", report.accesses);
    assert!(held.iter().any(|r| r.agency_id == "vcs.st-giles") && held.iter().any(|r| r.agency_id == "police.met.nw"));

    // Every agency's trail only by a request another agency approved.
    let trail = admin_client.file_request(file(TRAIL, "P-sar01", "Art. 15(1)(c) recipients", &dpo)).await.unwrap();
    let trail = trail.into_inner().request_id;
    let early = admin_client.subject_access(sar(&dpo, &trail)).await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition, "{early:?}");
    let own_approval = admin_client.decide_request(decide(&trail, APPROVE, "", &dpo)).await.unwrap_err();
    assert_eq!(own_approval.code(), Code::PermissionDenied);
    admin_client.decide_request(decide(&trail, APPROVE, "", &police_dpo)).await.unwrap();
    // Another agency cannot use it.
    let vcs_dpo = token_of(&t, "vcs-dpo", "vcs.st-giles", Role::DataProtection);
    assert_eq!(admin_client.subject_access(sar(&vcs_dpo, &trail)).await.unwrap_err().code(), Code::PermissionDenied);
    let full = admin_client.subject_access(sar(&dpo, &trail)).await.unwrap().into_inner();
    assert!(full.all_agencies);
    let held = accesses_about(&mut audit, &auditor, "P-sar01").await;
    let reported: Vec<&str> = full.accesses.iter().map(|r| r.record_id.as_str()).collect();
    let held_then: Vec<&str> = held.iter().map(|r| r.record_id.as_str()).take(reported.len()).collect();
    assert_eq!(reported, held_then, "every agency's records, this request last");
    assert!(full.accesses.iter().any(|r| r.agency_id == "vcs.st-giles" && r.shown.is_empty()));
    assert!(full.accesses.iter().any(|r| r.agency_id == "police.met.nw"));
    assert!(full.accesses.iter().all(|r| !r.parameters.contains("P-other01")));

    // The command writes it as a readable document and as JSON.
    let out = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["sar", "--addr", &format!("http://{}", t.addr), "--subject", "person/P-sar01", "--trail", &trail])
        .arg("--out")
        .arg(out.path())
        .env("CONCORD_TOKEN", &dpo)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let document = std::fs::read_to_string(out.path().join("sar-person-P-sar01.md")).unwrap();
    assert!(document.contains("# Subject access report: person/P-sar01") && document.contains("Odalys Brenwick"));
    assert!(document.contains("| vcs.st-giles |"), "{document}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("sar-person-P-sar01.json")).unwrap()).unwrap();
    assert_eq!(json["accesses"].as_array().unwrap().len(), reported.len() + 1, "the earlier records, then this one");
}

const YEAR: i64 = 365 * 86_400;
/// 2012-06-01.
const LONG_AGO: i64 = 1_338_508_800;

fn dated(mut event: pb::Event, seconds: i64) -> pb::Event {
    event.occurred_at = at(seconds);
    event.recorded_at = at(seconds);
    event
}

fn rating(subject: &str, born: &str) -> pb::Event {
    common::as_yot_rating(arrest_of(subject, "Rated Person", born, "", ""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_retention_sweep_erases_only_subjects_whose_every_period_has_ended() {
    let t = TestPlatform::start(Engine::Redb).await;
    // Police records: 6 years after the last event (2018).
    publish(&t, "police.met.nw", dated(arrest_of("P-old01", "Old Record", "1995-01-01", "", "old"), LONG_AGO)).await;
    // The same, but a YOT rating keeps them until their 25th birthday (2030).
    publish(&t, "police.met.nw", dated(arrest_of("P-young01", "Young Person", "2005-03-04", "", ""), LONG_AGO)).await;
    publish(&t, "yot.harrow", dated(rating("P-young01", "2005-03-04"), LONG_AGO)).await;
    // A YOT rating with no date of birth recorded: nobody can tell when it ends.
    publish(&t, "yot.harrow", dated(rating("P-nodob01", ""), LONG_AGO)).await;
    // Recent: kept.
    publish(&t, "police.met.nw", arrest_of("P-recent01", "Recent Person", "2010-01-01", "", "")).await;

    let admin = t.token("childrens_services.harrow", Role::Admin, Purpose::Administration);
    let practitioner = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let mut admin_client = AdminServiceClient::new(t.channel().await);
    let mut query = QueryServiceClient::new(t.channel().await);
    let sweep = |dry_run: bool, when: Option<pbjson_types::Timestamp>| {
        authorized(pb::RetentionSweepRequest { dry_run, at: when }, &admin)
    };
    let keys = |report: &pb::RetentionReport| -> Vec<String> {
        report.due.iter().map(|d| d.subject.as_ref().unwrap().key.clone()).collect()
    };

    let preview = admin_client.retention_sweep(sweep(true, None)).await.unwrap().into_inner();
    assert_eq!(keys(&preview), vec!["P-old01"]);
    assert_eq!(preview.examined, 4);
    assert!(preview.due[0].rule.starts_with("rule 4 (every event)"), "{:?}", preview.due);
    assert!(!preview.due[0].erased);
    assert_eq!(preview.undetermined, vec![person("P-nodob01")]);
    assert!(names_of(&timeline(&mut query, &practitioner, "P-old01").await[0]).contains(&"Old Record".into()));

    // Looking ahead: in 2031 the young person's 25th birthday has passed too.
    let ahead = admin_client.retention_sweep(sweep(true, at(LONG_AGO + 19 * YEAR))).await.unwrap().into_inner();
    assert_eq!(keys(&ahead), vec!["P-old01", "P-young01"]);
    assert!(ahead.due[1].rule.starts_with("rule 2 (yot)"), "{:?}", ahead.due);

    let refused = admin_client.retention_sweep(sweep(false, at(LONG_AGO + 19 * YEAR))).await.unwrap_err();
    assert_eq!(concord_core::status::field_of(&refused).as_deref(), Some("at"));
    let practitioner_sweep = authorized(pb::RetentionSweepRequest { dry_run: true, at: None }, &practitioner);
    assert_eq!(admin_client.retention_sweep(practitioner_sweep).await.unwrap_err().code(), Code::PermissionDenied);

    let done = admin_client.retention_sweep(sweep(false, None)).await.unwrap().into_inner();
    assert_eq!(keys(&done), vec!["P-old01"]);
    assert!(done.due[0].erased);
    let old = timeline(&mut query, &practitioner, "P-old01").await;
    assert!(names_of(&old[0]).is_empty() && old[0].erased > 0);
    for (key, name) in [("P-young01", "Young Person"), ("P-recent01", "Recent Person")] {
        assert!(names_of(&timeline(&mut query, &practitioner, key).await[0]).contains(&name.to_string()));
    }
    let auditor = t.token("yot.harrow", Role::Auditor, Purpose::Audit);
    let mut audit = AuditServiceClient::new(t.channel().await);
    let records = accesses_about(&mut audit, &auditor, "P-old01").await;
    assert!(records.iter().any(|r| r.record_id == done.record_id && r.erased == vec![person("P-old01")]));

    // Nothing more is due; the command line says so.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["retention", "--dry-run", "--addr", &format!("http://{}", t.addr)])
        .env("CONCORD_TOKEN", &admin)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(printed.contains("3 subjects with personal data examined; would erase 0"), "{printed}");
    assert!(printed.contains("kept person/P-nodob01"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rectification_supersedes_a_wrong_field_and_shows_from_and_to_to_those_allowed() {
    let t = TestPlatform::start(Engine::Redb).await;
    let wrong = arrest_of("P-rect01", "Wren Halloway", "2010-02-03", "", "");
    let original = publish(&t, "police.met.nw", wrong.clone()).await;
    let mut right = wrong;
    right.corrects = original.clone();
    right.personal.as_mut().unwrap().identities[0].date_of_birth = "2011-02-03".into();
    right.share_with = vec!["vcs.st-giles".into()];
    right.lawful_basis = vec![pb::LawfulBasis::Safeguarding as i32];
    let correction = publish(&t, "police.met.nw", right).await;

    let mut query = QueryServiceClient::new(t.channel().await);
    let social = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let events = timeline(&mut query, &social, "P-rect01").await;
    let id = |v: &pb::EventView| v.event.as_ref().unwrap().event_id.clone();
    let old = events.iter().find(|v| id(v) == original).unwrap();
    let new = events.iter().find(|v| id(v) == correction).unwrap();
    // The current value is the correction's; the original is marked as history.
    assert_eq!(old.superseded_by, correction);
    let born =
        |v: &pb::EventView| v.event.as_ref().unwrap().personal.as_ref().unwrap().identities[0].date_of_birth.clone();
    assert_eq!(born(new), "2011-02-03");
    let change = new.changes.iter().find(|c| c.field.starts_with("personal")).expect("the personal field's change");
    assert!(change.from.contains("2010-02-03") && change.to.contains("2011-02-03"), "{change:?}");

    // An analyst sees neither value: the timeline is not open to analysts at all (their replay
    // carries no personal data).
    let analyst = t.token("police.met.nw", Role::Analyst, Purpose::Analysis);
    let request = pb::SubjectTimelineRequest { subject: Some(person("P-rect01")), ..Default::default() };
    let refused = query.subject_timeline(authorized(request, &analyst)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}

#[test]
fn broken_retention_rules_stop_start_up_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy");
    std::fs::create_dir(&policy).unwrap();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy");
    for file in ["concord.cedarschema", "agreement.cedar", "retention.toml"] {
        std::fs::copy(deploy.join(file), policy.join(file)).unwrap();
    }
    let concord = common::process::concord;
    let check = || concord(&["policy", "check", "--policy", policy.to_str().unwrap()]);
    let out = check();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("rule 1 (camhs_contact): until age 25 or 8 years after last event")
    );

    let shipped = std::fs::read_to_string(deploy.join("retention.toml")).unwrap();
    let broken = format!("{shipped}\n[[rule]]\nagency_kind = \"yot\"\nkeep = \"a while\"\n");
    let line = shipped.lines().count() + 4;
    std::fs::write(policy.join("retention.toml"), broken).unwrap();
    let up = common::process::up_with_policy(&dir.path().join("data"), &policy);
    for out in [check(), up] {
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("the retention rules are invalid"), "{stderr}");
        assert!(stderr.contains(&format!("retention.toml, line {line}: keep: `a while` is not a period")), "{stderr}");
    }
}

/// Over NATS (the subject keys in the shared bucket, a local copy per
/// process), erasure through the admin API leaves every read redacted and
/// the key's bytes nowhere in the NATS server's store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasure_over_nats_reaches_the_shared_bucket_and_the_local_copy() {
    let nats = common::nats::NatsServer::start();
    let t = TestPlatform::start_nats(&nats.url()).await;
    let name = "Ottoline Fairweather-Nash";
    publish(&t, "police.met.nw", arrest_of("P-nats01", name, "2011-11-11", "", "seen at the depot")).await;
    let practitioner = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let mut query = QueryServiceClient::new(t.channel().await);
    assert!(names_of(&timeline(&mut query, &practitioner, "P-nats01").await[0]).contains(&name.to_string()));

    let cs_dpo = token_of(&t, "cs-dpo", "childrens_services.harrow", Role::DataProtection);
    let police_dpo = token_of(&t, "police-dpo", "police.met.nw", Role::DataProtection);
    let mut admin_client = AdminServiceClient::new(t.channel().await);
    let filed = admin_client.file_request(file(ERASURE, "P-nats01", "upheld request", &cs_dpo)).await.unwrap();
    let id = filed.into_inner().request_id;
    assert!(admin_client.decide_request(decide(&id, APPROVE, "", &police_dpo)).await.unwrap().into_inner().had_key);

    let after = timeline(&mut query, &practitioner, "P-nats01").await;
    assert!(names_of(&after[0]).is_empty() && after[0].erased > 0, "{after:?}");
    for dir in [t.dir.path(), nats.store().as_path()] {
        assert_eq!(files_holding(dir, name), Vec::<String>::new());
    }
}
