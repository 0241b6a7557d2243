//! The web console's VVE briefing against a real platform (redb on a temp
//! dir, the console wired as `concord up` wires it). In headless chromium a
//! children's services briefing lead reads the daily briefing of arrests
//! published here, ranked with its reasons and history; carries it on up to
//! now, agrees an action (after putting right the fields in error), assigns
//! it an owner and a due date, closes it; publishes the briefing and opens
//! it. Two sessions of the lead change one action: the one behind sees that
//! it changed, with the other's change, and saves again. An analyst is
//! refused. Every page is screenshotted into target/browser-screenshots and
//! checked with axe-core; through AuditService the briefing page view is one
//! access record naming the events shown. An action still open from an
//! earlier briefing, about no one in the window, is listed apart. Over plain HTTP, from the
//! attacker's side: forms without this session's CSRF token, a form on a
//! stale version (the ledger's conflict), bad input, the police (who own
//! the action) changing its owner or creating an item or opening the
//! lead's published briefing, and an analyst.

use concord_core::pb;
use concord_core::pb::audit_service_client::AuditServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use fantoccini::Locator;
use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::common::browser::Browser;
use crate::common::{self, TestPlatform, authorized, publish};
use crate::web::{check, get, go, post, session_cookie, sign_in_form, sign_in_to, sign_out, type_into};

/// A child arrested with a weapon in the window: ranked first.
const ARMED: &str = "P-brf0001";
/// A child arrested without one: ranked below.
const UNARMED: &str = "P-brf0002";
/// The name `common::arrest` gives everyone.
const NAME: &str = "Jordan Testcase";
const LEAD: (&str, &str, &str) = ("childrens_services.harrow", "briefing_lead", "briefing");
const LEAD_PRINCIPAL: &str = "console:briefing_lead@childrens_services.harrow";

/// The platform, the console's address, and the window's arrests.
struct Setup {
    t: TestPlatform,
    url: String,
    armed: String,
    unarmed: String,
}

/// The daily window now, as the briefing service has it by default.
fn daily_window() -> concord_briefing::Window {
    concord_briefing::BriefingTime::default().window(None, None, concord_core::now_millis()).unwrap()
}

