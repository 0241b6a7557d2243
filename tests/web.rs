//! The web console against a real platform (redb on a temp dir, the
//! console on a free port, wired as `concord up` wires it): in a real
//! browser (headless chromium over WebDriver), a police officer finds a
//! child by name and date of birth and reads their timeline and an event; a
//! VCS worker opens the timeline by key and sees no CAMHS detail; an analyst
//! sees no names; an auditor finds the page views on the console's audit
//! page, and through AuditService each is one record naming the events it
//! showed. Every page is screenshotted into
//! target/browser-screenshots and checked with axe-core (vendored in
//! tests/browser, MPL-2.0) for serious or critical accessibility
//! violations. And from the attacker's side, over plain HTTP: forms
//! without this session's CSRF token are refused, a session id from before
//! sign-in is worthless, a subject or event the reader may not see is the
//! very page of one that does not exist, every answer carries the security
//! headers, a request for another host is refused, and the development
//! sign-in is not served off loopback.

use std::sync::Arc;

use concord_core::pb;
use concord_core::pb::admin_service_client::AdminServiceClient;
use concord_core::pb::audit_service_client::AuditServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use concord_web::SignIn;
use concord_web::signin::Development;
use fantoccini::Locator;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, HOST, LOCATION, SET_COOKIE};

use crate::common::browser::Browser;
use crate::common::{self, TestPlatform, authorized, publish};

/// A child police and CAMHS both hold, shared with the VCS.
const CHILD: &str = "P-web0001";
/// A child only CAMHS holds, shared with nobody.
const CAMHS_ONLY: &str = "P-web0002";
/// A child with a long timeline.
const LONG: &str = "P-web0004";
/// A child police hold, whose data was then erased.
const ERASED: &str = "P-web0003";
/// The name and date of birth `common::arrest` gives.
const NAME: &str = "Jordan Testcase";
const POLICE_NOTE: &str = "Seen near the station";
const CAMHS_NOTE: &str = "Clinical note: low mood";

/// The platform, the console's address, and the events published: the
/// police arrest (then corrected) and CAMHS contact about [`CHILD`], and
/// the CAMHS contact about [`CAMHS_ONLY`]; and police's arrest of
/// [`ERASED`], whose data was erased.
struct Setup {
    t: TestPlatform,
    url: String,
    arrest: String,
    contact: String,
    unshared: String,
}

async fn setup() -> Setup {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let camhs = t.token("camhs.nwl", Role::Practitioner, Purpose::DirectCare);
    let shared = |mut event: pb::Event| {
        event.share_with = vec!["vcs.st-giles".into()];
        event
    };
    let arrest = publish(&t, shared(common::arrest(CHILD, POLICE_NOTE)), &police).await.unwrap().event_id;
    let contact = shared(common::as_camhs_contact(common::arrest(CHILD, CAMHS_NOTE)));
    let contact = publish(&t, contact, &camhs).await.unwrap().event_id;
    let unshared = common::as_camhs_contact(common::arrest(CAMHS_ONLY, CAMHS_NOTE));
    let unshared = publish(&t, unshared, &camhs).await.unwrap().event_id;
    let mut correction = shared(common::arrest(CHILD, POLICE_NOTE));
    correction.corrects = arrest.clone();
    if let Some(pb::event::Body::Arrest(body)) = &mut correction.body {
        body.gravity_score = 2;
    }
    publish(&t, correction, &police).await.unwrap();
    publish(&t, shared(common::arrest(ERASED, POLICE_NOTE)), &police).await.unwrap();
    erase(&t, ERASED).await;
    let addr = concord::web::start(console(&t), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    Setup { t, url: format!("http://{addr}"), arrest, contact, unshared }
}

/// The console `concord up` serves over `t`, with the development sign-in.
pub(crate) fn console(t: &TestPlatform) -> concord_web::Console {
    let development = Development::new(t.layout().issuer().unwrap(), common::agencies());
    let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
    concord::web::console(&t.platform.services(), SignIn::Development(Arc::new(development)), zone)
        .expect("the platform has a read side")
}

/// Erases `key`'s data, as a data protection person files and another
/// agency's approves.
async fn erase(t: &TestPlatform, key: &str) {
    let issuer = t.layout().issuer().unwrap();
    let dpo = |sub: &str, agency: &str| {
        let ttl = std::time::Duration::from_secs(600);
        issuer.mint(sub, &common::agency(agency), Role::DataProtection, Purpose::Administration, ttl).unwrap()
    };
    let mut admin = AdminServiceClient::new(t.channel().await);
    let subject = pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() };
    let request = pb::FileRequestRequest {
        kind: pb::RequestKind::Erasure as i32,
        subject: Some(subject),
        reason: "erasure request: no longer necessary".into(),
    };
    let filed = admin.file_request(authorized(request, &dpo("police-dpo", "police.met.nw"))).await.unwrap();
    let decision = pb::DecideRequestRequest {
        request_id: filed.into_inner().request_id,
        decision: pb::RequestDecision::Approve as i32,
        ..Default::default()
    };
    admin.decide_request(authorized(decision, &dpo("cs-dpo", "childrens_services.harrow"))).await.unwrap();
}

