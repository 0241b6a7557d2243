//! Data protection, for data protection people: the partnership's requests
//! (erasure, the full access trail) and where they stand; filing one; a
//! decision on one (the service lets only another agency's data protection
//! person approve or refuse, and says why when it will not); a subject
//! access report; and a preview of the retention sweep (what it would
//! erase, erasing nothing). Each page view is one `AdminService` call as
//! the reader, recorded before it is answered; the service decides who may
//! do what, and the page shows its refusal plainly. Subjects are posted,
//! never put in an address (a request's id, in its page's address, is a
//! random UUID, not personal data).

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form, Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use concord_core::{SubjectId, pb, timestamp};
use serde::Deserialize;
use tonic::Code;

use super::audit::{Record, record};
use super::find::FieldError;
use super::{Frame, State, Visit, render};
use crate::event::{Row, Shown, rows, shown, when};
use crate::problem::Problem;

/// The kinds of subject a form offers.
const SUBJECT_KINDS: [&str; 4] = ["person", "place", "vehicle", "group"];

/// A request, in words.
pub struct Request {
    /// Its id.
    pub id: String,
    /// What it asks, in words.
    pub kind: &'static str,
    /// Whom it is about.
    pub subject: String,
    /// Why it was filed.
    pub reason: String,
    /// Who filed it, and their agency.
    pub requested_by: String,
    /// The requester's agency.
    pub requested_agency: String,
    /// When.
    pub requested_at: String,
    /// Where it stands, in words.
    pub state: &'static str,
    /// Whether it is still to be decided.
    pub pending: bool,
    /// Who decided it, their agency, when and why (empty while pending).
    pub decided_by: String,
    /// The decider's agency.
    pub decided_agency: String,
    /// When it was decided.
    pub decided_at: String,
    /// Why.
    pub decision_reason: String,
}

fn kind_words(kind: i32) -> &'static str {
    match pb::RequestKind::try_from(kind) {
        Ok(pb::RequestKind::Erasure) => "Erasure",
        Ok(pb::RequestKind::AccessTrail) => "Every agency's access records (access trail)",
        _ => "Unknown",
    }
}

fn state_words(state: i32) -> &'static str {
    match pb::RequestState::try_from(state) {
        Ok(pb::RequestState::Pending) => "Pending",
        Ok(pb::RequestState::Approved) => "Approved",
        Ok(pb::RequestState::Refused) => "Refused",
        Ok(pb::RequestState::Withdrawn) => "Withdrawn",
        _ => "Unknown",
    }
}

fn subject_words(subject: Option<&pb::SubjectRef>) -> String {
    subject.and_then(|s| SubjectId::from_ref(s).ok()).map_or_else(String::new, |s| s.to_string())
}

fn request(r: pb::DataProtectionRequest, state: &State) -> Request {
    let decided = r.decided_at.is_some();
    Request {
        kind: kind_words(r.kind),
        subject: subject_words(r.subject.as_ref()),
        requested_at: when(r.requested_at.as_ref(), &state.zone),
        state: state_words(r.state),
        pending: r.state == pb::RequestState::Pending as i32,
        decided_at: if decided { when(r.decided_at.as_ref(), &state.zone) } else { String::new() },
        id: r.request_id,
        reason: r.reason,
        requested_by: r.requested_by,
        requested_agency: r.requested_agency,
        decided_by: r.decided_by,
        decided_agency: r.decided_agency,
        decision_reason: r.decision_reason,
    }
}

/// Every request, as the service lists them (oldest first).
async fn all_requests(state: &State, visit: &Visit) -> Result<Vec<Request>, Problem> {
    let listed = state.services.admin.as_ref().ok_or_else(not_here)?;
    let found = listed.list_requests(visit.reader().request(pb::ListRequestsRequest::default())).await?;
    Ok(found.into_inner().requests.into_iter().map(|r| request(r, state)).collect())
}

/// This console's process runs no data protection service.
fn not_here() -> Problem {
    Problem::Unavailable("this process runs no AdminService".into())
}

/// A subject as a form gives it: a kind and a key.
fn subject(kind: &str, key: &str) -> Option<SubjectId> {
    SubjectId::parse(&format!("{kind}/{}", key.trim())).ok()
}

#[derive(Template)]
#[template(path = "data_protection.html")]
struct RequestsPage {
    frame: Frame,
    requests: Vec<Request>,
}

/// `/data-protection`: the partnership's requests.
pub async fn requests(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
) -> Result<Html<String>, Problem> {
    let requests = all_requests(&state, &visit).await?;
    render(&RequestsPage { frame: visit.frame(), requests })
}