async fn setup() -> Setup {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let window = daily_window();
    let arrest = |key: &str, weapon: bool, at: i64| {
        let mut event = common::arrest(key, "Seen near the station");
        event.occurred_at = Some(concord_core::timestamp(at));
        if let Some(pb::event::Body::Arrest(body)) = &mut event.body {
            (body.weapon, body.gravity_score, body.first_arrest) = (weapon, if weapon { 4 } else { 2 }, false);
        }
        event
    };
    // A month earlier: the armed child's history.
    publish(&t, arrest(ARMED, false, window.from - 30 * 86_400_000), &police).await.unwrap();
    let armed = publish(&t, arrest(ARMED, true, window.to - 3_600_000), &police).await.unwrap().event_id;
    let unarmed = publish(&t, arrest(UNARMED, false, window.to - 7_200_000), &police).await.unwrap().event_id;
    let addr = concord::web::start(crate::web::console(&t), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    Setup { t, url: format!("http://{addr}"), armed, unarmed }
}

/// The access records naming `event_id`, as an auditor lists them.
async fn records_naming(t: &TestPlatform, event_id: &str) -> Vec<pb::AccessRecord> {
    let auditor = t.token("childrens_services.harrow", Role::Auditor, Purpose::Audit);
    let mut client = AuditServiceClient::new(t.channel().await);
    let request = pb::ListAccessRequest { event_id: event_id.into(), page_size: 100, ..Default::default() };
    let page = client.list_access(authorized(request, &auditor)).await.unwrap().into_inner();
    page.records.into_iter().filter_map(|entry| entry.record).collect()
}

/// The value of the form field `name` first after `marker` in `page`.
fn field_after(page: &str, marker: &str, name: &str) -> String {
    let rest = page.split(marker).nth(1).unwrap_or_else(|| panic!("{marker} not in {page}"));
    let value = rest.split(&format!("name=\"{name}\" value=\"")).nth(1).unwrap_or_else(|| panic!("no {name}"));
    value.split('"').next().unwrap().to_string()
}

/// The item id of the first action of item `VVE-…` listed on `page`.
fn item_on(page: &str) -> String {
    let rest = page.split("of item VVE-").nth(1).unwrap_or_else(|| panic!("no item on {page}"));
    format!("VVE-{}", rest.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap())
}

/// A date `days` after today in London, as (day, month, year).
fn in_days(days: i64) -> (String, String, String) {
    let date = jiff::tz::TimeZone::get("Europe/London").unwrap().to_datetime(jiff::Timestamp::now()).date();
    let date = date.checked_add(jiff::Span::new().days(days)).unwrap();
    (date.day().to_string(), date.month().to_string(), date.year().to_string())
}

/// Fills the date fields `prefix`day/month/year with `date`.
async fn type_date(b: &Browser, prefix: &str, date: &(String, String, String)) {
    for (field, value) in [("day", &date.0), ("month", &date.1), ("year", &date.2)] {
        let input = b.client.find(Locator::Id(&format!("{prefix}{field}"))).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
}

/// Replaces the text of field `id`.
async fn retype(b: &Browser, id: &str, text: &str) {
    let input = b.client.find(Locator::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// Clicks `locator` and waits for the next page, at `path`, to load (the
/// page may be at the same path as the one left).
async fn submit(b: &Browser, locator: Locator<'_>, path: &str) {
    let left = b.client.find(Locator::Css("html")).await.unwrap();
    b.client.find(locator).await.unwrap().click().await.unwrap();
    for _ in 0..200 {
        let gone = left.tag_name().await.is_err();
        let at = b.client.current_url().await.unwrap();
        let ready = b.client.execute("return document.readyState", vec![]).await.unwrap();
        if gone && at.path() == path && ready == "complete" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never reached {path}: {}", b.client.source().await.unwrap());
}

/// Opens the disclosure whose summary is `id`.
async fn open(b: &Browser, id: &str) {
    b.client.find(Locator::Id(id)).await.unwrap().click().await.unwrap();
}

/// Signs `who` in over plain HTTP: their session cookie.
async fn http_sign_in(url: &str, who: (&str, &str, &str)) -> String {
    let (cookie, csrf) = sign_in_form(url).await;
    let form = [("agency", who.0), ("role", who.1), ("purpose", who.2), ("csrf", csrf.as_str())];
    let signed_in = post(&format!("{url}/sign-in"), Some(&cookie), &form).await;
    session_cookie(&signed_in).expect("signed in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_briefing_lead_runs_the_briefing_and_its_actions_in_a_browser() {
    let s = setup().await;
    let b = Browser::start().await;
    let mut visited = Vec::new();

    // The daily briefing: the armed child first, for the weapon arrest,
    // with the earlier arrest as history; no forms on the daily window.
    sign_in_to(&b, &s.url, LEAD, "/find", &mut visited).await;
    submit(&b, Locator::Css("a[href='/briefing']"), "/briefing").await;
    let daily = check(&b, "briefing-daily", &mut visited).await;
    let (armed, unarmed) = (daily.find(&format!(">person/{ARMED}<")), daily.find(&format!(">person/{UNARMED}<")));
    assert!(armed.is_some() && unarmed.is_some() && armed < unarmed, "ranked: {daily}");
    assert!(daily.contains("weapon arrest") && daily.contains("Arrest: 1"), "reasons and history: {daily}");
    assert!(!daily.contains("Agree an action"), "the daily window offers no forms: {daily}");

    // That page view is one access record naming the events it showed.
    let records = records_naming(&s.t, &s.armed).await;
    let views: Vec<_> = records.iter().filter(|r| r.principal == LEAD_PRINCIPAL).collect();
    assert_eq!(views.len(), 1, "{records:#?}");
    assert!(views[0].rpc.ends_with("BriefingService/Generate"), "{:?}", views[0].rpc);
    let shown: Vec<&str> = views[0].shown.iter().map(|e| e.event_id.as_str()).collect();
    assert!(shown.contains(&s.armed.as_str()) && shown.contains(&s.unarmed.as_str()), "{shown:?}");

    // Up to now: agree an action about the armed child. Fields in error
    // first (nothing published), then put right on the page that says so.
    submit(&b, Locator::Id("up-to-now"), "/briefing").await;
    check(&b, "briefing-up-to-now", &mut visited).await;
    // Printed, it leaves out the menus and every form: each is inside
    // something the print style sheet hides.
    let printed = b
        .client
        .execute(
            "const print = [...document.styleSheets].flatMap(s => [...s.cssRules])
               .filter(r => r.media && [...r.media].includes('print')).map(r => r.cssText).join(' ');
             const hides = ['.no-print', '.details', '.header-nav', '.header-user'].filter(s => print.includes(s));
             const shown = [...document.querySelectorAll('form, details')]
               .filter(f => !f.closest('.no-print, .details, .header-user')).length;
             return [hides.length, shown, document.querySelectorAll('form').length];",
            vec![],
        )
        .await
        .unwrap();
    let printed: Vec<u64> = serde_json::from_value(printed).unwrap();
    assert_eq!(printed[..2], [4, 0], "print hides the menus and every form");
    assert!(printed[2] > 3, "the page has its forms: {printed:?}");
    open(&b, "group-1-open").await;
    type_into(&b, "group-1-owner", "not an agency").await;
    type_date(&b, "group-1-", &("31".into(), "2".into(), "2027".into())).await;
    submit(&b, Locator::Id("group-1-agree"), "/briefing/actions/agree").await;
    let errors = check(&b, "briefing-agree-errors", &mut visited).await;
    for message in ["Enter what is to be done", "Enter an agency", "The due date must be a real date"] {
        assert!(errors.contains(message), "{message}: {errors}");
    }
    type_into(&b, "description", "Home visit with the YOT worker").await;
    retype(&b, "owner", "police.met.nw").await;
    type_date(&b, "", &in_days(2)).await;
    submit(&b, Locator::Id("agree"), "/briefing").await;
    let agreed = check(&b, "briefing-agreed", &mut visited).await;
    assert!(agreed.contains("is saved") && agreed.contains("Home visit with the YOT worker"), "{agreed}");
    let item = item_on(&agreed);
    let prefix = format!("{item}-A-1-");

    // Assign it to the YOT, due a day later; a due date in the past is a
    // field error first.
    open(&b, &format!("{prefix}open")).await;
    retype(&b, &format!("{prefix}owner"), "yot.harrow").await;
    type_date(&b, &prefix, &("1".into(), "1".into(), "2020".into())).await;
    submit(&b, Locator::Id(&format!("{prefix}save")), "/briefing/actions/change").await;
    let past = check(&b, "briefing-change-errors", &mut visited).await;
    assert!(past.contains("The due date must be today or in the future"), "{past}");
    type_date(&b, "", &in_days(3)).await;
    submit(&b, Locator::Id("save"), "/briefing").await;
    let assigned = check(&b, "briefing-assigned", &mut visited).await;
    assert!(
        assigned.contains("<dd>yot.harrow</dd>") && assigned.contains("<dd>2</dd>"),
        "owner, version 2: {assigned}"
    );

    // Two sessions change the action at once: another session of the lead
    // (over plain HTTP) saves first; the browser, behind, is told.
    let page_url = b.client.current_url().await.unwrap().to_string();
    let other = http_sign_in(&s.url, LEAD).await;
    let page = get(&page_url, &other).await.text().await.unwrap();
    let marker = format!("id=\"{prefix}open\"");
    let mut form: Vec<(String, String)> =
        ["csrf", "event_id", "version", "subject", "item_id", "action_id", "window", "since", "borough"]
            .iter()
            .map(|name| (name.to_string(), field_after(&page, &marker, name)))
            .collect();
    let due = in_days(3);
    form.extend([
        ("owner".into(), "yot.harrow".into()),
        ("day".into(), due.0),
        ("month".into(), due.1),
        ("year".into(), due.2),
        ("status".into(), "in_progress".into()),
        ("note".into(), "Visited: nobody answered".into()),
    ]);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let first = post(&format!("{}/briefing/actions/change", s.url), Some(&other), &form).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER, "{}", first.text().await.unwrap());
    open(&b, &format!("{prefix}open")).await;
    retype(&b, &format!("{prefix}note"), "Called the family").await;
    submit(&b, Locator::Id(&format!("{prefix}save")), "/briefing/actions/change").await;
    let conflict = check(&b, "briefing-conflict", &mut visited).await;
    assert!(conflict.contains("This action changed since you loaded the page"), "{conflict}");
    assert!(
        conflict.contains("Visited: nobody answered") && conflict.contains("In progress"),
        "the new state: {conflict}"
    );
    assert!(conflict.contains(">Called the family</textarea>"), "the form keeps the change: {conflict}");
    submit(&b, Locator::Id("save"), "/briefing").await;
    let retried = check(&b, "briefing-retried", &mut visited).await;
    assert!(retried.contains("Called the family") && retried.contains("<dd>In progress</dd>"), "{retried}");

    // Close it: no longer open.
    submit(&b, Locator::Id(&format!("{prefix}close")), "/briefing").await;
    let closed = check(&b, "briefing-closed", &mut visited).await;
    assert!(closed.contains("is saved") && !closed.contains(&format!("of item {item}")), "{closed}");

    // Publish the briefing, open it, and find it in the list.
    b.client.find(Locator::Id("publish")).await.unwrap().click().await.unwrap();
    for _ in 0..100 {
        if b.client.current_url().await.unwrap().path().starts_with("/briefing/published/") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let published_at = b.client.current_url().await.unwrap().path().to_string();
    let published = check(&b, "briefing-published", &mut visited).await;
    assert!(published.contains("Published VVE briefing") && published.contains(&format!(">person/{ARMED}<")));
    assert!(!published.contains("Agree an action"), "a published briefing is read-only");
    go(&b, &s.url, "/briefing/published").await;
    let list = check(&b, "briefing-published-list", &mut visited).await;
    assert!(list.contains(&published_at), "{list}");
    sign_out(&b).await;

    // An analyst is refused, by the briefing service, in words.
    sign_in_to(&b, &s.url, ("childrens_services.harrow", "analyst", "analysis"), "/find", &mut visited).await;
    let nav = b.client.source().await.unwrap();
    assert!(!nav.contains("href=\"/briefing\""), "no briefing in an analyst's menu");
    go(&b, &s.url, "/briefing").await;
    let refused = check(&b, "briefing-analyst", &mut visited).await;
    assert!(refused.contains("not open to you") && refused.contains("not open to analysts"), "{refused}");
    assert!(!refused.contains(NAME) && !refused.contains(ARMED), "{refused}");
    b.close().await;

    // No address held a name or a note.
    for url in &visited {
        assert!(!url.to_lowercase().contains("jordan") && !url.contains("visit"), "{url}");
    }
}

/// `fields` as a form's pairs.
fn pairs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn briefing_forms_refuse_forgeries_stale_versions_and_other_agencies_changes() {
    let s = setup().await;
    let url = &s.url;
    let lead = http_sign_in(url, LEAD).await;
    let since = jiff::Timestamp::from_millisecond(daily_window().from).unwrap().to_string();
    let live = format!("{url}/briefing?window=now&since={since}");

    // An action still open from an earlier briefing, about a child with
    // nothing in this window: listed apart from the groups.
    let token = s.t.token(LEAD.0, Role::BriefingLead, Purpose::Briefing);
    let mut old = common::arrest("P-brf0003", "");
    (old.agency_id, old.agency_kind, old.personal) = (LEAD.0.into(), pb::AgencyKind::ChildrensServices as i32, None);
    // Happened and recorded ten days ago: not in the window.
    old.occurred_at = Some(concord_core::timestamp(daily_window().from - 10 * 86_400_000));
    old.recorded_at = old.occurred_at;
    old.body = Some(pb::event::Body::VveBriefingItem(pb::VveBriefingItem {
        item_id: "VVE-earlier".into(),
        area: "Kenton".into(),
        risk: pb::RiskLevel::Medium as i32,
        actions: vec![pb::BriefingAction {
            action_id: "A-1".into(),
            owner_agency_id: "yot.harrow".into(),
            due: Some(concord_core::timestamp(daily_window().from)),
            status: pb::ActionStatus::Open as i32,
        }],
    }));
    publish(&s.t, old, &token).await.unwrap();
    let page = get(&live, &lead).await.text().await.unwrap();
    let other = page.split("id=\"other-actions\"").nth(1).unwrap_or_else(|| panic!("no other actions: {page}"));
    assert!(other.contains("<h3 class=\"heading-s\">Action A-1 of item VVE-earlier</h3>"), "{other}");
    assert!(other.contains("Overdue"), "{other}");
    let publish_form = "<form method=\"post\" action=\"/briefing/publish\"";
    let csrf = field_after(&page, publish_form, "csrf");
    let agree_form = "action=\"/briefing/actions/agree\"";
    let (day, month, year) = in_days(2);
    let agree = |csrf: &str| -> Vec<(&'static str, String)> {
        vec![
            ("subjects", field_after(&page, agree_form, "subjects")),
            ("ward", field_after(&page, agree_form, "ward")),
            ("area", "Wealdstone".into()),
            ("risk", "high".into()),
            ("description", "Strategy discussion".into()),
            ("owner", "police.met.nw".into()),
            ("day", day.clone()),
            ("month", month.clone()),
            ("year", year.clone()),
            ("window", "now".into()),
            ("since", since.clone()),
            ("csrf", csrf.to_string()),
        ]
    };

    // Without this session's CSRF token, or with a forged one: refused,
    // nothing published.
    for path in ["/briefing/actions/agree", "/briefing/publish"] {
        let without: Vec<_> = agree("").into_iter().filter(|(k, _)| *k != "csrf").collect();
        let missing = post(&format!("{url}{path}"), Some(&lead), &pairs(&without)).await;
        assert!(missing.status().is_client_error(), "{path} without a token: {:?}", missing.status());
        let refused = post(&format!("{url}{path}"), Some(&lead), &pairs(&agree("forged"))).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path} with a forged token");
    }
    let after = get(&live, &lead).await.text().await.unwrap();
    assert!(!after.contains("Strategy discussion"), "a refused form published nothing");

    // The genuine form agrees the action.
    let agreed = post(&format!("{url}/briefing/actions/agree"), Some(&lead), &pairs(&agree(&csrf))).await;
    assert_eq!(agreed.status(), StatusCode::SEE_OTHER);
    let saved = agreed.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(saved.starts_with("/briefing?window=now") && saved.contains("saved=VVE-"), "{saved}");
    let page = get(&format!("{url}{saved}"), &lead).await.text().await.unwrap();
    assert!(page.contains("Strategy discussion"), "{page}");
    let item = item_on(&page);
    let marker = format!("id=\"{item}-A-1-open\"");
    let keys: Vec<(&'static str, String)> = ["event_id", "version", "subject", "item_id", "action_id", "since"]
        .into_iter()
        .map(|name| (name, field_after(&page, &marker, name)))
        .collect();
    let change = |extra: &[(&'static str, &str)], csrf: &str| {
        let mut form = keys.clone();
        form.push(("window", "now".into()));
        form.push(("csrf", csrf.to_string()));
        form.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        form
    };
    let send = async |form: Vec<(&'static str, String)>, cookie: &str| {
        post(&format!("{url}/briefing/actions/change"), Some(cookie), &pairs(&form)).await
    };

    // A change without this session's CSRF token, or with a forged one.
    let without: Vec<_> = change(&[("status", "done")], "").into_iter().filter(|(k, _)| *k != "csrf").collect();
    assert!(send(without, &lead).await.status().is_client_error(), "a change without a token");
    let forged = send(change(&[("status", "done")], "forged"), &lead).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "a change with a forged token");

    // A form on the latest state but an older version: the ledger refuses
    // it as a conflict, and the page says the action changed.
    let mut stale = change(&[("status", "in_progress")], &csrf);
    stale.iter_mut().find(|(k, _)| *k == "version").unwrap().1 = "0".into();
    let conflict = send(stale, &lead).await;
    assert_eq!(conflict.status(), StatusCode::OK);
    let conflict = conflict.text().await.unwrap();
    assert!(conflict.contains("This action changed since you loaded the page"), "{conflict}");

    // Bad input: field errors, nothing published.
    let long = "x".repeat(1001);
    let bad = send(change(&[("status", "finished"), ("note", &long)], &csrf), &lead).await.text().await.unwrap();
    assert!(bad.contains("Choose the action&#39;s status"), "{bad}");
    assert!(bad.contains("The note must be 1,000 characters or fewer"), "{bad}");
    let unchanged = get(&live, &lead).await.text().await.unwrap();
    assert!(unchanged.contains("<dd>Open</dd>") && !unchanged.contains("xxxxxxxxxx"), "{unchanged}");

    // The police, who own the action, may change its status but not its
    // owner (the ledger's rule, in its words), nor create items.
    let police = http_sign_in(url, ("police.met.nw", "practitioner", "briefing")).await;
    let police_page = get(&live, &police).await.text().await.unwrap();
    let police_csrf = field_after(&police_page, publish_form, "csrf");
    assert!(!police_page.contains(agree_form), "only children's services agree actions");
    assert!(police_page.contains(&marker), "the owner may change its action");
    // The lead's published briefing is the lead's agency's alone.
    let view = [("csrf", csrf.as_str()), ("window", "now"), ("since", since.as_str())];
    let published = post(&format!("{url}/briefing/publish"), Some(&lead), &view).await;
    assert_eq!(published.status(), StatusCode::SEE_OTHER);
    let published = published.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(published.starts_with("/briefing/published/"), "{published}");
    let own = get(&format!("{url}{published}"), &lead).await.text().await.unwrap();
    assert!(own.contains("Published VVE briefing") && own.contains(&format!(">person/{ARMED}<")), "{own}");
    assert_eq!(get(&format!("{url}{published}"), &police).await.status(), StatusCode::FORBIDDEN);
    let listed = get(&format!("{url}/briefing/published"), &police).await.text().await.unwrap();
    assert!(!listed.contains(&published), "another agency's briefing is not listed: {listed}");
    let absent = get(&format!("{url}/briefing/published/not-a-briefing"), &lead).await;
    assert_eq!(absent.status(), StatusCode::NOT_FOUND);

    let owner = send(change(&[("owner", "vcs.st-giles"), ("status", "open")], &police_csrf), &police).await;
    let owner = owner.text().await.unwrap();
    assert!(owner.contains("The change was not saved") && owner.contains("owner and due date"), "{owner}");
    let created = post(&format!("{url}/briefing/actions/agree"), Some(&police), &pairs(&agree(&police_csrf))).await;
    let created = created.text().await.unwrap();
    assert!(created.contains("The action was not agreed") && created.contains("only children"), "{created}");
    let done = send(change(&[("status", "done")], &police_csrf), &police).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "the owner closes its own action");
    let closed = get(&live, &lead).await.text().await.unwrap();
    assert!(!closed.contains(&marker), "closed by its owner: {closed}");

    // An analyst is refused the page, in the service's words.
    let analyst = http_sign_in(url, ("childrens_services.harrow", "analyst", "analysis")).await;
    let refused = get(&format!("{url}/briefing"), &analyst).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("not open to analysts"));
}
