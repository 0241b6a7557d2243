//! Who saw what: the audit log's records, for auditors. A filter (an
//! event, a subject, a person or an agency; dates; an event type; a kind of
//! access) is posted, never put in an address; each page view is one
//! `AuditService.ListAccess` call (itself recorded), a page at a time with
//! the service's page tokens; an export is the filter's records as CSV.
//! Records name events by id and never show their content. The audit
//! service decides who may ask (auditors); the console only shows its answer.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use concord_core::{AgencyId, EventId, EventType, SubjectId, pb, timestamp};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::find::FieldError;
use super::{Frame, State, Visit, render};
use crate::csv;
use crate::event::when;
use crate::problem::Problem;

/// Records per page view.
const PAGE_SIZE: u32 = 50;
/// Records per call while exporting (the service's most).
const EXPORT_PAGE: u32 = 1000;
/// The most records one export reads; a wider filter is asked to narrow.
const EXPORT_LIMIT: usize = 10_000;

/// What a record did, for the "kind of access" filter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A read (shown events, or nothing shown).
    Read,
    /// A publish: it added events.
    Added,
    /// An erasure (a request approved, or the retention sweep).
    Erased,
    /// A refused or failed call.
    Refused,
}

impl Kind {
    /// The kinds, as the form offers them: (value, label).
    const CHOICES: [(&'static str, &'static str); 5] = [
        ("", "Any access"),
        ("read", "Reads"),
        ("added", "Events added"),
        ("erased", "Erasures"),
        ("refused", "Refused or failed calls"),
    ];

    fn parse(value: &str) -> Result<Option<Kind>, ()> {
        match value {
            "" => Ok(None),
            "read" => Ok(Some(Kind::Read)),
            "added" => Ok(Some(Kind::Added)),
            "erased" => Ok(Some(Kind::Erased)),
            "refused" => Ok(Some(Kind::Refused)),
            _ => Err(()),
        }
    }

    fn of(record: &pb::AccessRecord) -> Kind {
        if record.outcome != "ok" {
            Kind::Refused
        } else if !record.erased.is_empty() {
            Kind::Erased
        } else if !record.added.is_empty() {
            Kind::Added
        } else {
            Kind::Read
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Read => "Read",
            Kind::Added => "Added events",
            Kind::Erased => "Erased",
            Kind::Refused => "Refused or failed",
        }
    }
}

/// One event a record names.
pub struct Named {
    /// Its id.
    pub id: String,
    /// Its type.
    pub event_type: String,
    /// How much was shown (empty for an addition).
    pub visibility: &'static str,
}

/// One access record, in words.
pub struct Record {
    /// Its position in the audit log (its anchor on the page).
    pub position: u64,
    /// Its id.
    pub id: String,
    /// When.
    pub at: String,
    /// Who (their sign-in's name).
    pub who: String,
    /// Their agency.
    pub agency: String,
    /// Their role.
    pub role: String,
    /// Their purpose.
    pub purpose: String,
    /// Where from.
    pub peer: String,
    /// The call, e.g. `QueryService/SubjectTimeline`.
    pub call: String,
    /// What kind of access it was.
    pub kind: &'static str,
    /// The call's parameters, as recorded (JSON).
    pub parameters: String,
    /// The events it showed.
    pub shown: Vec<Named>,
    /// The events it added.
    pub added: Vec<Named>,
    /// Event log positions a replay showed, in words (empty if none).
    pub positions: String,
    /// Subjects it erased.
    pub erased: Vec<String>,
    /// Subjects it asked about by name.
    pub asked_about: Vec<String>,
    /// How many events the agreement withheld from it.
    pub withheld: u32,
    /// The agreement that decided.
    pub policy_hash: String,
    /// `ok`, or why it failed.
    pub outcome: String,
    /// Its trace.
    pub trace_id: String,
    /// Who made the record.
    pub served_by: String,
    /// The data protection request it concerns.
    pub request_id: String,
}

/// The filter's fields, as posted (and carried by the next-page and export
/// forms).
#[derive(Deserialize, Default, Clone)]
pub struct Filter {
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    subject_kind: String,
    #[serde(default)]
    subject_key: String,
    #[serde(default)]
    principal: String,
    #[serde(default)]
    agency: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    access: String,
}