#[derive(Template)]
#[template(path = "data_protection_request.html")]
struct RequestPage {
    frame: Frame,
    request: Request,
    errors: Vec<FieldError>,
    /// The service's refusal of a decision, in its words.
    refusal: Option<String>,
    decision: String,
    reason: String,
    /// What was just done, and what it means (after a filing or a decision).
    confirmation: Option<(&'static str, String)>,
}

impl RequestPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

/// The request `id`, from the service's list.
async fn one(state: &State, visit: &Visit, id: &str) -> Result<Request, Problem> {
    all_requests(state, visit).await?.into_iter().find(|r| r.id == id).ok_or(Problem::NotFound)
}

/// What a request's page confirms after a filing or a decision redirected
/// to it (so reloading it files or decides nothing again). It names no one.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The confirmation `done` asks for, if the request stands as it says.
fn confirmation(done: &str, request: &Request) -> Option<(&'static str, String)> {
    let (heading, next, state) = match done {
        "filed" => (
            "Request filed",
            "Nothing happens until a data protection person of another agency approves it.".into(),
            None,
        ),
        "erased" => (
            "Erasure approved",
            format!("{}'s data key is destroyed: their personal data can no longer be read anywhere.", request.subject),
            Some("Approved"),
        ),
        "nothing-to-erase" => {
            ("Erasure approved", format!("{} had no personal data left to erase.", request.subject), Some("Approved"))
        }
        "approved" => (
            "Request approved",
            "The requesting agency's subject access reports about the subject now hold every agency's access records."
                .into(),
            Some("Approved"),
        ),
        "refused" => ("Request refused", "Nothing was changed.".into(), Some("Refused")),
        "withdrawn" => ("Request withdrawn", "Nothing was changed.".into(), Some("Withdrawn")),
        _ => return None,
    };
    state.is_none_or(|state| state == request.state).then_some((heading, next))
}

/// `/data-protection/requests/{id}`: a request, and the form to decide it.
pub async fn request_page(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Html<String>, Problem> {
    let request = one(&state, &visit, &id).await?;
    render(&RequestPage {
        frame: visit.frame(),
        confirmation: done.done.and_then(|done| confirmation(&done, &request)),
        request,
        errors: Vec::new(),
        refusal: None,
        decision: String::new(),
        reason: String::new(),
    })
}

/// The request's page, confirming what was `done`.
fn done(id: &str, done: &str) -> Response {
    Redirect::to(&format!("/data-protection/requests/{id}?done={done}")).into_response()
}

/// A decision's fields.
#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

/// Decides the request `id` as posted, then shows it; the service's refusal
/// (another agency must decide, it is already decided) is shown on the
/// request's page.
pub async fn decide(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Result<Response, Problem> {
    visit.check(&form.csrf)?;
    let decision = match form.decision.as_str() {
        "approve" => Some(pb::RequestDecision::Approve),
        "refuse" => Some(pb::RequestDecision::Refuse),
        "withdraw" => Some(pb::RequestDecision::Withdraw),
        _ => None,
    };
    let mut errors = Vec::new();
    if decision.is_none() {
        errors.push(FieldError { field: "decision", message: "Choose whether to approve, refuse or withdraw it" });
    }
    if decision.is_some_and(|d| d != pb::RequestDecision::Approve) && form.reason.trim().is_empty() {
        errors.push(FieldError { field: "reason", message: "Say why you refuse or withdraw it" });
    }
    let page = |request, errors, refusal| RequestPage {
        frame: visit.frame(),
        request,
        errors,
        refusal,
        decision: form.decision.clone(),
        reason: form.reason.clone(),
        confirmation: None,
    };
    let (Some(decision), true) = (decision, errors.is_empty()) else {
        return Ok(render(&page(one(&state, &visit, &id).await?, errors, None))?.into_response());
    };
    let admin = state.services.admin.as_ref().ok_or_else(not_here)?;
    let asked = pb::DecideRequestRequest {
        request_id: id.clone(),
        decision: decision as i32,
        reason: form.reason.trim().to_string(),
        kind: 0,
    };
    match admin.decide_request(visit.reader().request(asked)).await {
        Ok(decided) => {
            let decided = decided.into_inner();
            let erasure = decided.kind == pb::RequestKind::Erasure as i32;
            let what = match decision {
                pb::RequestDecision::Approve if erasure && decided.had_key => "erased",
                pb::RequestDecision::Approve if erasure => "nothing-to-erase",
                pb::RequestDecision::Approve => "approved",
                pb::RequestDecision::Refuse => "refused",
                _ => "withdrawn",
            };
            Ok(done(&decided.request_id, what))
        }
        Err(refused)
            if matches!(refused.code(), Code::PermissionDenied | Code::FailedPrecondition | Code::InvalidArgument) =>
        {
            let request = one(&state, &visit, &id).await?;
            Ok(render(&page(request, Vec::new(), Some(refused.message().to_string())))?.into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template, Default)]
#[template(path = "data_protection_file.html")]
struct FilePage {
    frame: Frame,
    errors: Vec<FieldError>,
    kind: String,
    subject_kind: String,
    subject_key: String,
    reason: String,
    subject_kinds: [&'static str; 4],
}

impl FilePage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

/// `/data-protection/file`: the form to file a request.
pub async fn file_form(visit: Visit) -> Result<Html<String>, Problem> {
    render(&FilePage { frame: visit.frame(), subject_kinds: SUBJECT_KINDS, ..FilePage::default() })
}

/// A request's fields.
#[derive(Deserialize)]
pub struct FileForm {
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    subject_kind: String,
    #[serde(default)]
    subject_key: String,
    #[serde(default)]
    reason: String,
}

/// Files the posted request, then shows it; bad fields are named on the
/// form, and nothing is filed.
pub async fn file(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<FileForm>,
) -> Result<Response, Problem> {
    visit.check(&form.csrf)?;
    let kind = match form.kind.as_str() {
        "erasure" => Some(pb::RequestKind::Erasure),
        "access_trail" => Some(pb::RequestKind::AccessTrail),
        _ => None,
    };
    let about = subject(&form.subject_kind, &form.subject_key);
    let mut errors = Vec::new();
    if kind.is_none() {
        errors.push(FieldError { field: "kind", message: "Choose what the request asks for" });
    }
    if about.is_none() {
        errors.push(FieldError {
            field: "subject_key",
            message: "Enter the subject's partnership key, like P-2ae205b8, and choose its kind",
        });
    }
    if form.reason.trim().is_empty() {
        errors.push(FieldError { field: "reason", message: "Say why: the request's reference and its grounds" });
    }
    let (Some(kind), Some(about), true) = (kind, about, errors.is_empty()) else {
        return Ok(render(&FilePage {
            frame: visit.frame(),
            errors,
            kind: form.kind,
            subject_kind: form.subject_kind,
            subject_key: form.subject_key,
            reason: form.reason,
            subject_kinds: SUBJECT_KINDS,
        })?
        .into_response());
    };
    let admin = state.services.admin.as_ref().ok_or_else(not_here)?;
    let asked = pb::FileRequestRequest {
        kind: kind as i32,
        subject: Some(about.to_ref()),
        reason: form.reason.trim().to_string(),
    };
    let filed = admin.file_request(visit.reader().request(asked)).await?.into_inner();
    Ok(done(&filed.request_id, "filed"))
}

/// A subject access report, in words.
pub struct Report {
    /// Whom it is about.
    pub subject: String,
    /// When it was produced.
    pub produced_at: String,
    /// Who asked.
    pub requested_by: String,
    /// The events the agency may see, each with its fields.
    pub events: Vec<(Shown, Vec<Row>)>,
    /// How many were withheld from the agency.
    pub withheld: u32,
    /// The agreement that decided.
    pub policy_hash: String,
    /// Whether the subject's data was erased.
    pub erased: bool,
    /// The access records about them.
    pub accesses: Vec<Record>,
    /// Whether every agency's records are in.
    pub all_agencies: bool,
}

#[derive(Template, Default)]
#[template(path = "data_protection_access.html")]
struct AccessPage {
    frame: Frame,
    errors: Vec<FieldError>,
    subject_kind: String,
    subject_key: String,
    trail_request: String,
    subject_kinds: [&'static str; 4],
    report: Option<Report>,
    /// The service's refusal of the access-trail request named, in its words.
    refusal: Option<String>,
}

impl AccessPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

/// `/data-protection/subject-access`: the form for a subject access report.
pub async fn access_form(visit: Visit) -> Result<Html<String>, Problem> {
    render(&AccessPage { frame: visit.frame(), subject_kinds: SUBJECT_KINDS, ..AccessPage::default() })
}

/// A subject access report's fields.
#[derive(Deserialize)]
pub struct AccessForm {
    csrf: String,
    #[serde(default)]
    subject_kind: String,
    #[serde(default)]
    subject_key: String,
    #[serde(default)]
    trail_request: String,
}

/// The subject access report for the posted subject.
pub async fn subject_access(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<AccessForm>,
) -> Result<Html<String>, Problem> {
    visit.check(&form.csrf)?;
    let mut page = AccessPage {
        frame: visit.frame(),
        subject_kinds: SUBJECT_KINDS,
        trail_request: form.trail_request.trim().to_string(),
        subject_kind: form.subject_kind,
        subject_key: form.subject_key,
        ..AccessPage::default()
    };
    let Some(about) = subject(&page.subject_kind, &page.subject_key) else {
        page.errors.push(FieldError {
            field: "subject_key",
            message: "Enter the subject's partnership key, like P-2ae205b8, and choose its kind",
        });
        return render(&page);
    };
    if !page.trail_request.is_empty() && uuid_like(&page.trail_request).is_none() {
        page.errors.push(FieldError { field: "trail_request", message: "Enter a request's id as its page shows it" });
        return render(&page);
    }
    let admin = state.services.admin.as_ref().ok_or_else(not_here)?;
    let asked = pb::SubjectAccessRequest { subject: Some(about.to_ref()), trail_request: page.trail_request.clone() };
    let report = match admin.subject_access(visit.reader().request(asked)).await {
        Ok(report) => report.into_inner(),
        // The access-trail request named is unknown, another agency's, not
        // about this subject or not approved: the service says which.
        Err(refused)
            if !page.trail_request.is_empty()
                && matches!(
                    refused.code(),
                    Code::NotFound | Code::PermissionDenied | Code::FailedPrecondition | Code::InvalidArgument
                ) =>
        {
            page.refusal = Some(refused.message().to_string());
            return render(&page);
        }
        Err(other) => return Err(other.into()),
    };
    page.report = Some(Report {
        subject: subject_words(report.subject.as_ref()),
        produced_at: when(report.produced_at.as_ref(), &state.zone),
        events: report
            .events
            .iter()
            .filter_map(|view| Some((shown(view, &state.zone)?, rows(view.event.as_ref()?))))
            .collect(),
        withheld: report.withheld,
        policy_hash: report.policy_hash,
        erased: report.erased,
        accesses: report.accesses.into_iter().map(|r| record(0, r, &state.zone)).collect(),
        all_agencies: report.all_agencies,
        requested_by: report.requested_by,
    });
    render(&page)
}

/// `text` if it is shaped like a request id (a UUID).
fn uuid_like(text: &str) -> Option<&str> {
    let ok = text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    ok.then_some(text)
}

/// One subject the sweep would erase.
pub struct Due {
    /// The subject.
    pub subject: String,
    /// The rule that kept them longest.
    pub rule: String,
    /// When its period ended.
    pub due: String,
}

/// A retention preview, in words.
pub struct Preview {
    /// As at.
    pub at: String,
    /// Subjects with personal data examined.
    pub examined: u32,
    /// Those whose retention has ended.
    pub due: Vec<Due>,
    /// Those kept because a rule needs a date of birth nobody recorded.
    pub undetermined: Vec<String>,
}

#[derive(Template, Default)]
#[template(path = "data_protection_retention.html")]
struct RetentionPage {
    frame: Frame,
    errors: Vec<FieldError>,
    at: String,
    preview: Option<Preview>,
}

impl RetentionPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

/// The sweep's dry run as at `at` (now, if none): what it would erase.
async fn preview(state: &State, visit: &Visit, at: Option<pbjson_types::Timestamp>) -> Result<Preview, Problem> {
    let admin = state.services.admin.as_ref().ok_or_else(not_here)?;
    let asked = pb::RetentionSweepRequest { dry_run: true, at };
    let report = admin.retention_sweep(visit.reader().request(asked)).await?.into_inner();
    Ok(Preview {
        at: when(report.at.as_ref(), &state.zone),
        examined: report.examined,
        due: report
            .due
            .iter()
            .map(|d| Due {
                subject: subject_words(d.subject.as_ref()),
                rule: d.rule.clone(),
                due: when(d.due.as_ref(), &state.zone),
            })
            .collect(),
        undetermined: report.undetermined.iter().map(|s| subject_words(Some(s))).collect(),
    })
}

/// `/data-protection/retention`: what the sweep would erase now.
pub async fn retention(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
) -> Result<Html<String>, Problem> {
    let preview = preview(&state, &visit, None).await?;
    render(&RetentionPage { frame: visit.frame(), preview: Some(preview), ..RetentionPage::default() })
}

/// The preview's field: the date to look ahead (or back) to.
#[derive(Deserialize)]
pub struct RetentionForm {
    csrf: String,
    #[serde(default)]
    at: String,
}

/// What the sweep would erase as at the posted date.
pub async fn retention_at(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<RetentionForm>,
) -> Result<Html<String>, Problem> {
    visit.check(&form.csrf)?;
    let at = form.at.trim();
    let start = at
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned_datetime(state.zone.clone()).ok())
        .map(|z| timestamp(z.timestamp().as_millisecond()));
    let mut page = RetentionPage { frame: visit.frame(), at: at.to_string(), ..RetentionPage::default() };
    if !at.is_empty() && start.is_none() {
        page.errors.push(FieldError { field: "at", message: "Enter the date as a real date, like 2027-03-01" });
        return render(&page);
    }
    page.preview = Some(preview(&state, &visit, start).await?);
    render(&page)
}