/// Where the browser test's screenshots go.
fn screenshots() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const AXE: &str = include_str!("browser/axe.min.js");

/// The page now shown: screenshotted as `name`, checked by axe-core for
/// serious and critical violations, and its address remembered.
pub(crate) async fn check(b: &Browser, name: &str, visited: &mut Vec<String>) -> String {
    let png = b.client.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
    b.client.execute(AXE, vec![]).await.unwrap();
    let violations = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations
               .filter(v => v.impact === 'serious' || v.impact === 'critical')
               .map(v => v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(violations, serde_json::json!([]), "accessibility violations on the {name} page");
    visited.push(b.client.current_url().await.unwrap().to_string());
    b.client.source().await.unwrap()
}

/// Clicks `locator` and waits for the page at `path` to load (a form's
/// submission is not waited for by the click itself).
pub(crate) async fn click_to(b: &Browser, locator: Locator<'_>, path: &str) {
    b.client.find(locator).await.unwrap().click().await.unwrap();
    loaded(b, path).await;
}

/// Goes to `path` of the console at `url` and waits for it to load.
pub(crate) async fn go(b: &Browser, url: &str, path: &str) {
    b.client.goto(&format!("{url}{path}")).await.unwrap();
    loaded(b, path).await;
}

/// Waits for the page at `path` to have loaded.
async fn loaded(b: &Browser, path: &str) {
    for _ in 0..100 {
        let at = b.client.current_url().await.unwrap();
        let ready = b.client.execute("return document.readyState", vec![]).await.unwrap();
        if at.path() == path && ready == "complete" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never reached {path}: {}", b.client.source().await.unwrap());
}

async fn sign_in(b: &Browser, url: &str, agency: &str, role: &str, purpose: &str, visited: &mut Vec<String>) {
    sign_in_to(b, url, (agency, role, purpose), "/find", visited).await;
}

/// Signs in as (agency, role, purpose), landing on `start`.
pub(crate) async fn sign_in_to(
    b: &Browser,
    url: &str,
    who: (&str, &str, &str),
    start: &str,
    visited: &mut Vec<String>,
) {
    go(b, url, "/sign-in").await;
    check(b, "sign-in", visited).await;
    for (field, value) in [("agency", who.0), ("role", who.1), ("purpose", who.2)] {
        let select = b.client.find(Locator::Id(field)).await.unwrap();
        select.select_by_value(value).await.unwrap();
    }
    click_to(b, Locator::Id("sign-in"), start).await;
}

pub(crate) async fn sign_out(b: &Browser) {
    click_to(b, Locator::Css("header button"), "/sign-in").await;
}

pub(crate) async fn type_into(b: &Browser, field: &str, text: &str) {
    b.client.find(Locator::Id(field)).await.unwrap().send_keys(text).await.unwrap();
}

async fn open_by_key(b: &Browser, key: &str) {
    type_into(b, "key", key).await;
    click_to(b, Locator::Id("find-key"), &format!("/subjects/{key}")).await;
}

/// The access records naming `event_id`, as an auditor lists them.
async fn records_naming(s: &Setup, event_id: &str) -> Vec<pb::AccessRecord> {
    let auditor = s.t.token("childrens_services.harrow", Role::Auditor, Purpose::Audit);
    let mut client = AuditServiceClient::new(s.t.channel().await);
    let request = pb::ListAccessRequest { event_id: event_id.into(), page_size: 100, ..Default::default() };
    let page = client.list_access(authorized(request, &auditor)).await.unwrap().into_inner();
    page.records.into_iter().filter_map(|entry| entry.record).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn practitioners_find_a_child_and_read_what_the_agreement_allows_in_a_browser() {
    let s = setup().await;
    let b = Browser::start().await;
    let mut visited = Vec::new();

    // A police officer finds the child by name and date of birth (a
    // lower-case name: the directory folds case) and reads the arrest.
    sign_in(&b, &s.url, "police.met.nw", "practitioner", "safeguarding", &mut visited).await;
    check(&b, "find", &mut visited).await;
    type_into(&b, "name", "jordan testcase").await;
    for (field, value) in [("day", "3"), ("month", "2"), ("year", "2009")] {
        type_into(&b, field, value).await;
    }
    click_to(&b, Locator::Id("find-name"), "/find/name").await;
    let results = check(&b, "find-results", &mut visited).await;
    assert!(results.contains(&format!("/subjects/person/{CHILD}")), "{results}");
    let timeline = format!("/subjects/person/{CHILD}");
    click_to(&b, Locator::Css(&format!("a[href='{timeline}']")), &timeline).await;
    let timeline = check(&b, "timeline-police", &mut visited).await;
    assert!(timeline.contains("Arrest") && !timeline.contains(CAMHS_NOTE), "{timeline}");
    // The correction is said plainly: the arrest is corrected, the
    // correction says what it changed.
    assert!(timeline.contains(">Corrected<") && timeline.contains(">Correction<"), "{timeline}");
    assert!(timeline.contains("<td>arrest.gravity_score</td><td>3</td><td>2</td>"), "{timeline}");
    let arrest = format!("/events/{}", s.arrest);
    click_to(&b, Locator::Css(&format!("a[href='{arrest}']")), &arrest).await;
    let event = check(&b, "event-police", &mut visited).await;
    assert!(event.contains(NAME) && event.contains(POLICE_NOTE) && event.contains("Possession of weapons"), "{event}");
    // An erased child's arrest is still there, said to be erased, with no name.
    go(&b, &s.url, "/find").await;
    open_by_key(&b, &format!("person/{ERASED}")).await;
    let erased = check(&b, "timeline-erased", &mut visited).await;
    assert!(erased.contains(">Erased<") && !erased.contains(NAME), "{erased}");
    sign_out(&b).await;

    // A VCS worker opens the timeline by key: the arrest shared with them,
    // and no CAMHS detail, on the timeline or the contact's own page.
    sign_in(&b, &s.url, "vcs.st-giles", "practitioner", "safeguarding", &mut visited).await;
    open_by_key(&b, &format!("person/{CHILD}")).await;
    let timeline = check(&b, "timeline-vcs", &mut visited).await;
    assert!(timeline.contains(&format!("/events/{}", s.arrest)), "{timeline}");
    assert!(!timeline.contains(CAMHS_NOTE), "{timeline}");
    go(&b, &s.url, &format!("/events/{}", s.contact)).await;
    let contact = check(&b, "event-camhs-as-vcs", &mut visited).await;
    assert!(!contact.contains(CAMHS_NOTE), "{contact}");
    sign_out(&b).await;

    // An analyst reads only pseudonymised replays: no page here shows them a name.
    sign_in(&b, &s.url, "childrens_services.harrow", "analyst", "analysis", &mut visited).await;
    open_by_key(&b, &format!("person/{CHILD}")).await;
    let refused = check(&b, "timeline-analyst", &mut visited).await;
    assert!(refused.contains("not open to you") && !refused.contains(NAME), "{refused}");
    go(&b, &s.url, &format!("/events/{}", s.arrest)).await;
    let refused = b.client.source().await.unwrap();
    assert!(refused.contains("not open to you") && !refused.contains(NAME), "{refused}");
    sign_out(&b).await;

    // An auditor finds the police officer's page views of the arrest.
    sign_in_to(&b, &s.url, ("childrens_services.harrow", "auditor", "audit"), "/audit", &mut visited).await;
    check(&b, "audit", &mut visited).await;
    type_into(&b, "event_id", &s.arrest).await;
    click_to(&b, Locator::Id("audit-search"), "/audit").await;
    let audit = check(&b, "audit-records", &mut visited).await;
    for needle in ["console:practitioner@police.met.nw", "QueryService/SubjectTimeline", "QueryService/GetEvent"] {
        assert!(audit.contains(needle), "{needle} in {audit}");
    }
    assert!(!audit.contains(NAME) && !audit.contains(POLICE_NOTE), "{audit}");
    b.close().await;

    // No page's address held a name or a date of birth.
    for url in &visited {
        assert!(!url.to_lowercase().contains("jordan") && !url.contains("2009"), "{url}");
    }

    // The auditor finds each page view: one record, naming what it showed.
    let records = records_naming(&s, &s.arrest).await;
    let by = |principal: &str, rpc: &str| {
        records.iter().filter(|r| r.principal == principal && r.rpc.ends_with(rpc)).collect::<Vec<_>>()
    };
    let police = "console:practitioner@police.met.nw";
    let vcs = "console:practitioner@vcs.st-giles";
    assert_eq!(by(police, "/SubjectTimeline").len(), 1, "{records:#?}");
    assert_eq!(by(police, "/GetEvent").len(), 1, "{records:#?}");
    assert_eq!(by(police, "/Find").len(), 1, "{records:#?}");
    let vcs_timeline = by(vcs, "/SubjectTimeline");
    assert_eq!(vcs_timeline.len(), 1, "{records:#?}");
    let shown: Vec<&str> = vcs_timeline[0].shown.iter().map(|e| e.event_id.as_str()).collect();
    assert!(shown.contains(&s.arrest.as_str()), "{shown:?}");
    assert!(vcs_timeline[0].peer.starts_with("127.0.0.1:"), "{:?}", vcs_timeline[0].peer);
    assert!(records.iter().all(|r| !r.parameters.to_lowercase().contains("jordan")), "{records:#?}");
}

/// An HTTP client that shows redirects rather than following them.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The session cookie (`name=value`) an answer sets.
pub(crate) fn session_cookie(response: &reqwest::Response) -> Option<String> {
    let set = response.headers().get(SET_COOKIE)?.to_str().ok()?;
    Some(set.split(';').next()?.to_string())
}

/// The security headers every answer must carry.
fn assert_guarded(response: &reqwest::Response) {
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let csp = header(CONTENT_SECURITY_POLICY.as_str());
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("script-src") && !csp.contains("unsafe"), "{csp}");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("referrer-policy"), "no-referrer");
    if let Some(cookie) = response.headers().get(SET_COOKIE) {
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    }
}

/// The sign-in form's session cookie and CSRF token.
pub(crate) async fn sign_in_form(url: &str) -> (String, String) {
    let response = http().get(format!("{url}/sign-in")).send().await.unwrap();
    assert_guarded(&response);
    let cookie = session_cookie(&response).expect("the sign-in form starts a session");
    let page = response.text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
    (cookie, csrf.to_string())
}

pub(crate) async fn post(url: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut request = http().post(url).form(form);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    assert_guarded(&response);
    response
}

pub(crate) async fn get(url: &str, cookie: &str) -> reqwest::Response {
    let response = http().get(url).header(COOKIE, cookie).send().await.unwrap();
    assert_guarded(&response);
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_refuses_forged_forms_and_hides_what_the_reader_may_not_see() {
    let s = setup().await;
    let url = &s.url;
    let vcs = [("agency", "vcs.st-giles"), ("role", "practitioner"), ("purpose", "safeguarding")];
    let sign_in_url = format!("{url}/sign-in");

    // Sign-in without the form's CSRF token, with a forged one, or without
    // the session the form came with: refused, and no session given.
    let (cookie, csrf) = sign_in_form(url).await;
    let without = post(&sign_in_url, Some(&cookie), &vcs).await;
    assert!(without.status().is_client_error() && session_cookie(&without).is_none(), "{:?}", without.status());
    let forged = [vcs.as_slice(), &[("csrf", "forged")]].concat();
    let refused = post(&sign_in_url, Some(&cookie), &forged).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&refused).is_none());
    let genuine = [vcs.as_slice(), &[("csrf", csrf.as_str())]].concat();
    let elsewhere = post(&sign_in_url, None, &genuine).await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN, "a token without its session");

    // Signing in gives a new session; the one from before is worthless.
    let signed_in = post(&sign_in_url, Some(&cookie), &genuine).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[LOCATION], "/find");
    let session = session_cookie(&signed_in).unwrap();
    assert_ne!(session, cookie);
    let before = get(&format!("{url}/find"), &cookie).await;
    assert_eq!((before.status(), before.headers()[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/sign-in"));
    let find = get(&format!("{url}/find"), &session).await;
    assert_eq!(find.status(), StatusCode::OK);
    let page = find.text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();

    // The signed-in session's forms, without or with a forged token.
    let key = format!("person/{CHILD}");
    for (path, form) in [
        ("/find/key", vec![("key", key.as_str())]),
        ("/find/name", vec![("name", NAME), ("day", "3"), ("month", "2"), ("year", "2009")]),
        ("/sign-out", vec![]),
    ] {
        let missing = post(&format!("{url}{path}"), Some(&session), &form).await;
        assert!(missing.status().is_client_error(), "{path} without a token: {:?}", missing.status());
        let mut forged = form.clone();
        forged.push(("csrf", "forged"));
        let refused = post(&format!("{url}{path}"), Some(&session), &forged).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path} with a forged token");
    }
    // The genuine token works, and the search's terms stay out of the address.
    let opened = post(&format!("{url}/find/key"), Some(&session), &[("csrf", csrf), ("key", &key)]).await;
    assert_eq!(opened.headers()[LOCATION].to_str().unwrap(), format!("/subjects/{key}"));

    // A subject, and an event, the VCS may see nothing about: the very page
    // of ones that do not exist.
    let hidden = get(&format!("{url}/subjects/person/{CAMHS_ONLY}"), &session).await;
    let absent = get(&format!("{url}/subjects/person/P-web9999"), &session).await;
    assert_eq!((hidden.status(), absent.status()), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(hidden.text().await.unwrap(), absent.text().await.unwrap());
    let hidden = get(&format!("{url}/events/{}", s.unshared), &session).await;
    let absent = get(&format!("{url}/events/{}", concord_core::EventId::new_v7()), &session).await;
    assert_eq!((hidden.status(), absent.status()), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(hidden.text().await.unwrap(), absent.text().await.unwrap());

    // A long timeline comes a page at a time, each link holding only the
    // query service's sealed page token.
    let police = s.t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let mut arrests = Vec::new();
    for _ in 0..27 {
        let mut event = common::arrest(LONG, POLICE_NOTE);
        event.share_with = vec!["vcs.st-giles".into()];
        arrests.push(publish(&s.t, event, &police).await.unwrap().event_id);
    }
    let first = get(&format!("{url}/subjects/person/{LONG}"), &session).await.text().await.unwrap();
    let next = first.split("id=\"next-page\" href=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
    assert!(next.starts_with(&format!("/subjects/person/{LONG}?after=")), "{next}");
    let second = get(&format!("{url}{}", next.replace("&amp;", "&")), &session).await.text().await.unwrap();
    let listed = |page: &str| arrests.iter().filter(|id| page.contains(&format!("/events/{id}"))).count();
    assert_eq!((listed(&first), listed(&second)), (25, 2));
    assert!(!second.contains("next-page"), "the last page links to no later one");

    // A request addressed to another host (DNS rebinding) is refused.
    let rebound = http().get(format!("{url}/sign-in")).header(HOST, "evil.example").send().await.unwrap();
    assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST);

    // And the development sign-in is not served off loopback at all.
    let refused = concord::web::start(console(&s.t), "0.0.0.0:0".parse().unwrap()).await.unwrap_err();
    assert!(format!("{refused:#}").contains("only on loopback"), "{refused:#}");
}
