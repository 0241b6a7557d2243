//! The console's pages for auditors and data protection people, against a
//! real platform (redb on a temp dir, the console wired as `concord up`
//! wires it). In headless chromium: an auditor finds a police officer's
//! page views by subject and by reader, exports them as CSV (fetched over
//! HTTP with the auditor's session, and parsed here), and checks both logs'
//! signed checkpoints against the ledger's public key and against the
//! checkpoints seen before; a police data protection officer files an
//! erasure, may not approve it themselves (the service says why), and one
//! of children's services approves it in another browser, after which the
//! child's timeline shows no name; a subject access report holds only the
//! reader's agency's access records, and every agency's once another
//! agency approves an access-trail request; a retention preview lists a subject
//! past retention and erases nothing. Every page is screenshotted and
//! checked with axe-core. And from the attacker's side, over plain HTTP: a
//! practitioner is refused every one of these pages (by the services),
//! forms without this session's CSRF token are refused and change nothing,
//! the auditor pages through records with the service's page tokens and
//! narrows them by kind of access, a reader named like a spreadsheet
//! formula is exported as text, and a checkpoint "seen before" that the key
//! did not sign is said to prove nothing.

use concord_core::pb;
use concord_core::pb::admin_service_client::AdminServiceClient;
use concord_core::pb::audit_service_client::AuditServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use fantoccini::Locator;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};

use crate::common::browser::Browser;
use crate::common::{self, TestPlatform, authorized, publish};
use crate::web::{check, click_to, get, go, post, session_cookie, sign_in_form, sign_in_to, sign_out, type_into};

/// A child police hold, whose page views the auditor looks for.
const CHILD: &str = "P-aud0001";
/// A child police hold, erased through the console.
const GONE: &str = "P-aud0002";
/// A person whose only event is from 2012: past police retention.
const OLD: &str = "P-aud0003";
/// The name `common::arrest` gives everyone.
const NAME: &str = "Jordan Testcase";
const NOTE: &str = "Seen near the station";
const OFFICER: &str = "console:practitioner@police.met.nw";

/// The platform, the console's address, and the arrests of [`CHILD`] and [`OLD`].
struct Setup {
    t: TestPlatform,
    url: String,
    arrest: String,
    old: String,
}

async fn setup() -> Setup {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let arrest = publish(&t, common::arrest(CHILD, NOTE), &police).await.unwrap().event_id;
    publish(&t, common::arrest(GONE, NOTE), &police).await.unwrap();
    let mut old = common::arrest(OLD, NOTE);
    // 2012-06-01: police keep data 6 years after the last event.
    old.occurred_at = Some(pbjson_types::Timestamp { seconds: 1_338_508_800, nanos: 0 });
    old.recorded_at = old.occurred_at;
    let old = publish(&t, old, &police).await.unwrap().event_id;
    let addr = concord::web::start(crate::web::console(&t), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    Setup { t, url: format!("http://{addr}"), arrest, old }
}

/// The browser's session cookie, as `name=value` for a request of our own.
async fn browser_session(b: &Browser) -> String {
    let cookies = b.client.get_all_cookies().await.unwrap();
    let session = cookies.iter().find(|c| c.name() == "concord-session").expect("a session cookie");
    format!("{}={}", session.name(), session.value())
}

/// The CSRF token a page's forms carry.
fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_string()
}

