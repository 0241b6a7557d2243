//! The daily VVE briefing as a page: the reader's agency's briefing (one
//! `BriefingService.Generate` call per page view, so one access record
//! naming every event shown), its groups ranked with their reasons, each
//! subject's history and the open actions, with forms to agree and change
//! actions ([`actions`]); the agency's published briefings (one
//! `ListBriefings` or `GetBriefing` call per page view), and publishing one.
//!
//! A page shows either the daily briefing (the service's default window, to
//! the latest briefing time) or the same window carried on up to now, which
//! holds the actions agreed and changed since: only that one offers forms,
//! so a change is made on the latest state. What a page shows is in its
//! address (the window's start, the boroughs, an action's ids): none of it
//! is personal data. Printed, the page leaves out menus and forms.

pub mod actions;

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form, Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use concord_core::{EventId, SubjectId, now_millis, pb, timestamp};
use serde::Deserialize;

use super::{Frame, State, Visit, render};
use crate::event::{Shown, SubjectLink, enum_words, shown, subject_href, when, words};
use crate::problem::Problem;
use actions::{AgreeFields, ChangeFields};

/// Published briefings listed per page view.
const LISTED: u32 = 100;

/// How far back the list of published briefings goes.
const LISTED_DAYS: i64 = 14;

/// Which briefing a page shows. None of it is personal data, so it may be
/// in the page's address.
#[derive(Deserialize, Default, Clone, Debug)]
pub struct View {
    /// `now` for the window carried on up to now; otherwise the daily briefing.
    #[serde(default)]
    pub window: String,
    /// Where a window up to now starts (RFC 3339); empty: a day before now.
    #[serde(default)]
    pub since: String,
    /// The boroughs it covers, separated by commas; empty: every borough.
    #[serde(default)]
    pub borough: String,
    /// The action just saved (`item/action`), to say so.
    #[serde(default)]
    pub saved: String,
}

impl View {
    /// The window up to now from `since`, in `borough` (as `self` has it).
    pub fn up_to_now_from(&self, since: &str) -> View {
        View { window: "now".into(), since: since.to_string(), borough: self.borough.clone(), saved: String::new() }
    }

    /// Whether this is the window up to now.
    pub fn up_to_now(&self) -> bool {
        self.window == "now"
    }

    /// The boroughs asked for.
    fn boroughs(&self) -> Vec<String> {
        self.borough.split(',').map(|b| b.trim().to_string()).filter(|b| !b.is_empty()).collect()
    }

    /// The `Generate` request for this view.
    fn request(&self, publish: bool) -> Result<pb::GenerateBriefingRequest, Problem> {
        let (mut from, mut to) = (None, None);
        if self.up_to_now() {
            to = Some(timestamp(now_millis()));
            if !self.since.trim().is_empty() {
                let since: jiff::Timestamp = self.since.trim().parse().map_err(|_| {
                    Problem::Invalid("The start of the window is not a time: reload the briefing".into())
                })?;
                from = Some(timestamp(since.as_millisecond()));
            }
        }
        Ok(pb::GenerateBriefingRequest { from, to, publish, boroughs: self.boroughs(), ..Default::default() })
    }

    /// The address of this view up to now, starting at `since`, saying
    /// that `saved` (if any) was saved.
    pub fn href_up_to_now(&self, since: &str, saved: &str) -> String {
        let mut href = format!("/briefing?window=now&since={}", query_value(since));
        if !self.borough.trim().is_empty() {
            href.push_str(&format!("&borough={}", query_value(self.borough.trim())));
        }
        if !saved.is_empty() {
            href.push_str(&format!("&saved={}", query_value(saved)));
        }
        href
    }
}

/// `value` percent-encoded for a query string. (Only the view's own few
/// parameters are encoded: too little to bring in a crate.)
fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One subject's history before the window, in words.
pub struct History {
    /// The subject's key, with its timeline.
    pub subject: SubjectLink,
    /// Counts by event type, e.g. `Arrest: 2, Missing episode: 1`.
    pub counts: String,
    /// The boroughs those events are in.
    pub boroughs: String,
}

/// One open action, as the page shows it.
pub struct Action {
    /// The briefing item it belongs to.
    pub item_id: String,
    /// The action's id within the item.
    pub action_id: String,
    /// What is to be done (empty when withheld or not given).
    pub description: String,
    /// The agency that owns it.
    pub owner: String,
    /// When it is due.
    pub due: String,
    /// Due before the end of the window.
    pub overdue: bool,
    /// Its status, in words.
    pub status: String,
    /// The item event's version, as the platform gives it.
    pub version: u64,
    /// The item's area and risk, in words.
    pub area: String,
    /// The item's risk, in words.
    pub risk: String,
    /// The forms to change it, where the reader may.
    pub change: Option<ChangeFields>,
}

