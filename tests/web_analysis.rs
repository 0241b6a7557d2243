//! The web console's problem profile and hotspots against a real platform
//! (redb on a temp dir, the console wired as `concord up` wires it, with
//! the illustrative ward boundaries of deploy/wards): in headless chromium
//! an analyst runs a profile over a period and reads the figures of the
//! arrests published here, as the small-number rule publishes them
//! (computed here, apart from the analytics crate), with no name or key
//! of anyone published; the hotspot table ranks the ward with most arrests
//! first and the map draws every ward; a period that ends before it starts
//! is a field error; a practitioner is refused. Every page is
//! screenshotted into target/browser-screenshots and checked with axe-core.
//! Through AuditService each run is the analyst's replay. And over plain
//! HTTP: the forms without this session's CSRF token, a period over a
//! year, weekly columns, a profile by report time (the arrests were all
//! recorded today), and a practitioner's post (refused by the replay
//! itself, and recorded as refused).

use std::sync::Arc;

use concord_core::pb;
use concord_core::pb::audit_service_client::AuditServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use fantoccini::Locator;
use jiff::ToSpan;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};

use crate::common::browser::Browser;
use crate::common::{self, TestPlatform, authorized, publish};

/// The name `common::arrest` gives everyone.
const NAMES: [&str; 2] = ["Jordan", "Testcase"];
/// Arrests in the period, by ward and month: Wealdstone's 18 in March,
/// Marlborough's 8 in April, Greenhill's 3 in May.
const WARDS: [(&str, u64, u32); 3] = [("Wealdstone", 18, 3), ("Marlborough", 8, 4), ("Greenhill", 3, 5)];
/// A place named in four of Wealdstone's arrests.
const PLACE: &str = "L-ana0001";
const ANALYST: &str = "console:analyst@childrens_services.harrow";
/// A ward's name that is markup.
const HOSTILE: &str = "<b>Ward</b><script>alert(1)</script>";

/// How the small-number rule publishes `n` (domain.md: 1-7 shown as 5,
/// others to the nearest 5), written out here apart from the analytics crate.
fn as_published(n: u64) -> String {
    match n {
        0 => "0".to_string(),
        1..=7 => "5".to_string(),
        _ => ((n + 2) / 5 * 5).to_string(),
    }
}

fn at(text: &str) -> Option<pbjson_types::Timestamp> {
    let seconds = text.parse::<jiff::Timestamp>().unwrap().as_second();
    Some(pbjson_types::Timestamp { seconds, nanos: 0 })
}

/// The platform with the arrests published, and the console's address.
async fn setup() -> (TestPlatform, String, Vec<String>) {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let mut keys = Vec::new();
    for (ward, count, month) in WARDS {
        for i in 0..count {
            let key = format!("P-ana{month}{i:03}");
            let mut event = common::arrest(&key, "Seen near the station");
            event.ward = ward.into();
            event.occurred_at = at(&format!("2026-{month:02}-{:02}T12:00:00Z", i % 28 + 1));
            if ward == "Wealdstone" && i < 4 {
                event.subjects.push(pb::SubjectRef { kind: pb::SubjectKind::Place as i32, key: PLACE.into() });
            }
            publish(&t, event, &police).await.unwrap();
            keys.push(key);
        }
    }
    // Outside the period: counted nowhere.
    let mut later = common::arrest("P-ana9999", "Seen near the station");
    later.ward = "Canons".into();
    later.occurred_at = at("2026-07-10T12:00:00Z");
    publish(&t, later, &police).await.unwrap();
    keys.push("P-ana9999".into());

    let wards = concord_web::geo::Wards::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/wards/harrow-illustrative.geojson"),
    )
    .unwrap();
    let console = crate::web::console(&t).with_wards(Arc::new(wards));
    let addr = concord::web::start(console, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    (t, format!("http://{addr}"), keys)
}

/// The published value in `table`'s (a report section's id ending) row `row`.
fn published(page: &str, table: &str, row: &str) -> String {
    let section = page.split(&format!("{table}\" aria-labelledby")).nth(1).unwrap_or_else(|| panic!("{table}: {page}"));
    let section = section.split("</section>").next().unwrap();
    let cell =
        section.split(&format!("<th scope=\"row\">{row}</th>")).nth(1).unwrap_or_else(|| panic!("{row}: {section}"));
    cell.split('>').nth(1).unwrap().split('<').next().unwrap().to_string()
}