/// A filter posted with the session's CSRF token, and where its listing
/// goes on from (the service's page token; empty for the first page).
#[derive(Deserialize)]
pub struct AuditForm {
    csrf: String,
    #[serde(flatten)]
    filter: Filter,
    #[serde(default)]
    page_token: String,
}

#[derive(Template, Default)]
#[template(path = "audit.html")]
struct AuditPage {
    frame: Frame,
    errors: Vec<FieldError>,
    filter: Filter,
    /// What the records answer, e.g. "Who read or added event …".
    question: String,
    records: Option<Vec<Record>>,
    /// How many records the page's call returned before the kind filter.
    examined: usize,
    next_page_token: String,
    subject_kinds: [&'static str; 4],
    event_types: Vec<&'static str>,
    kinds: [(&'static str, &'static str); 5],
}

impl AuditPage {
    fn new(visit: &Visit, filter: Filter) -> AuditPage {
        AuditPage {
            frame: visit.frame(),
            filter,
            subject_kinds: ["person", "place", "vehicle", "group"],
            event_types: EventType::ALL.iter().map(|t| t.as_str()).collect(),
            kinds: Kind::CHOICES,
            ..AuditPage::default()
        }
    }

    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

/// A date as typed: `2026-12-07` or `7/12/2026`.
fn date(text: &str) -> Option<Date> {
    if let Ok(date) = text.parse::<Date>() {
        return Some(date);
    }
    let mut parts = text.split('/').map(|p| p.trim().parse::<i32>().ok());
    let (day, month, year) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() {
        return None;
    }
    Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

/// The start of `date` in `zone`, as a protobuf timestamp.
fn start_of(date: Date, zone: &TimeZone) -> Option<pbjson_types::Timestamp> {
    let start = date.to_zoned_datetime(zone.clone()).ok()?;
    Some(timestamp(start.timestamp().as_millisecond()))
}

/// A checked filter: the service's request (first page), the kind of
/// access to keep, and the question it answers.
struct Checked {
    request: pb::ListAccessRequest,
    kind: Option<Kind>,
    question: String,
}

/// Checks the filter's fields, naming each one at fault.
fn check(filter: &Filter, zone: &TimeZone) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut error = |field, message| errors.push(FieldError { field, message });
    let (event_id, key, principal, agency) =
        (filter.event_id.trim(), filter.subject_key.trim(), filter.principal.trim(), filter.agency.trim());
    if !event_id.is_empty() && EventId::parse(event_id).is_err() {
        error("event_id", "Enter an event id, like 0190a0a0-0000-7000-8000-000000000001");
    }
    let subject = (!key.is_empty()).then(|| SubjectId::parse(&format!("{}/{key}", filter.subject_kind)));
    if matches!(subject, Some(Err(_))) {
        error("subject_key", "Enter a partnership key, like P-2ae205b8, and choose its kind");
    }
    if !agency.is_empty() && AgencyId::parse(agency).is_err() {
        error("agency", "Enter an agency's id, like police.met.nw");
    }
    // The service narrows by one of these: the second one given is at fault.
    let named = [("event_id", event_id), ("subject_key", key), ("principal", principal), ("agency", agency)];
    if let Some((field, _)) = named.iter().filter(|(_, value)| !value.is_empty()).nth(1) {
        error(field, "Give only one of an event, a subject, a person or an agency (narrow by dates instead)");
    }
    let from = (!filter.from.trim().is_empty()).then(|| date(filter.from.trim()));
    if matches!(from, Some(None)) {
        error("from", "Enter the first date as a real date, like 2026-12-07");
    }
    let to = (!filter.to.trim().is_empty()).then(|| date(filter.to.trim()));
    if matches!(to, Some(None)) {
        error("to", "Enter the last date as a real date, like 2026-12-07");
    }
    if let (Some(Some(f)), Some(Some(t))) = (from, to)
        && t < f
    {
        error("to", "The last date must be the same as or after the first date");
    }
    if !filter.event_type.is_empty() && !EventType::ALL.iter().any(|t| t.as_str() == filter.event_type) {
        error("event_type", "Choose an event type from the list");
    }
    let kind = Kind::parse(&filter.access);
    if kind.is_err() {
        error("access", "Choose a kind of access from the list");
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let subject = subject.and_then(Result::ok);
    let question = match (&subject, event_id, principal, agency) {
        (Some(s), ..) => format!("The access history of {s}"),
        (None, id, ..) if !id.is_empty() => format!("Who read or added event {id}"),
        (None, _, p, _) if !p.is_empty() => format!("What {p} read or added"),
        (None, _, _, a) if !a.is_empty() => format!("What {a} read or added"),
        _ => "Every record".to_string(),
    };
    let request = pb::ListAccessRequest {
        event_id: event_id.to_string(),
        subject: subject.map(|s| s.to_ref()),
        principal: principal.to_string(),
        agency_id: agency.to_string(),
        from: from.flatten().and_then(|d| start_of(d, zone)),
        // The last date is inclusive: up to the start of the next day.
        to: to.flatten().and_then(|d| d.tomorrow().ok()).and_then(|d| start_of(d, zone)),
        event_type: filter.event_type.clone(),
        page_size: PAGE_SIZE,
        page_token: String::new(),
    };
    Ok(Checked { request, kind: kind.ok().flatten(), question })
}

fn visibility(v: i32) -> &'static str {
    match pb::Visibility::try_from(v) {
        Ok(pb::Visibility::Show) => "in full",
        Ok(pb::Visibility::ShowRedacted) => "redacted",
        Ok(pb::Visibility::Pseudonymised) => "pseudonymised",
        _ => "",
    }
}

fn named(events: &[pb::ShownEvent]) -> Vec<Named> {
    events
        .iter()
        .filter(|e| !e.event_id.is_empty())
        .map(|e| Named {
            id: e.event_id.clone(),
            event_type: e.event_type.clone(),
            visibility: visibility(e.visibility),
        })
        .collect()
}

fn subjects(refs: &[pb::SubjectRef]) -> Vec<String> {
    refs.iter().map(|r| SubjectId::from_ref(r).map_or_else(|_| r.key.clone(), |s| s.to_string())).collect()
}

/// The access record `r`, at `position` in the audit log, in words.
pub(super) fn record(position: u64, r: pb::AccessRecord, zone: &TimeZone) -> Record {
    let positions = r.shown_positions.as_ref().map_or_else(String::new, |p| {
        format!("event log positions {} to {} ({})", p.after + 1, p.through, visibility(p.visibility))
    });
    Record {
        position,
        kind: Kind::of(&r).label(),
        at: when(r.at.as_ref(), zone),
        call: r.rpc.trim_start_matches("/concord.v1.").to_string(),
        shown: named(&r.shown),
        added: named(&r.added),
        erased: subjects(&r.erased),
        asked_about: subjects(&r.asked_about),
        positions,
        id: r.record_id,
        who: r.principal,
        agency: r.agency_id,
        role: r.role,
        purpose: r.purpose,
        peer: r.peer,
        parameters: r.parameters,
        withheld: r.withheld,
        policy_hash: r.policy_hash,
        outcome: r.outcome,
        trace_id: r.trace_id,
        served_by: r.served_by,
        request_id: r.request_id,
    }
}

/// The records of `entries` of `kind` (all, if none).
fn kept(entries: Vec<pb::AccessEntry>, kind: Option<Kind>) -> impl Iterator<Item = (u64, pb::AccessRecord)> {
    entries
        .into_iter()
        .filter_map(|e| Some((e.position, e.record?)))
        .filter(move |(_, r)| kind.is_none_or(|k| Kind::of(r) == k))
}

/// One page of the filter's records, from `page_token` on.
async fn listing(state: &State, visit: &Visit, filter: Filter, page_token: String) -> Result<Html<String>, Problem> {
    let mut page = AuditPage::new(visit, filter);
    let checked = match check(&page.filter, &state.zone) {
        Ok(checked) => checked,
        Err(errors) => {
            page.errors = errors;
            return render(&page);
        }
    };
    let request = pb::ListAccessRequest { page_token, ..checked.request };
    let found = state.services.audit.list_access(visit.reader().request(request)).await?.into_inner();
    page.question = checked.question;
    page.examined = found.records.len();
    page.next_page_token = found.next_page_token;
    page.records = Some(kept(found.records, checked.kind).map(|(p, r)| record(p, r, &state.zone)).collect());
    render(&page)
}

/// `/audit`: today's records (the filter's dates set to today).
pub async fn form(extract::State(state): extract::State<Arc<State>>, visit: Visit) -> Result<Html<String>, Problem> {
    let today = state.zone.to_datetime(jiff::Timestamp::now()).date().to_string();
    let filter = Filter { from: today.clone(), to: today, ..Filter::default() };
    listing(&state, &visit, filter, String::new()).await
}

/// The records matching the posted filter (a page of them).
pub async fn search(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<AuditForm>,
) -> Result<Html<String>, Problem> {
    visit.check(&form.csrf)?;
    listing(&state, &visit, form.filter, form.page_token).await
}

/// The CSV export's columns.
const COLUMNS: [&str; 20] = [
    "position",
    "record_id",
    "at",
    "principal",
    "agency",
    "role",
    "purpose",
    "peer",
    "call",
    "access",
    "events_shown",
    "events_added",
    "erased",
    "asked_about",
    "withheld",
    "outcome",
    "policy_hash",
    "trace_id",
    "served_by",
    "request_id",
];

/// One record as a CSV line (times in UTC, RFC 3339).
fn csv_line(position: u64, r: &pb::AccessRecord) -> String {
    let at =
        r.at.as_ref()
            .and_then(|t| jiff::Timestamp::from_millisecond(concord_core::millis(t)).ok())
            .map(|t| t.to_string())
            .unwrap_or_default();
    let ids = |events: &[pb::ShownEvent]| events.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>().join(" ");
    csv::line(&[
        position.to_string(),
        r.record_id.clone(),
        at,
        r.principal.clone(),
        r.agency_id.clone(),
        r.role.clone(),
        r.purpose.clone(),
        r.peer.clone(),
        r.rpc.clone(),
        Kind::of(r).label().to_string(),
        ids(&r.shown),
        ids(&r.added),
        subjects(&r.erased).join(" "),
        subjects(&r.asked_about).join(" "),
        r.withheld.to_string(),
        r.outcome.clone(),
        r.policy_hash.clone(),
        r.trace_id.clone(),
        r.served_by.clone(),
        r.request_id.clone(),
    ])
}

/// Every record matching the posted filter, as a CSV attachment (of at
/// most [`EXPORT_LIMIT`] records read; a wider filter is shown the form
/// again, asked to narrow it). Each page of records read is one
/// `ListAccess` call.
pub async fn export(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<AuditForm>,
) -> Result<Response, Problem> {
    visit.check(&form.csrf)?;
    let mut page = AuditPage::new(&visit, form.filter);
    let checked = match check(&page.filter, &state.zone) {
        Ok(checked) => checked,
        Err(errors) => {
            page.errors = errors;
            return Ok(render(&page)?.into_response());
        }
    };
    let mut body = csv::line(&COLUMNS);
    let (mut read, mut page_token) = (0, String::new());
    loop {
        let page_size = EXPORT_PAGE.min(u32::try_from(EXPORT_LIMIT - read).unwrap_or(EXPORT_PAGE));
        let request = pb::ListAccessRequest { page_size, page_token, ..checked.request.clone() };
        let found = state.services.audit.list_access(visit.reader().request(request)).await?.into_inner();
        read += found.records.len();
        for (position, record) in kept(found.records, checked.kind) {
            body.push_str(&csv_line(position, &record));
        }
        if found.next_page_token.is_empty() {
            break;
        }
        if read >= EXPORT_LIMIT {
            page.errors = vec![FieldError {
                field: "from",
                message: "More than 10,000 records match: narrow the dates to export them in parts",
            }];
            return Ok(render(&page)?.into_response());
        }
        page_token = found.next_page_token;
    }
    let name = format!("attachment; filename=\"audit-records-{}.csv\"", jiff::Timestamp::now().as_second());
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], body)
        .into_response())
}