/// One group of the briefing.
pub struct Group {
    /// Its rank, from 1.
    pub rank: usize,
    /// What it is about, in words.
    pub kind: &'static str,
    /// Its subjects, with their timelines.
    pub subjects: Vec<SubjectLink>,
    /// `borough/ward` of its first event.
    pub ward: String,
    /// Its score.
    pub score: u32,
    /// Why it ranks where it does.
    pub reasons: Vec<String>,
    /// The window's events about it.
    pub events: Vec<Shown>,
    /// Each subject's history.
    pub history: Vec<History>,
    /// Its open actions.
    pub actions: Vec<Action>,
    /// The form to agree an action about it, where the reader may.
    pub agree: Option<AgreeFields>,
}

#[derive(Template)]
#[template(path = "briefing.html")]
struct BriefingPage {
    frame: Frame,
    /// The page's heading.
    heading: &'static str,
    briefing_id: String,
    recipient: String,
    from: String,
    to: String,
    generated: String,
    covers: String,
    /// Forms are offered (the window up to now, where the process publishes).
    live: bool,
    /// A stored briefing (read-only).
    published: bool,
    view: View,
    /// The window's start, to carry it on up to now.
    since: String,
    groups: Vec<Group>,
    /// Open actions about no group of the window.
    other_actions: Vec<Action>,
    /// The link to the same window up to now.
    up_to_now: String,
}

/// The briefing service, where this process runs one (else there is no
/// briefing page here).
fn service(state: &State) -> Result<&Arc<dyn pb::briefing_service_server::BriefingService>, Problem> {
    state.services.briefing.as_ref().ok_or(Problem::NotFound)
}

/// Today's briefing (or the view asked for) as a page.
pub async fn page(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Query(view): Query<View>,
) -> Result<Html<String>, Problem> {
    let request = view.request(false)?;
    let briefing = service(&state)?.generate(visit.reader().request(request)).await?.into_inner();
    let live = view.up_to_now() && state.services.publish.is_some();
    render(&briefing_page(&state, &visit, briefing, view, live))
}

/// Whether subject reference lists `a` and `b` share a subject.
fn share_a_subject(a: &[pb::SubjectRef], b: &[pb::SubjectRef]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.kind == y.kind && x.key == y.key))
}

fn links(subjects: &[pb::SubjectRef]) -> Vec<SubjectLink> {
    subjects
        .iter()
        .filter_map(|r| SubjectId::from_ref(r).ok())
        .map(|s| SubjectLink { key: s.to_string(), href: subject_href(&s) })
        .collect()
}

fn history(h: &pb::SubjectHistory) -> Option<History> {
    let subject = SubjectId::from_ref(h.subject.as_ref()?).ok()?;
    let counts: Vec<String> = h.counts.iter().map(|c| format!("{}: {}", words(&c.event_type), c.count)).collect();
    Some(History {
        subject: SubjectLink { key: subject.to_string(), href: subject_href(&subject) },
        counts: if counts.is_empty() { "nothing you may see".into() } else { counts.join(", ") },
        boroughs: h.boroughs.join(", "),
    })
}

/// The page of `briefing`; `live` offers the forms.
fn briefing_page(state: &State, visit: &Visit, briefing: pb::Briefing, view: View, live: bool) -> BriefingPage {
    let zone = &state.zone;
    let since = briefing
        .from
        .as_ref()
        .and_then(|t| jiff::Timestamp::from_millisecond(concord_core::millis(t)).ok())
        .map(|t| t.to_string())
        .unwrap_or_default();
    let children = visit.user.agency.kind() == pb::AgencyKind::ChildrensServices;
    let mut groups: Vec<Group> = briefing
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| Group {
            rank: i + 1,
            kind: match g.kind() {
                pb::BriefingGroupKind::People => "People",
                pb::BriefingGroupKind::Place => "Place",
                _ => "Ward",
            },
            subjects: links(&g.subjects),
            ward: g.ward.clone(),
            score: g.score,
            reasons: g.reasons.iter().map(|r| r.label.clone()).collect(),
            events: g.events.iter().filter_map(|v| shown(v, zone)).collect(),
            history: g.history.iter().filter_map(history).collect(),
            actions: Vec::new(),
            agree: (live && children && !g.subjects.is_empty())
                .then(|| AgreeFields::for_group(i + 1, &g.subjects, &g.ward, &view, &since)),
        })
        .collect();
    let mut other_actions = Vec::new();
    for open in &briefing.open_actions {
        let may_change = children || open.owner_agency_id == visit.user.agency.as_str();
        let action = Action {
            item_id: open.item_id.clone(),
            action_id: open.action_id.clone(),
            description: open.description.clone(),
            owner: open.owner_agency_id.clone(),
            due: when(open.due.as_ref(), zone),
            overdue: open.overdue,
            status: enum_words(open.status().as_str_name()),
            version: open.item_version,
            area: open.area.clone(),
            risk: enum_words(open.risk().as_str_name()),
            change: (live && may_change).then(|| ChangeFields::for_action(open, children, &view, &since, zone)),
        };
        match briefing.groups.iter().position(|g| share_a_subject(&g.subjects, &open.subjects)) {
            Some(i) => groups[i].actions.push(action),
            None => other_actions.push(action),
        }
    }
    let up_to_now = view.href_up_to_now(&since, "");
    BriefingPage {
        frame: visit.frame(),
        heading: if briefing.published { "Published VVE briefing" } else { "VVE briefing" },
        briefing_id: briefing.briefing_id,
        recipient: briefing.recipient_agency_id,
        from: when(briefing.from.as_ref(), zone),
        to: when(briefing.to.as_ref(), zone),
        generated: when(briefing.generated_at.as_ref(), zone),
        covers: if briefing.boroughs.is_empty() { "every borough".into() } else { briefing.boroughs.join(", ") },
        live,
        published: briefing.published,
        view,
        since,
        groups,
        other_actions,
        up_to_now,
    }
}

