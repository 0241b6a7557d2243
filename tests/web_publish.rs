//! Publishing through the web console's forms, and following a cohort, in
//! a real browser (headless chromium) against a real platform: a police
//! officer's arrest form with an invalid and then a missing field shows
//! the field's error and publishes nothing; filled in, it publishes, and
//! the arrest is on the child's timeline; the officer starts a cohort
//! through its form and its feed shows a new event about the member after
//! a refresh, never one the agreement withholds from police. A VCS worker's
//! arrest is refused by the node and the form says so; an analyst is not
//! let in. Every page is screenshotted and checked by axe-core. And over
//! plain HTTP: the forms refuse a post without the session's CSRF token,
//! and what a form attaches (a name and date of birth) lets the directory
//! find the child.

use concord_core::pb;
use concord_core::pb::audit_service_client::AuditServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use concord_web::pages::cohort::NEWEST_EVENTS;
use fantoccini::Locator;
use reqwest::StatusCode;

use crate::common::browser::Browser;
use crate::common::{self, TestPlatform, authorized, publish};
use crate::web::{
    check, click_to, console, get, go, post, session_cookie, sign_in_form, sign_in_to, sign_out, type_into,
};

/// The child the officer arrests through the form.
const CHILD: &str = "P-wpub0001";
/// The cohort the officer starts.
const COHORT: &str = "wp-exploitation";
/// The note typed into the arrest form.
const NOTE: &str = "Seen with older males near the station";

