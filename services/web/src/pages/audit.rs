//! Who saw what: the audit log's records about an event, a subject or a
//! person, for auditors (one `AuditService.ListAccess` call per page view,
//! itself recorded). The terms are posted, never put in an address; the
//! records name events by id and never show their content.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form};
use axum::response::Html;
use concord_core::{EventId, SubjectId, pb};
use serde::Deserialize;

use super::find::FieldError;
use super::{Frame, State, Visit, render};
use crate::event::when;
use crate::problem::Problem;

/// Records per page view.
const PAGE_SIZE: u32 = 100;

/// One access record, in words.
pub struct Record {
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
    /// The events it showed or added, by id.
    pub events: Vec<String>,
    /// How many events the agreement withheld from it.
    pub withheld: u32,
    /// `ok`, or why it failed.
    pub outcome: String,
}

#[derive(Template, Default)]
#[template(path = "audit.html")]
struct AuditPage {
    frame: Frame,
    errors: Vec<FieldError>,
    event_id: String,
    subject: String,
    principal: String,
    records: Option<Vec<Record>>,
    more: bool,
}

impl AuditPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

/// The search form.
pub async fn form(visit: Visit) -> Result<Html<String>, Problem> {
    render(&AuditPage { frame: visit.frame(), ..AuditPage::default() })
}

/// The search form's fields.
#[derive(Deserialize)]
pub struct AuditForm {
    csrf: String,
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    principal: String,
}

fn record(entry: pb::AccessEntry, zone: &jiff::tz::TimeZone) -> Option<Record> {
    let r = entry.record?;
    let events = r.shown.iter().chain(&r.added).map(|e| e.event_id.clone()).filter(|id| !id.is_empty()).collect();
    Some(Record {
        at: when(r.at.as_ref(), zone),
        who: r.principal,
        agency: r.agency_id,
        role: r.role,
        purpose: r.purpose,
        peer: r.peer,
        call: r.rpc.trim_start_matches("/concord.v1.").to_string(),
        events,
        withheld: r.withheld,
        outcome: r.outcome,
    })
}

/// The records matching the form.
pub async fn search(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<AuditForm>,
) -> Result<Html<String>, Problem> {
    visit.check(&form.csrf)?;
    let (event_id, subject, principal) = (form.event_id.trim(), form.subject.trim(), form.principal.trim());
    let mut errors = Vec::new();
    if !event_id.is_empty() && EventId::parse(event_id).is_err() {
        errors.push(FieldError {
            field: "event_id",
            message: "Enter an event id, like 0190a0a0-0000-7000-8000-000000000001",
        });
    }
    let parsed = (!subject.is_empty()).then(|| SubjectId::parse(subject));
    if matches!(parsed, Some(Err(_))) {
        errors.push(FieldError { field: "subject", message: "Enter a partnership key, like person/P-2ae205b8" });
    }
    if event_id.is_empty() && subject.is_empty() && principal.is_empty() {
        errors.push(FieldError { field: "event_id", message: "Enter an event id, a subject's key or a person" });
    }
    let mut page = AuditPage {
        frame: visit.frame(),
        event_id: event_id.to_string(),
        subject: subject.to_string(),
        principal: principal.to_string(),
        ..AuditPage::default()
    };
    if !errors.is_empty() {
        page.errors = errors;
        return render(&page);
    }
    let request = pb::ListAccessRequest {
        event_id: event_id.to_string(),
        subject: parsed.and_then(Result::ok).map(|s| s.to_ref()),
        principal: principal.to_string(),
        page_size: PAGE_SIZE,
        ..Default::default()
    };
    let found = state.services.audit.list_access(visit.reader().request(request)).await?.into_inner();
    page.more = !found.next_page_token.is_empty();
    page.records = Some(found.records.into_iter().filter_map(|entry| record(entry, &state.zone)).collect());
    render(&page)
}