/// The rows of the heat table `id`, each its label and total, in order.
fn heat_rows(page: &str, id: &str) -> Vec<(String, String)> {
    let table = page.split(&format!("id=\"{id}\"")).nth(1).unwrap().split("</table>").next().unwrap();
    let body = table.split("<tbody>").nth(1).unwrap();
    body.split("<th scope=\"row\">")
        .skip(1)
        .map(|row| {
            let label = row.split("</th>").next().unwrap().replace("<code>", "").replace("</code>", "");
            let after = row.split("</th>").nth(1).unwrap();
            // A place's row has its ward before the total.
            let total = after.split("class=\"num heat").nth(1).unwrap();
            (label, total.split('>').nth(1).unwrap().split('<').next().unwrap().to_string())
        })
        .collect()
}

/// The page shown: screenshotted as `name`, checked by axe-core (no serious
/// or critical violation); its source.
async fn check(b: &Browser, name: &str) -> String {
    crate::web::check(b, name, &mut Vec::new()).await
}

/// Goes to `path` (by a click on `click`, or else by address) and waits for it.
async fn reach(b: &Browser, url: &str, path: &str, click: Option<&str>) {
    match click {
        Some(id) => b.client.find(Locator::Id(id)).await.unwrap().click().await.unwrap(),
        None => b.client.goto(&format!("{url}{path}")).await.unwrap(),
    }
    for _ in 0..600 {
        let here = b.client.current_url().await.unwrap();
        let ready = b.client.execute("return document.readyState", vec![]).await.unwrap();
        if here.path() == path && ready == "complete" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never reached {path}");
}

async fn sign_in(b: &Browser, url: &str, agency: &str, role: &str, purpose: &str) {
    reach(b, url, "/sign-in", None).await;
    for (field, value) in [("agency", agency), ("role", role), ("purpose", purpose)] {
        b.client.find(Locator::Id(field)).await.unwrap().select_by_value(value).await.unwrap();
    }
    reach(b, url, "/find", Some("sign-in")).await;
}

/// Fills in the period's date inputs (emptied first).
async fn period(b: &Browser, from: [&str; 3], to: [&str; 3]) {
    let fields = ["from_day", "from_month", "from_year", "to_day", "to_month", "to_year"];
    for (field, value) in fields.iter().zip(from.iter().chain(&to)) {
        let input = b.client.find(Locator::Id(field)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
}

/// The analyst's (or `principal`'s) replays, as an auditor lists them.
async fn replays_by(t: &TestPlatform, principal: &str) -> Vec<pb::AccessRecord> {
    let auditor = t.token("childrens_services.harrow", Role::Auditor, Purpose::Audit);
    let mut client = AuditServiceClient::new(t.channel().await);
    let request = pb::ListAccessRequest { principal: principal.into(), page_size: 1000, ..Default::default() };
    let page = client.list_access(authorized(request, &auditor)).await.unwrap().into_inner();
    page.records.into_iter().filter_map(|e| e.record).filter(|r| r.rpc.ends_with("ReplayService/Replay")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_analyst_runs_a_profile_and_reads_hotspots_in_a_browser() {
    let (t, url, keys) = setup().await;
    let b = Browser::start().await;
    let hides_everyone = |page: &str| {
        for secret in NAMES.iter().copied().chain([PLACE]).chain(keys.iter().map(String::as_str)) {
            assert!(!page.contains(secret), "{secret} is on the page");
        }
    };

    sign_in(&b, &url, "childrens_services.harrow", "analyst", "analysis").await;
    reach(&b, &url, "/analysis", None).await;
    check(&b, "analysis").await;

    // A period that ends before it starts: a field error, nothing replayed.
    period(&b, ["1", "6", "2026"], ["1", "3", "2026"]).await;
    reach(&b, &url, "/analysis", Some("run-profile")).await;
    let error = check(&b, "analysis-error").await;
    assert!(
        error.contains("id=\"to_day-error\"") && error.contains("must be the same as or after its start"),
        "{error}"
    );
    assert!(error.contains("<a href=\"#to_day\">"), "the error summary links to the field");
    assert!(replays_by(&t, ANALYST).await.is_empty(), "a bad period replayed");

    // March to May in Harrow: the report of what was published.
    period(&b, ["1", "3", "2026"], ["31", "5", "2026"]).await;
    reach(&b, &url, "/analysis", Some("run-profile")).await;
    let report = check(&b, "analysis-report").await;
    assert!(report.contains("<h1>Problem profile</h1>"), "{report}");
    let in_period: u64 = WARDS.iter().map(|(_, n, _)| n).sum();
    assert_eq!(published(&report, "profile_by_type", "arrest"), as_published(in_period));
    for (ward, count, month) in WARDS {
        assert_eq!(published(&report, "profile_by_ward", ward), as_published(count), "{ward}");
        assert_eq!(published(&report, "profile_by_month", &format!("2026-{month:02}")), as_published(count));
    }
    assert!(!report.contains("<th scope=\"row\">Canons</th>"), "an arrest after the period is counted");
    assert!(report.contains("<svg") && report.contains("Small-number rule"), "the report's charts and rule");
    hides_everyone(&report);

    // Hotspots over the same period, by month: Wealdstone first, every
    // ward of the boundaries file on the map, the place by its pseudonym.
    reach(&b, &url, "/hotspots", None).await;
    check(&b, "hotspots-form").await;
    period(&b, ["1", "3", "2026"], ["31", "5", "2026"]).await;
    reach(&b, &url, "/hotspots", Some("show-hotspots")).await;
    let hotspots = check(&b, "hotspots").await;
    let wards = heat_rows(&hotspots, "ward-heat");
    let expected: Vec<(String, String)> =
        WARDS.iter().map(|(ward, n, _)| (ward.to_string(), as_published(*n))).collect();
    assert_eq!(wards, expected, "ranked by published total");
    assert_eq!(hotspots.matches("class=\"ward heat-").count(), 22, "a path per ward of the boundaries file");
    assert!(hotspots.contains("<title>Wealdstone: 20 events</title>"), "{hotspots}");
    let places = heat_rows(&hotspots, "place-heat");
    assert_eq!(places.len(), 1, "{places:?}");
    assert_eq!(places[0].1, as_published(4));
    assert!(places[0].0.len() == 20 && places[0].0.chars().all(|c| c.is_ascii_hexdigit()), "{places:?}");
    hides_everyone(&hotspots);
    b.client.find(Locator::Css("header button")).await.unwrap().click().await.unwrap();

    // A practitioner is refused both pages.
    sign_in(&b, &url, "police.met.nw", "practitioner", "safeguarding").await;
    for path in ["/analysis", "/hotspots"] {
        reach(&b, &url, path, None).await;
        let refused = check(&b, &format!("refused{}", path.replace('/', "-"))).await;
        assert!(refused.contains("not open to you") && !refused.contains("run-profile"), "{refused}");
        assert!(!refused.contains("href=\"/hotspots\""), "the menu offers the page");
    }
    b.close().await;

    // Each run is one replay of the analyst's, recorded as theirs.
    let replays = replays_by(&t, ANALYST).await;
    assert_eq!(replays.len(), 2, "{replays:#?}");
    for r in &replays {
        assert_eq!(
            (r.role.as_str(), r.agency_id.as_str(), r.outcome.as_str()),
            ("analyst", "childrens_services.harrow", "ok")
        );
        assert!(r.peer.starts_with("127.0.0.1:"), "{r:?}");
    }
}

/// An HTTP client that shows redirects rather than following them.
fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_string()
}

/// A session signed in as (agency, role, purpose): its cookie and CSRF token.
async fn session(url: &str, who: [(&str, &str); 3]) -> (String, String) {
    let form = http().get(format!("{url}/sign-in")).send().await.unwrap();
    let cookie = form.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = csrf_of(&form.text().await.unwrap());
    let fields = [who.as_slice(), &[("csrf", csrf.as_str())]].concat();
    let signed_in = http().post(format!("{url}/sign-in")).header(COOKIE, &cookie).form(&fields).send().await.unwrap();
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let find = http().get(format!("{url}/find")).header(COOKIE, &cookie).send().await.unwrap();
    let csrf = csrf_of(&find.text().await.unwrap());
    (cookie, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_analysis_forms_refuse_forgeries_long_periods_and_other_roles() {
    let (t, url, _) = setup().await;
    // A ward whose name is markup, as a publisher could give it.
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let mut hostile = common::arrest("P-ana8888", "Seen near the station");
    hostile.ward = HOSTILE.into();
    hostile.occurred_at = at("2026-04-20T12:00:00Z");
    publish(&t, hostile, &police).await.unwrap();
    let escaped = |page: &str| {
        assert!(!page.contains("<script>") && !page.contains("<b>"), "unescaped: {page}");
        assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{page}");
    };
    let (cookie, csrf) =
        session(&url, [("agency", "childrens_services.harrow"), ("role", "analyst"), ("purpose", "analysis")]).await;
    let spring = [
        ("from_day", "1"),
        ("from_month", "3"),
        ("from_year", "2026"),
        ("to_day", "31"),
        ("to_month", "5"),
        ("to_year", "2026"),
        ("type", "arrest"),
    ];
    let post = |path: &str, cookie: &str, fields: Vec<(&str, &str)>| {
        http().post(format!("{url}{path}")).header(COOKIE, cookie.to_string()).form(&fields).send()
    };
    // Without this session's CSRF token, or with a forged one: refused, nothing replayed.
    for path in ["/analysis", "/hotspots"] {
        let missing = post(path, &cookie, spring.to_vec()).await.unwrap();
        assert!(missing.status().is_client_error(), "{path} without a token: {:?}", missing.status());
        let forged = post(path, &cookie, [spring.as_slice(), &[("csrf", "forged")]].concat()).await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{path} with a forged token");
    }
    assert!(replays_by(&t, ANALYST).await.is_empty());

    // More than 366 days: a field error on the period's end, nothing replayed.
    let long = [
        ("csrf", csrf.as_str()),
        ("from_day", "1"),
        ("from_month", "1"),
        ("from_year", "2025"),
        ("to_day", "2"),
        ("to_month", "1"),
        ("to_year", "2026"),
        ("type", "arrest"),
    ];
    for path in ["/analysis", "/hotspots"] {
        let answer = post(path, &cookie, long.to_vec()).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let page = answer.text().await.unwrap();
        assert!(page.contains("id=\"to_day-error\"") && page.contains("at most 366 days"), "{path}: {page}");
        assert!(page.contains("<title>Error: "), "{path}: the title says there is an error");
    }
    // No kind of event chosen for hotspots: a field error.
    let none = [
        ("csrf", csrf.as_str()),
        ("from_day", "1"),
        ("from_month", "3"),
        ("from_year", "2026"),
        ("to_day", "31"),
        ("to_month", "5"),
        ("to_year", "2026"),
    ];
    let page = post("/hotspots", &cookie, none.to_vec()).await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"type-arrest-error\""), "{page}");
    assert!(replays_by(&t, ANALYST).await.is_empty());

    // Weekly hotspots without a map configured elsewhere is the same replay:
    // here the map is configured, and a week's columns start on Mondays.
    let weekly = [spring.as_slice(), &[("csrf", csrf.as_str()), ("by", "week")]].concat();
    let page = post("/hotspots", &cookie, weekly).await.unwrap().text().await.unwrap();
    assert!(page.contains("Week from </span>2 Mar 2026"), "{page}");
    escaped(&page);
    assert_eq!(replays_by(&t, ANALYST).await.len(), 1);

    // By report time: every arrest was recorded today, none in the spring.
    let today = jiff::tz::TimeZone::get("Europe/London").unwrap().to_datetime(jiff::Timestamp::now()).date();
    let (from, to) = (today.checked_sub(10.days()).unwrap(), today.checked_add(10.days()).unwrap());
    let (from_day, from_month, from_year) = (from.day().to_string(), from.month().to_string(), from.year().to_string());
    let (to_day, to_month, to_year) = (to.day().to_string(), to.month().to_string(), to.year().to_string());
    let recorded = [
        ("csrf", csrf.as_str()),
        ("from_day", &from_day),
        ("from_month", &from_month),
        ("from_year", &from_year),
        ("to_day", &to_day),
        ("to_month", &to_month),
        ("to_year", &to_year),
        ("axis", "report"),
    ];
    let page = post("/analysis", &cookie, recorded.to_vec()).await.unwrap().text().await.unwrap();
    let all: u64 = WARDS.iter().map(|(_, n, _)| n).sum::<u64>() + 2;
    assert_eq!(published(&page, "profile_by_type", "arrest"), as_published(all), "{page}");
    escaped(&page);
    assert!(page.contains("report time: events are placed by when the agency recorded them"), "{page}");
    let recorded_in_spring = [spring.as_slice(), &[("csrf", csrf.as_str()), ("axis", "report")]].concat();
    let page = post("/analysis", &cookie, recorded_in_spring).await.unwrap().text().await.unwrap();
    assert!(!page.contains("<th scope=\"row\">arrest</th>"), "arrests recorded today placed in the spring");
    assert_eq!(replays_by(&t, ANALYST).await.len(), 3);

    // A practitioner's genuine post: the replay refuses it, and the refusal
    // is recorded as theirs.
    let (cookie, csrf) =
        session(&url, [("agency", "police.met.nw"), ("role", "practitioner"), ("purpose", "safeguarding")]).await;
    let genuine = [spring.as_slice(), &[("csrf", csrf.as_str())]].concat();
    let refused = post("/analysis", &cookie, genuine).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(page.contains("not open to you") && page.contains("replay is for analysts"), "{page}");
    let attempts = replays_by(&t, "console:practitioner@police.met.nw").await;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert_ne!(attempts[0].outcome, "ok");
}