/// The platform and the console's address.
async fn setup() -> (TestPlatform, String) {
    let t = TestPlatform::start(Engine::Redb).await;
    let addr = concord::web::start(console(&t), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    (t, format!("http://{addr}"))
}

/// Ticks the checkbox posting `value` as `name`.
async fn tick(b: &Browser, name: &str, value: &str) {
    let css = format!("input[name='{name}'][value='{value}']");
    b.client.find(Locator::Css(&css)).await.unwrap().click().await.unwrap();
}

/// Chooses `value` in the select with id `id`.
async fn choose(b: &Browser, id: &str, value: &str) {
    b.client.find(Locator::Id(id)).await.unwrap().select_by_value(value).await.unwrap();
}

/// Replaces what the field with id `id` holds by `text`.
async fn retype(b: &Browser, id: &str, text: &str) {
    let field = b.client.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// The id of the event a publish result page names.
fn published_id(page: &str) -> String {
    let after = page.split("id=\"event-link\" href=\"/events/").nth(1).expect("a link to the event");
    after.split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn practitioners_publish_through_forms_and_follow_their_cohort_in_a_browser() {
    let (t, url) = setup().await;
    let b = Browser::start().await;
    let mut visited = Vec::new();
    let police = ("police.met.nw", "practitioner", "safeguarding");

    // The officer's agency's types, and the arrest form.
    sign_in_to(&b, &url, police, "/find", &mut visited).await;
    go(&b, &url, "/publish").await;
    let list = check(&b, "publish-list", &mut visited).await;
    assert!(list.contains("href=\"/publish/arrest\"") && !list.contains("href=\"/publish/camhs_contact\""), "{list}");
    click_to(&b, Locator::Css("a[href='/publish/arrest']"), "/publish/arrest").await;
    check(&b, "publish-arrest", &mut visited).await;

    // A gravity score that is no number: its error, and nothing published.
    let size = t.platform.log.size();
    type_into(&b, "subjects-0-key", CHILD).await;
    // What identifies the child is asked for on opening the details.
    b.client.find(Locator::Css("details summary")).await.unwrap().click().await.unwrap();
    type_into(&b, "subjects-0-name", "Jordan Formfill").await;
    type_into(&b, "borough", "Harrow").await;
    type_into(&b, "ward", "Wealdstone").await;
    choose(&b, "arrest-offence_category", "possession_of_weapons").await;
    type_into(&b, "arrest-gravity_score", "three").await;
    choose(&b, "arrest-custody_outcome", "CUSTODY_OUTCOME_BAILED").await;
    tick(&b, "arrest.weapon", "true").await;
    type_into(&b, "note", NOTE).await;
    click_to(&b, Locator::Id("publish"), "/publish/arrest").await;
    let invalid = check(&b, "publish-arrest-invalid", &mut visited).await;
    assert!(invalid.contains("There is a problem") && invalid.contains("href=\"#arrest-gravity_score\""), "{invalid}");
    assert!(invalid.contains("id=\"arrest-gravity_score-error\""), "{invalid}");
    assert!(invalid.contains(&format!("value=\"{CHILD}\"")) && invalid.contains(NOTE), "the form keeps what was typed");

    // A gravity score, but no lawful basis: the node refuses, the form says
    // which field, and still nothing is published.
    retype(&b, "arrest-gravity_score", "3").await;
    click_to(&b, Locator::Id("publish"), "/publish/arrest").await;
    let missing = check(&b, "publish-arrest-no-basis", &mut visited).await;
    assert!(missing.contains("href=\"#lawful_basis\"") && missing.contains("no lawful basis"), "{missing}");
    assert!(missing.contains("id=\"lawful_basis-error\""), "{missing}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(t.platform.log.size(), size, "a refused form publishes nothing");

    // With a basis it is published, and is on the child's timeline.
    tick(&b, "lawful_basis", "LAWFUL_BASIS_SAFEGUARDING").await;
    click_to(&b, Locator::Id("publish"), "/publish/arrest").await;
    let done = check(&b, "publish-arrest-done", &mut visited).await;
    assert!(done.contains("Arrest published"), "{done}");
    let arrest = published_id(&done);
    assert_eq!(t.platform.log.size(), size + 1);
    let timeline = format!("/subjects/person/{CHILD}");
    click_to(&b, Locator::Css(&format!("a[href='{timeline}']")), &timeline).await;
    let page = check(&b, "publish-arrest-timeline", &mut visited).await;
    assert!(page.contains(&format!("/events/{arrest}")), "{page}");
    go(&b, &url, &format!("/events/{arrest}")).await;
    let event = check(&b, "publish-arrest-event", &mut visited).await;
    assert!(
        event.contains(NOTE) && event.contains("Jordan Formfill") && event.contains("Possession of weapons"),
        "{event}"
    );

    // The officer starts a cohort with the child in it.
    go(&b, &url, "/cohorts").await;
    let none = check(&b, "cohorts-none", &mut visited).await;
    assert!(none.contains("id=\"no-cohorts\""), "{none}");
    go(&b, &url, "/publish/cohort_changed").await;
    check(&b, "publish-cohort-changed", &mut visited).await;
    type_into(&b, "subjects-0-key", CHILD).await;
    type_into(&b, "borough", "Harrow").await;
    type_into(&b, "cohort_changed-cohort", COHORT).await;
    tick(&b, "lawful_basis", "LAWFUL_BASIS_SAFEGUARDING").await;
    click_to(&b, Locator::Id("publish"), "/publish/cohort_changed").await;
    let done = check(&b, "publish-cohort-changed-done", &mut visited).await;
    let joined = published_id(&done);

    // Its feed: the member, the arrest and the cohort change, newest first.
    go(&b, &url, "/cohorts").await;
    check(&b, "cohorts", &mut visited).await;
    click_to(&b, Locator::XPath(&format!("//button[normalize-space()='{COHORT}']")), "/cohorts/feed").await;
    let feed = check(&b, "cohort-feed", &mut visited).await;
    assert!(feed.contains(&format!("href=\"/subjects/person/{CHILD}\"")), "{feed}");
    let (at_joined, at_arrest) = (feed.find(&format!("/events/{joined}")), feed.find(&format!("/events/{arrest}")));
    assert!(at_joined.is_some() && at_arrest.is_some() && at_joined < at_arrest, "newest first: {feed}");

    // Then a VCS engagement police may not see, and another arrest: after a
    // refresh the feed shows the arrest, never the engagement.
    let vcs_token = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
    let police_token = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let mut engagement = common::arrest(CHILD, "engagement note");
    engagement.agency_id = "vcs.st-giles".into();
    engagement.agency_kind = pb::AgencyKind::Vcs as i32;
    engagement.body = Some(pb::event::Body::VcsEngagement(pb::VcsEngagement {
        programme: "mentoring".into(),
        sessions: 2,
        outcome: pb::EngagementOutcome::Engaged as i32,
    }));
    let hidden = publish(&t, engagement, &vcs_token).await.unwrap().event_id;
    let mut query = QueryServiceClient::new(t.channel().await);
    let get_hidden = pb::GetEventRequest { event_id: hidden.clone() };
    let refused = query.get_event(authorized(get_hidden, &police_token)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound, "the agreement withholds the engagement from police");
    let second = publish(&t, common::arrest(CHILD, "second arrest"), &police_token).await.unwrap().event_id;
    let audited = t.platform.audit.log().size();
    click_to(&b, Locator::Id("refresh"), "/cohorts/feed").await;
    let feed = check(&b, "cohort-feed-refreshed", &mut visited).await;
    assert!(feed.contains(&format!("/events/{second}")), "the new event: {feed}");
    assert!(!feed.contains(&hidden) && !feed.contains("Vcs engagement") && !feed.contains("VCS engagement"), "{feed}");

    // The refreshed page view is ONE access record, of the one Cohort
    // call, naming exactly the events the page shows; no record of the
    // console names the engagement it did not show.
    let records = records_from(&t, audited + 1);
    assert_eq!(records.len(), 1, "one access record per page view: {records:?}");
    assert_eq!(records[0].rpc, "/concord.v1.DirectoryService/Cohort");
    assert_eq!(records[0].principal, "console:practitioner@police.met.nw");
    let named: Vec<String> = records[0].shown.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(named, feed_events(&feed), "the record names exactly the events shown, in order");
    assert_eq!(named.first(), Some(&second), "newest first");
    assert!(records[0].withheld >= 1, "the engagement was withheld: {:?}", records[0]);
    let console_reads = |records: Vec<pb::AccessRecord>| {
        records.iter().filter(|r| r.principal == "console:practitioner@police.met.nw").count()
    };
    assert_eq!(console_reads(records_naming(&t, &hidden).await), 0);

    // More events than the feed shows: the newest NEWEST_EVENTS, newest
    // first, the oldest left out; still one record naming just those.
    let more = NEWEST_EVENTS as usize;
    let mut newer = Vec::new();
    for i in 0..more {
        let note = format!("arrest {i}");
        newer.push(publish(&t, common::arrest(CHILD, &note), &police_token).await.unwrap().event_id);
    }
    let audited = t.platform.audit.log().size();
    click_to(&b, Locator::Id("refresh"), "/cohorts/feed").await;
    let feed = b.client.source().await.unwrap();
    let shown = feed_events(&feed);
    newer.reverse();
    assert_eq!(shown, newer, "the newest {more}, newest first");
    assert!(!feed.contains(&format!("/events/{second}")) && !feed.contains(&format!("/events/{joined}")));
    let records = records_from(&t, audited + 1);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].shown.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>(), shown);
    sign_out(&b).await;

    // A VCS worker's arrest: the node refuses it, and the form says so.
    let size = t.platform.log.size();
    sign_in_to(&b, &url, ("vcs.st-giles", "practitioner", "safeguarding"), "/find", &mut visited).await;
    go(&b, &url, "/publish").await;
    let list = check(&b, "publish-list-vcs", &mut visited).await;
    assert!(list.contains("/publish/vcs_engagement") && !list.contains("/publish/arrest\""), "{list}");
    go(&b, &url, "/publish/arrest").await;
    let form = check(&b, "publish-arrest-vcs", &mut visited).await;
    assert!(form.contains("id=\"not-ours\""), "{form}");
    type_into(&b, "subjects-0-key", CHILD).await;
    type_into(&b, "borough", "Harrow").await;
    choose(&b, "arrest-offence_category", "robbery").await;
    type_into(&b, "arrest-gravity_score", "2").await;
    choose(&b, "arrest-custody_outcome", "CUSTODY_OUTCOME_CHARGED").await;
    tick(&b, "lawful_basis", "LAWFUL_BASIS_SAFEGUARDING").await;
    click_to(&b, Locator::Id("publish"), "/publish/arrest").await;
    let refused = check(&b, "publish-arrest-vcs-refused", &mut visited).await;
    assert!(refused.contains("There is a problem") && refused.contains("published by police only"), "{refused}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(t.platform.log.size(), size, "the VCS published nothing");
    sign_out(&b).await;

    // An analyst publishes nothing and follows no cohort.
    sign_in_to(&b, &url, ("childrens_services.harrow", "analyst", "analysis"), "/find", &mut visited).await;
    go(&b, &url, "/publish").await;
    let page = check(&b, "publish-analyst", &mut visited).await;
    assert!(page.contains("not open to you"), "{page}");
    go(&b, &url, "/cohorts").await;
    let page = check(&b, "cohorts-analyst", &mut visited).await;
    assert!(page.contains("not open to you"), "{page}");
    b.close().await;

    // No address held the cohort's name, a name or the note.
    for address in &visited {
        assert!(!address.contains(COHORT) && !address.to_lowercase().contains("jordan"), "{address}");
    }
}

/// The access records from audit log position `from` on.
fn records_from(t: &TestPlatform, from: u64) -> Vec<pb::AccessRecord> {
    let audit = &t.platform.audit;
    (from..=audit.log().size()).map(|position| audit.get(position).unwrap().unwrap()).collect()
}

/// The ids of the events a cohort feed page lists, in order.
fn feed_events(page: &str) -> Vec<String> {
    let Some(feed) = page.split("id=\"feed\"").nth(1) else { return Vec::new() };
    let feed = feed.split("</ol>").next().unwrap_or_default();
    feed.split("<h3 class=\"heading-s\"><a class=\"link\" href=\"/events/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect()
}

/// The access records naming `event_id`, as an auditor lists them.
async fn records_naming(t: &TestPlatform, event_id: &str) -> Vec<pb::AccessRecord> {
    let auditor = t.token("childrens_services.harrow", Role::Auditor, Purpose::Audit);
    let mut client = AuditServiceClient::new(t.channel().await);
    let request = pb::ListAccessRequest { event_id: event_id.into(), page_size: 100, ..Default::default() };
    let page = client.list_access(authorized(request, &auditor)).await.unwrap().into_inner();
    page.records.into_iter().filter_map(|entry| entry.record).collect()
}

/// Signs in over HTTP as (agency, role, purpose): the session cookie and
/// its CSRF token.
async fn http_sign_in(url: &str, who: [&str; 3]) -> (String, String) {
    let (cookie, csrf) = sign_in_form(url).await;
    let form = [("agency", who[0]), ("role", who[1]), ("purpose", who[2]), ("csrf", csrf.as_str())];
    let signed_in = post(&format!("{url}/sign-in"), Some(&cookie), &form).await;
    let session = session_cookie(&signed_in).expect("signing in starts a session");
    // Any signed-in page holds the token (a refusal too, in its sign-out form).
    let page = get(&format!("{url}/publish"), &session).await.text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
    (session, csrf.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_publishing_forms_refuse_forged_posts_and_attach_what_finds_the_child() {
    let (t, url) = setup().await;
    let (session, csrf) = http_sign_in(&url, ["police.met.nw", "practitioner", "safeguarding"]).await;
    let arrest = [
        ("subjects[0].kind", "SUBJECT_KIND_PERSON"),
        ("subjects[0].key", CHILD),
        ("subjects[0].name", "Casey Formfound"),
        ("subjects[0].date_of_birth", "2010-05-06"),
        ("occurred_at", "2026-12-01T18:45"),
        ("borough", "Harrow"),
        ("arrest.offence_category", "robbery"),
        ("arrest.gravity_score", "4"),
        ("arrest.custody_outcome", "CUSTODY_OUTCOME_CHARGED"),
        ("classification", "CLASSIFICATION_OFFICIAL_SENSITIVE"),
        ("lawful_basis", "LAWFUL_BASIS_CRIME_AND_DISORDER"),
    ];
    let size = t.platform.log.size();

    // Without the session's CSRF token, or with a forged one: refused, and
    // nothing published; the cohort feed likewise.
    let publish_url = format!("{url}/publish/arrest");
    let missing = post(&publish_url, Some(&session), &arrest).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let forged = [arrest.as_slice(), &[("csrf", "forged")]].concat();
    assert_eq!(post(&publish_url, Some(&session), &forged).await.status(), StatusCode::FORBIDDEN);
    let feed_url = format!("{url}/cohorts/feed");
    let missing = post(&feed_url, Some(&session), &[("cohort", COHORT)]).await;
    assert!(missing.status().is_client_error(), "{:?}", missing.status());
    let forged = post(&feed_url, Some(&session), &[("cohort", COHORT), ("csrf", "forged")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // Nor without a session at all.
    let genuine = [arrest.as_slice(), &[("csrf", csrf.as_str())]].concat();
    let anonymous = post(&publish_url, None, &genuine).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "to the sign-in");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(t.platform.log.size(), size);

    // With it, published; the name and date of birth it attached find the child.
    let done = post(&publish_url, Some(&session), &genuine).await.text().await.unwrap();
    assert!(done.contains("Arrest published"), "{done}");
    let find = [("csrf", csrf.as_str()), ("name", "Casey Formfound"), ("day", "6"), ("month", "5"), ("year", "2010")];
    let found = post(&format!("{url}/find/name"), Some(&session), &find).await.text().await.unwrap();
    assert!(found.contains(&format!("/subjects/person/{CHILD}")), "{found}");

    // Cuckooing of an adult on a basis the agreement does not share with
    // adult safeguarding: published, and the page says nobody is alerted.
    let concern = [
        ("csrf", csrf.as_str()),
        ("subjects[0].kind", "SUBJECT_KIND_PERSON"),
        ("subjects[0].key", "P-wpub0003"),
        ("occurred_at", "2026-12-02T09:15"),
        ("borough", "Harrow"),
        ("exploitation_concern.exploitation_type", "EXPLOITATION_TYPE_CUCKOOING"),
        ("exploitation_concern.risk", "RISK_LEVEL_HIGH"),
        ("exploitation_concern.adult", "true"),
        ("classification", "CLASSIFICATION_OFFICIAL"),
        ("lawful_basis", "LAWFUL_BASIS_LEGAL_OBLIGATION"),
    ];
    let concern_url = format!("{url}/publish/exploitation_concern");
    let done = post(&concern_url, Some(&session), &concern).await.text().await.unwrap();
    assert!(done.contains("Exploitation concern published") && done.contains("id=\"unheard-alert\""), "{done}");
    assert!(done.contains("nobody will be alerted"), "{done}");

    // A cohort name that cannot be one: its field's error.
    let bad = post(&feed_url, Some(&session), &[("cohort", "no spaces allowed"), ("csrf", csrf.as_str())]).await;
    let page = bad.text().await.unwrap();
    assert!(page.contains("id=\"cohort-error\"") && page.contains("href=\"#cohort\""), "{page}");

    // An unknown type is no page; a role that publishes nothing is told so.
    assert_eq!(get(&format!("{url}/publish/parking_ticket"), &session).await.status(), StatusCode::NOT_FOUND);
    let (auditor, _) = http_sign_in(&url, ["childrens_services.harrow", "auditor", "audit"]).await;
    let refused = get(&format!("{url}/publish/arrest"), &auditor).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("does not publish events"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agency_whose_node_runs_elsewhere_is_told_it_cannot_publish_here() {
    // Only the police's node runs here; the VCS may sign in but not publish.
    let t = TestPlatform::start_for(vec![common::agency("police.met.nw")]).await;
    let addr = concord::web::start(console(&t), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{addr}");
    let (session, csrf) = http_sign_in(&url, ["vcs.st-giles", "practitioner", "safeguarding"]).await;
    let engagement = [
        ("csrf", csrf.as_str()),
        ("subjects[0].kind", "SUBJECT_KIND_PERSON"),
        ("subjects[0].key", CHILD),
        ("occurred_at", "2026-12-03T16:00"),
        ("borough", "Harrow"),
        ("vcs_engagement.programme", "mentoring"),
        ("vcs_engagement.outcome", "ENGAGEMENT_OUTCOME_ENGAGED"),
        ("classification", "CLASSIFICATION_OFFICIAL"),
        ("lawful_basis", "LAWFUL_BASIS_SAFEGUARDING"),
    ];
    let size = t.platform.log.size();
    let refused = post(&format!("{url}/publish/vcs_engagement"), Some(&session), &engagement).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(page.contains("does not run here") && page.contains("Nothing was published"), "{page}");
    assert_eq!(t.platform.log.size(), size);
}