/// The publish form's fields: the view to publish.
#[derive(Deserialize)]
pub struct PublishForm {
    csrf: String,
    #[serde(flatten)]
    view: View,
}

/// Publishes the briefing of the view the form names (stored for the
/// agency's readers; one `Generate` call), and opens it.
pub async fn publish(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<PublishForm>,
) -> Result<Response, Problem> {
    visit.check(&form.csrf)?;
    let request = form.view.request(true)?;
    let briefing = service(&state)?.generate(visit.reader().request(request)).await?.into_inner();
    Ok(Redirect::to(&format!("/briefing/published/{}", briefing.briefing_id)).into_response())
}

/// A published briefing, listed.
pub struct Listed {
    /// Its page.
    pub href: String,
    /// Its window.
    pub from: String,
    /// Its window's end.
    pub to: String,
    /// When it was made, and by whom.
    pub generated: String,
    /// Who made it.
    pub by: String,
    /// Its groups, events and open actions, as published.
    pub groups: u32,
    /// Events.
    pub events: u32,
    /// Open actions.
    pub open_actions: u32,
}

#[derive(Template)]
#[template(path = "briefing_published.html")]
struct PublishedPage {
    frame: Frame,
    days: i64,
    briefings: Vec<Listed>,
    more: bool,
}

/// The agency's briefings published in the last [`LISTED_DAYS`] days
/// (one `ListBriefings` call).
pub async fn published(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
) -> Result<Html<String>, Problem> {
    let request = pb::ListBriefingsRequest {
        from: Some(timestamp(now_millis() - LISTED_DAYS * 86_400_000)),
        page_size: LISTED,
        ..Default::default()
    };
    let list = service(&state)?.list_briefings(visit.reader().request(request)).await?.into_inner();
    let zone = &state.zone;
    let briefings = list
        .briefings
        .into_iter()
        .map(|b| Listed {
            href: format!("/briefing/published/{}", b.briefing_id),
            from: when(b.from.as_ref(), zone),
            to: when(b.to.as_ref(), zone),
            generated: when(b.generated_at.as_ref(), zone),
            by: b.generated_by,
            groups: b.groups,
            events: b.events,
            open_actions: b.open_actions,
        })
        .collect();
    render(&PublishedPage {
        frame: visit.frame(),
        days: LISTED_DAYS,
        briefings,
        more: !list.next_page_token.is_empty(),
    })
}

/// A published briefing, as the agreement lets the reader see it now
/// (one `GetBriefing` call); read-only.
pub async fn published_one(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Path(id): Path<String>,
) -> Result<Html<String>, Problem> {
    // A briefing id is a UUID, as an event id is; anything else is no briefing.
    let id = EventId::parse(&id).map_err(|_| Problem::NotFound)?;
    let request = pb::GetBriefingRequest { briefing_id: id.to_string() };
    let briefing = service(&state)?.get_briefing(visit.reader().request(request)).await?.into_inner();
    render(&briefing_page(&state, &visit, briefing, View::default(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_asks_for_its_window_and_keeps_its_boroughs_in_its_address() {
        let view = View {
            window: "now".into(),
            since: "2026-12-06T08:30:00Z".into(),
            borough: "Harrow, Brent & Kilburn".into(),
            saved: String::new(),
        };
        let request = view.request(false).unwrap();
        assert_eq!(request.from.map(|t| t.seconds), Some(1_796_545_800));
        assert!(request.to.is_some());
        assert_eq!(request.boroughs, ["Harrow", "Brent & Kilburn"]);
        assert_eq!(
            view.href_up_to_now("2026-12-06T08:30:00Z", "VVE-1/A-1"),
            "/briefing?window=now&since=2026-12-06T08:30:00Z&borough=Harrow%2C%20Brent%20%26%20Kilburn&saved=VVE-1%2FA-1"
        );
        let daily = View::default().request(true).unwrap();
        assert!(daily.from.is_none() && daily.to.is_none() && daily.publish);
        let bad = View { window: "now".into(), since: "yesterday".into(), ..View::default() };
        assert!(bad.request(false).is_err());
    }
}