/// Waits for a page whose path starts with `prefix` to have loaded; its path.
async fn reached_under(b: &Browser, prefix: &str) -> String {
    for _ in 0..100 {
        let at = b.client.current_url().await.unwrap();
        let ready = b.client.execute("return document.readyState", vec![]).await.unwrap();
        if at.path().starts_with(prefix) && ready == "complete" {
            return at.path().to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never reached {prefix}: {}", b.client.source().await.unwrap());
}

/// The text of the element `id` of the page now shown.
async fn text_of(b: &Browser, id: &str) -> String {
    b.client.find(Locator::Id(id)).await.unwrap().text().await.unwrap()
}

/// RFC 4180 CSV, read here apart from the console's writer: rows of cells,
/// quoted cells with doubled quotes, CRLF line ends.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(!quoted && cell.is_empty() && row.is_empty(), "the CSV ends mid-row: {text}");
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_auditor_filters_exports_and_checks_the_logs_in_a_browser() {
    let s = setup().await;
    let b = Browser::start().await;
    let mut visited = Vec::new();

    // A police officer reads the child's timeline and arrest.
    sign_in_to(&b, &s.url, ("police.met.nw", "practitioner", "safeguarding"), "/find", &mut visited).await;
    go(&b, &s.url, &format!("/subjects/person/{CHILD}")).await;
    go(&b, &s.url, &format!("/events/{}", s.arrest)).await;
    sign_out(&b).await;

    // The auditor starts with today's records: the officer's among them.
    sign_in_to(&b, &s.url, ("childrens_services.harrow", "auditor", "audit"), "/audit", &mut visited).await;
    let today = check(&b, "audit-today", &mut visited).await;
    assert!(today.contains(OFFICER) && today.contains("QueryService/SubjectTimeline"), "{today}");
    assert!(today.contains("href=\"/audit/checkpoints\""), "the auditor's menu links the checkpoints");

    // By subject: the officer's timeline and event page views of the child.
    type_into(&b, "subject_key", CHILD).await;
    click_to(&b, Locator::Id("audit-search"), "/audit").await;
    let by_subject = check(&b, "audit-by-subject", &mut visited).await;
    assert!(by_subject.contains(&format!("The access history of person/{CHILD}")), "{by_subject}");
    for needle in [OFFICER, "QueryService/SubjectTimeline", "QueryService/GetEvent", s.arrest.as_str()] {
        assert!(by_subject.contains(needle), "{needle} in {by_subject}");
    }
    assert!(!by_subject.contains(NAME) && !by_subject.contains(NOTE), "{by_subject}");
    // Each row links to its record's details on the page.
    let anchor = by_subject.split("href=\"#record-").nth(1).and_then(|r| r.split('"').next()).unwrap();
    assert!(by_subject.contains(&format!("id=\"record-{anchor}\"")), "{by_subject}");
    assert!(by_subject.contains("Agreement (policy hash)") && by_subject.contains("From (peer)"), "{by_subject}");

    // By reader, with the preset question: what the officer read.
    go(&b, &s.url, "/audit").await;
    type_into(&b, "q-principal", OFFICER).await;
    click_to(&b, Locator::Id("ask-principal"), "/audit").await;
    let by_reader = check(&b, "audit-by-reader", &mut visited).await;
    assert!(by_reader.contains(&format!("What {OFFICER} read or added")), "{by_reader}");
    assert!(by_reader.contains("QueryService/GetEvent") && by_reader.contains(&s.arrest), "{by_reader}");
    assert!(!by_reader.contains("console:auditor@"), "only the officer's records: {by_reader}");

    // Bad filters are named on the form, field by field.
    go(&b, &s.url, "/audit").await;
    type_into(&b, "event_id", "not-an-id").await;
    type_into(&b, "agency", "police.met.nw").await;
    click_to(&b, Locator::Id("audit-search"), "/audit").await;
    let errors = check(&b, "audit-errors", &mut visited).await;
    assert!(errors.contains("There is a problem") && errors.contains("Enter an event id"), "{errors}");
    assert!(errors.contains("Give only one of an event, a subject, a person or an agency"), "{errors}");

    // The export of the subject filter, fetched with the auditor's session:
    // a CSV attachment holding the officer's page views.
    let (cookie, csrf) = (browser_session(&b).await, csrf_of(&errors));
    let filter = [("csrf", csrf.as_str()), ("subject_kind", "person"), ("subject_key", CHILD)];
    let export = post(&format!("{}/audit/export", s.url), Some(&cookie), &filter).await;
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    let disposition = export.headers()[CONTENT_DISPOSITION].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"audit-records-"), "{disposition}");
    let rows = parse_csv(&export.text().await.unwrap());
    let (header, records) = rows.split_first().unwrap();
    assert_eq!(header[..4], ["position", "record_id", "at", "principal"]);
    assert!(records.iter().all(|r| r.len() == header.len()), "{rows:?}");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (principal, call, shown) = (column("principal"), column("call"), column("events_shown"));
    let views: Vec<&Vec<String>> = records.iter().filter(|r| r[principal] == OFFICER).collect();
    let calls = |rpc: &str| views.iter().filter(|r| r[call] == format!("/concord.v1.QueryService/{rpc}")).count();
    assert_eq!((calls("SubjectTimeline"), calls("GetEvent")), (1, 1), "{rows:?}");
    assert!(views.iter().all(|r| r[shown].contains(&s.arrest)), "{rows:?}");
    assert!(rows.iter().flatten().all(|cell| !cell.contains(NAME)), "{rows:?}");

    // Both logs' checkpoints; checked against the ledger's public key and
    // the checkpoints the page showed (filled in): signed, and consistent.
    go(&b, &s.url, "/audit/checkpoints").await;
    let shown_checkpoints = check(&b, "audit-checkpoints", &mut visited).await;
    assert!(shown_checkpoints.contains("Event log") && shown_checkpoints.contains("Audit log"), "{shown_checkpoints}");
    let key = std::fs::read_to_string(s.t.layout().ledger_public_key()).unwrap();
    // Later reads grow the logs after the checkpoints shown.
    let police = s.t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    publish(&s.t, common::arrest(CHILD, NOTE), &police).await.unwrap();
    type_into(&b, "public_key", key.trim()).await;
    click_to(&b, Locator::Id("check-checkpoints"), "/audit/checkpoints").await;
    check(&b, "audit-checkpoints-checked", &mut visited).await;
    for log in ["event_log", "audit_log"] {
        let signature = text_of(&b, &format!("{log}-signature")).await;
        assert!(signature.starts_with("Verified"), "{log}: {signature}");
        let consistency = text_of(&b, &format!("{log}-consistency")).await;
        assert!(consistency.starts_with("Consistent") && consistency.contains("only grew"), "{log}: {consistency}");
    }
    // Another key: the signatures are said not to be the ledger's.
    let csrf = csrf_of(&b.client.source().await.unwrap());
    let other = hex::encode(ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes());
    let form = [("csrf", csrf.as_str()), ("public_key", other.as_str())];
    let refused = post(&format!("{}/audit/checkpoints", s.url), Some(&cookie), &form).await;
    let refused = refused.text().await.unwrap();
    assert_eq!(refused.matches("Not signed by the key you gave").count(), 2, "{refused}");
    b.close().await;

    for url in &visited {
        assert!(!url.to_lowercase().contains("jordan") && !url.contains(CHILD), "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_protection_officers_of_two_agencies_erase_a_child_in_two_browsers() {
    let s = setup().await;
    let (police, children) = (Browser::start().await, Browser::start().await);
    let mut visited = Vec::new();

    // Police's officer starts with the requests (none yet), and files an
    // erasure, after a form with nothing in it is refused field by field.
    sign_in_to(
        &police,
        &s.url,
        ("police.met.nw", "data_protection", "administration"),
        "/data-protection",
        &mut visited,
    )
    .await;
    let none = check(&police, "dp-requests-empty", &mut visited).await;
    assert!(none.contains("No requests have been filed"), "{none}");
    click_to(&police, Locator::Id("file-request"), "/data-protection/file").await;
    check(&police, "dp-file", &mut visited).await;
    click_to(&police, Locator::Id("file"), "/data-protection/file").await;
    let errors = check(&police, "dp-file-errors", &mut visited).await;
    for needle in ["Choose what the request asks for", "Enter the subject", "Say why"] {
        assert!(errors.contains(needle), "{needle} in {errors}");
    }
    police.client.find(Locator::Id("kind-erasure")).await.unwrap().click().await.unwrap();
    type_into(&police, "subject_key", GONE).await;
    type_into(&police, "reason", "erasure request 2026-114: data no longer necessary").await;
    // Filed, the browser is sent to the request's page (reloading it files
    // nothing again).
    police.client.find(Locator::Id("file")).await.unwrap().click().await.unwrap();
    let request = reached_under(&police, "/data-protection/requests/").await;
    let filed = check(&police, "dp-filed", &mut visited).await;
    assert!(filed.contains("Request filed") && filed.contains(&format!("person/{GONE}")), "{filed}");
    let id = text_of(&police, "reference").await;
    assert_eq!(request, format!("/data-protection/requests/{id}"));
    police.client.refresh().await.unwrap();
    reached_under(&police, &request).await;
    let dpo = s.t.token("childrens_services.harrow", Role::DataProtection, Purpose::Administration);
    let mut admin = AdminServiceClient::new(s.t.channel().await);
    let listed = admin.list_requests(authorized(pb::ListRequestsRequest::default(), &dpo)).await.unwrap();
    assert_eq!(listed.into_inner().requests.len(), 1, "one request, however often its page is loaded");

    // The officer may not approve their own agency's request: the service
    // refuses, and the page says why.
    police.client.find(Locator::Id("decision-approve")).await.unwrap().click().await.unwrap();
    click_to(&police, Locator::Id("decide"), &request).await;
    let refused = check(&police, "dp-own-approval-refused", &mut visited).await;
    assert!(refused.contains("Your decision was not accepted") && refused.contains("another agency"), "{refused}");
    assert_eq!(text_of(&police, "request-state").await, "Pending");

    // Children's services' officer, in another browser, approves it.
    sign_in_to(
        &children,
        &s.url,
        ("childrens_services.harrow", "data_protection", "administration"),
        "/data-protection",
        &mut visited,
    )
    .await;
    let listed = check(&children, "dp-requests", &mut visited).await;
    assert!(listed.contains(&request) && listed.contains("Pending"), "{listed}");
    click_to(&children, Locator::Css(&format!("a[href='{request}']")), &request).await;
    check(&children, "dp-request", &mut visited).await;
    children.client.find(Locator::Id("decision-approve")).await.unwrap().click().await.unwrap();
    click_to(&children, Locator::Id("decide"), &request).await;
    let approved = check(&children, "dp-approved", &mut visited).await;
    assert!(approved.contains("Erasure approved") && approved.contains("data key is destroyed"), "{approved}");
    assert_eq!(text_of(&children, "request-state").await, "Approved");

    // Children's services' subject access report: erased, and only its own
    // agency's access records (police's page views are police's).
    go(&children, &s.url, "/data-protection/subject-access").await;
    type_into(&children, "subject_key", CHILD).await;
    click_to(&children, Locator::Id("produce-report"), "/data-protection/subject-access").await;
    let report = check(&children, "dp-subject-access", &mut visited).await;
    assert!(report.contains(&format!("Report: person/{CHILD}")) && report.contains("Arrest"), "{report}");
    assert_eq!(text_of(&children, "report-erased").await, "No");
    let accesses = text_of(&children, "report-accesses").await;
    assert!(accesses.contains("SubjectAccess") && !accesses.contains("police.met.nw"), "{accesses}");

    // An access trail: children's services files one about the child;
    // until police approve it, a report with it is refused, saying why;
    // after, the report holds every agency's records, police's too.
    go(&children, &s.url, "/data-protection/file").await;
    children.client.find(Locator::Id("kind-access_trail")).await.unwrap().click().await.unwrap();
    type_into(&children, "subject_key", CHILD).await;
    type_into(&children, "reason", "subject access request 2026-77: who has seen my records").await;
    children.client.find(Locator::Id("file")).await.unwrap().click().await.unwrap();
    let trail = reached_under(&children, "/data-protection/requests/").await;
    let trail_id = text_of(&children, "reference").await;
    go(&children, &s.url, "/data-protection/subject-access").await;
    type_into(&children, "subject_key", CHILD).await;
    type_into(&children, "trail_request", &trail_id).await;
    click_to(&children, Locator::Id("produce-report"), "/data-protection/subject-access").await;
    let refused = check(&children, "dp-subject-access-trail-refused", &mut visited).await;
    assert!(refused.contains("The report was not produced") && refused.contains("approval"), "{refused}");
    go(&police, &s.url, &trail).await;
    police.client.find(Locator::Id("decision-approve")).await.unwrap().click().await.unwrap();
    click_to(&police, Locator::Id("decide"), &trail).await;
    let approved = check(&police, "dp-trail-approved", &mut visited).await;
    assert!(approved.contains("Request approved"), "{approved}");
    click_to(&children, Locator::Id("produce-report"), "/data-protection/subject-access").await;
    check(&children, "dp-subject-access-trail", &mut visited).await;
    let accesses = text_of(&children, "report-accesses").await;
    assert!(accesses.contains("police.met.nw") && accesses.contains("SubjectAccess"), "{accesses}");

    // The retention preview lists the 2012 arrest's subject, and erases nothing.
    go(&children, &s.url, "/data-protection/retention").await;
    let preview = check(&children, "dp-retention", &mut visited).await;
    assert!(text_of(&children, "due").await.contains(&format!("person/{OLD}")), "{preview}");
    type_into(&children, "at", "2099-13-01").await;
    click_to(&children, Locator::Id("preview-at"), "/data-protection/retention").await;
    let bad = check(&children, "dp-retention-error", &mut visited).await;
    assert!(bad.contains("Enter the date as a real date"), "{bad}");
    children.close().await;

    // A police officer: the erased child's arrest shows no name; the old
    // arrest, only previewed, still does.
    sign_out(&police).await;
    sign_in_to(&police, &s.url, ("police.met.nw", "practitioner", "safeguarding"), "/find", &mut visited).await;
    go(&police, &s.url, &format!("/subjects/person/{GONE}")).await;
    let erased = check(&police, "dp-erased-timeline", &mut visited).await;
    assert!(erased.contains(">Erased<") && !erased.contains(NAME), "{erased}");
    go(&police, &s.url, &format!("/events/{}", s.old)).await;
    let kept = police.client.source().await.unwrap();
    assert!(kept.contains(NAME) && !kept.contains(">Erased<"), "{kept}");
    police.close().await;

    for url in &visited {
        assert!(!url.to_lowercase().contains("jordan"), "{url}");
    }
}

/// A session signed in over HTTP as (agency, role, purpose), and its CSRF token.
async fn signed_in(url: &str, agency: &str, role: &str, purpose: &str) -> (String, String) {
    let (cookie, csrf) = sign_in_form(url).await;
    let form = [("csrf", csrf.as_str()), ("agency", agency), ("role", role), ("purpose", purpose)];
    let response = post(&format!("{url}/sign-in"), Some(&cookie), &form).await;
    let session = session_cookie(&response).unwrap();
    let start = response.headers()[LOCATION].to_str().unwrap().to_string();
    let page = get(&format!("{url}{start}"), &session).await.text().await.unwrap();
    (session, csrf_of(&page))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_roles_and_forged_forms_are_refused_and_the_audit_log_pages_and_exports_safely() {
    let s = setup().await;
    let url = &s.url;

    // A practitioner: every page refused by the services, said plainly.
    let (officer, csrf) = signed_in(url, "police.met.nw", "practitioner", "safeguarding").await;
    for path in ["/audit", "/audit/checkpoints", "/data-protection", "/data-protection/retention"] {
        let refused = get(&format!("{url}{path}"), &officer).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        let page = refused.text().await.unwrap();
        assert!(page.contains("This page is not open to you"), "{path}: {page}");
        assert!(!page.contains("href=\"/audit\"") && !page.contains("href=\"/data-protection\""), "{page}");
    }
    let export = [("csrf", csrf.as_str()), ("subject_kind", "person"), ("subject_key", CHILD)];
    let refused = post(&format!("{url}/audit/export"), Some(&officer), &export).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let filing = [("csrf", csrf.as_str()), ("kind", "erasure"), ("subject_kind", "person"), ("subject_key", CHILD)];
    let filing = [filing.as_slice(), &[("reason", "no longer necessary")]].concat();
    let refused = post(&format!("{url}/data-protection/file"), Some(&officer), &filing).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // An auditor's and a data protection officer's forms without their
    // session's token, or with a forged one: refused, nothing done.
    let (auditor, _) = signed_in(url, "childrens_services.harrow", "auditor", "audit").await;
    let (dpo, _) = signed_in(url, "police.met.nw", "data_protection", "administration").await;
    let subject = [("subject_kind", "person"), ("subject_key", CHILD)];
    for (session, path, form) in [
        (&auditor, "/audit", subject.to_vec()),
        (&auditor, "/audit/export", subject.to_vec()),
        (&auditor, "/audit/checkpoints", vec![("public_key", "00")]),
        (&dpo, "/data-protection/file", filing[1..].to_vec()),
        (&dpo, "/data-protection/subject-access", subject.to_vec()),
        (&dpo, "/data-protection/retention", vec![]),
    ] {
        let missing = post(&format!("{url}{path}"), Some(session), &form).await;
        assert!(missing.status().is_client_error(), "{path} without a token: {:?}", missing.status());
        let forged = [form.as_slice(), &[("csrf", "forged")]].concat();
        let refused = post(&format!("{url}{path}"), Some(session), &forged).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path} with a forged token");
        assert!(!refused.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"), "{path}");
    }
    // Nothing was filed: the service lists no request.
    let dpo_token = s.t.token("childrens_services.harrow", Role::DataProtection, Purpose::Administration);
    let mut admin = AdminServiceClient::new(s.t.channel().await);
    let listed = admin.list_requests(authorized(pb::ListRequestsRequest::default(), &dpo_token)).await.unwrap();
    assert!(listed.into_inner().requests.is_empty());
    // Nor is a request's page open to the practitioner.
    let refused = get(&format!("{url}/data-protection/requests/{}", uuid_v7()), &officer).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // The auditor pages through the officer's many page views with the
    // service's page tokens: 50 records, then the rest, none twice.
    for _ in 0..55 {
        assert_eq!(get(&format!("{url}/subjects/person/{CHILD}"), &officer).await.status(), StatusCode::OK);
    }
    let (auditor, csrf) = signed_in(url, "childrens_services.harrow", "auditor", "audit").await;
    let by_officer = [("csrf", csrf.as_str()), ("principal", OFFICER)];
    let first = post(&format!("{url}/audit"), Some(&auditor), &by_officer).await.text().await.unwrap();
    let token = first.split("name=\"page_token\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
    let next = [by_officer.as_slice(), &[("page_token", token)]].concat();
    let second = post(&format!("{url}/audit"), Some(&auditor), &next).await.text().await.unwrap();
    let positions = |page: &str| -> Vec<String> {
        page.split("href=\"#record-").skip(1).filter_map(|r| r.split('"').next()).map(str::to_string).collect()
    };
    let (first, second) = (positions(&first), positions(&second));
    assert_eq!(first.len(), 50);
    assert!(second.len() >= 55 - 50 && second.iter().all(|p| !first.contains(p)), "{first:?} {second:?}");

    // The kind of access narrows to what added events about the child.
    let added = [("csrf", csrf.as_str()), ("subject_kind", "person"), ("subject_key", CHILD), ("access", "added")];
    let added = post(&format!("{url}/audit"), Some(&auditor), &added).await.text().await.unwrap();
    assert!(added.contains("PublishService/Publish") && !added.contains("QueryService/SubjectTimeline"), "{added}");
    // And the event type: the child's arrest was read; no missing episode was.
    for (event_type, found) in [("arrest", true), ("missing_episode", false)] {
        let form =
            [("csrf", csrf.as_str()), ("subject_kind", "person"), ("subject_key", CHILD), ("event_type", event_type)];
        let page = post(&format!("{url}/audit"), Some(&auditor), &form).await.text().await.unwrap();
        assert_eq!(page.contains("QueryService/SubjectTimeline"), found, "{event_type}: {page}");
        assert_eq!(page.contains("id=\"no-records\""), !found, "{event_type}: {page}");
    }

    // A reader whose name is a spreadsheet formula: in the export it is
    // text, not a formula.
    let formula = "=HYPERLINK(\"http://evil.example\",\"open\")";
    let issuer = s.t.layout().issuer().unwrap();
    let ttl = std::time::Duration::from_secs(600);
    let token = issuer.mint(formula, &common::agency("police.met.nw"), Role::Practitioner, Purpose::Safeguarding, ttl);
    let mut query = QueryServiceClient::new(s.t.channel().await);
    let subject = pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: CHILD.into() };
    let timeline = pb::SubjectTimelineRequest { subject: Some(subject), page_size: 10, page_token: String::new() };
    query.subject_timeline(authorized(timeline, &token.unwrap())).await.unwrap();
    let by_formula = [("csrf", csrf.as_str()), ("principal", formula)];
    let export = post(&format!("{url}/audit/export"), Some(&auditor), &by_formula).await.text().await.unwrap();
    assert!(export.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"open\"\")\""), "{export}");
    let rows = parse_csv(&export);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][3], format!("'{formula}"));

    // A checkpoint "seen before" that the key did not sign (its size
    // altered) proves nothing, and the page says so; one that is no
    // checkpoint at all is a field error.
    let key = std::fs::read_to_string(s.t.layout().ledger_public_key()).unwrap();
    let auditor_token = s.t.token("yot.harrow", Role::Auditor, Purpose::Audit);
    let mut audit = AuditServiceClient::new(s.t.channel().await);
    let asked = authorized(pb::GetCheckpointRequest {}, &auditor_token);
    let note = audit.get_checkpoint(asked).await.unwrap().into_inner().signed_note;
    let mut lines: Vec<String> = note.lines().map(str::to_string).collect();
    lines[1] = (lines[1].parse::<u64>().unwrap() + 1).to_string();
    let forged = format!("{}\n", lines.join("\n"));
    let form = [("csrf", csrf.as_str()), ("public_key", key.trim()), ("audit_log_before", forged.as_str())];
    let checked = post(&format!("{url}/audit/checkpoints"), Some(&auditor), &form).await.text().await.unwrap();
    let verdict = checked.split("id=\"audit_log-consistency\">").nth(1).unwrap().split("</dd>").next().unwrap();
    assert!(verdict.contains("Failed") && verdict.contains("not signed by the key you gave"), "{verdict}");
    let signature = checked.split("id=\"audit_log-signature\">").nth(1).unwrap().split("</dd>").next().unwrap();
    assert!(signature.contains("Verified"), "{signature}");
    let form = [("csrf", csrf.as_str()), ("public_key", key.trim()), ("event_log_before", "no checkpoint")];
    let refused = post(&format!("{url}/audit/checkpoints"), Some(&auditor), &form).await.text().await.unwrap();
    assert!(refused.contains("There is a problem") && refused.contains("Paste a signed checkpoint"), "{refused}");
}

fn uuid_v7() -> String {
    concord_core::EventId::new_v7().to_string()
}
