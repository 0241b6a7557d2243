//! Publishing: the event types the reader's agency publishes, a form for
//! each (described once, in [`crate::forms`]), and its submission: the
//! event published as the reader through `PublishService`, so the node
//! validates, seals and signs it and the ledger may still refuse it. What
//! the node or ledger refuses is put on the field it names, the form keeps
//! what was typed, and nothing is published.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form, Path};
use axum::response::Html;
use concord_core::pb::publish_service_server::PublishService;
use concord_core::{EventId, EventType, pb, status};
use concord_identity::Role;
use tonic::Code;

use super::{Frame, State, Visit, render};
use crate::event::{SubjectLink, event_href, subjects, words};
use crate::forms::{self, FieldError, Input, Posted};
use crate::problem::Problem;

/// One option of a select or checkboxes, as shown.
pub struct ChoiceView {
    /// The value posted.
    pub value: String,
    /// What it says.
    pub label: String,
    /// Its element id.
    pub id: String,
    /// Whether it is chosen.
    pub chosen: bool,
}

/// One field as shown: what it holds and what is wrong with it.
pub struct FieldView {
    /// The posted name.
    pub name: String,
    /// The element id.
    pub id: String,
    /// The label.
    pub label: String,
    /// Help under it.
    pub hint: String,
    /// `text`, `number`, `checkbox`, `select`, `checkboxes`, `datetime`, `date`, `list` or `textarea`.
    pub kind: &'static str,
    /// What it holds.
    pub value: String,
    /// A select's or checkboxes' options.
    pub choices: Vec<ChoiceView>,
    /// What to put right.
    pub error: Option<String>,
}

/// A group of fields as shown.
pub struct SectionView {
    /// Its heading.
    pub heading: String,
    /// Help under it.
    pub hint: String,
    /// Its fields.
    pub fields: Vec<FieldView>,
    /// Its optional fields, shown on asking.
    pub more: Vec<FieldView>,
    /// What asking for them says.
    pub more_label: String,
    /// Whether they are shown already (one holds something, or is wrong).
    pub more_open: bool,
}

/// An event type the reader's agency publishes.
pub struct TypeLink {
    /// Its form.
    pub href: String,
    /// Its name in words.
    pub title: String,
    /// What it is.
    pub about: String,
}

#[derive(Template)]
#[template(path = "publish_list.html")]
struct ListPage {
    frame: Frame,
    agency: String,
    types: Vec<TypeLink>,
}

#[derive(Template)]
#[template(path = "publish_form.html")]
struct FormPage {
    frame: Frame,
    title: String,
    action: String,
    event_id: String,
    /// Set when the reader's agency does not publish this type.
    not_ours: Option<String>,
    errors: Vec<ErrorLink>,
    sections: Vec<SectionView>,
}

/// An error summary's entry: the message and the field it links to.
pub struct ErrorLink {
    /// The element to go to.
    pub href: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Template)]
#[template(path = "publish_done.html")]
struct DonePage {
    frame: Frame,
    title: String,
    event_id: String,
    event_href: String,
    position: u64,
    duplicate: bool,
    unheard_alert: String,
    subjects: Vec<SubjectLink>,
    again: String,
}

/// Whether `role` publishes events: practitioners, briefing leads and
/// administrators do; analysts, auditors and data protection people read.
pub fn role_publishes(role: Role) -> bool {
    matches!(role, Role::Practitioner | Role::BriefingLead | Role::Admin)
}

/// The publishing service, if the reader may publish here: a role that
/// publishes, where this process runs publishing nodes.
fn publisher<'a>(state: &'a State, visit: &Visit) -> Result<&'a Arc<dyn PublishService>, Problem> {
    if !role_publishes(visit.user.role) {
        return Err(Problem::Denied(format!(
            "The {} role does not publish events. Practitioners, briefing leads and administrators do.",
            visit.user.role
        )));
    }
    state.services.publish.as_ref().ok_or_else(|| {
        Problem::Denied(
            "No agency publishes through this console: it is served by a query replica. Publish through your agency's node."
                .to_string(),
        )
    })
}

/// The event types `visit`'s agency publishes.
fn ours(visit: &Visit) -> impl Iterator<Item = EventType> + '_ {
    let kind = visit.user.agency.kind();
    EventType::ALL.iter().copied().filter(move |t| t.publishers().is_empty() || t.publishers().contains(&kind))
}

/// The list of event types the reader's agency publishes.
pub async fn list(extract::State(state): extract::State<Arc<State>>, visit: Visit) -> Result<Html<String>, Problem> {
    publisher(&state, &visit)?;
    let types = ours(&visit)
        .map(|t| TypeLink { href: format!("/publish/{t}"), title: words(t.as_str()), about: forms::about(t) })
        .collect();
    render(&ListPage { frame: visit.frame(), agency: visit.user.agency.to_string(), types })
}

/// The type in an address, or the page not found.
fn event_type(name: &str) -> Result<EventType, Problem> {
    name.parse().map_err(|_| Problem::NotFound)
}

/// The form page of `t`, holding `posted` (defaults when `None`) and `errors`.
fn form_page(
    state: &State,
    visit: &Visit,
    t: EventType,
    posted: Option<&Posted>,
    event_id: String,
    errors: Vec<FieldError>,
) -> FormPage {
    let now = state.zone.to_datetime(jiff::Timestamp::now()).strftime("%Y-%m-%dT%H:%M").to_string();
    let sections = forms::sections(t)
        .into_iter()
        .map(|section| {
            let more: Vec<FieldView> =
                section.more.iter().map(|field| field_view(field, posted, &errors, &now)).collect();
            SectionView {
                fields: section.fields.iter().map(|field| field_view(field, posted, &errors, &now)).collect(),
                more_open: more.iter().any(|f| !f.value.is_empty() || f.error.is_some()),
                more,
                more_label: section.more_label,
                heading: section.heading,
                hint: section.hint,
            }
        })
        .collect();
    let publishers = t.publishers();
    let not_ours = (!publishers.is_empty() && !publishers.contains(&visit.user.agency.kind())).then(|| {
        let names: Vec<&str> = publishers.iter().map(|k| concord_core::ids::agency_kind_name(*k)).collect();
        format!(
            "{} events are published by {} only: your agency's node will refuse this one.",
            words(t.as_str()),
            names.join(", ")
        )
    });
    let errors = errors
        .into_iter()
        .map(|e| ErrorLink {
            href: if e.field.is_empty() { "#form".to_string() } else { format!("#{}", forms::element_id(&e.field)) },
            message: e.message,
        })
        .collect();
    FormPage {
        frame: visit.frame(),
        title: words(t.as_str()),
        action: format!("/publish/{t}"),
        event_id,
        not_ours,
        errors,
        sections,
    }
}

/// `field` as shown, holding what was posted (or its default).
fn field_view(field: &forms::Field, posted: Option<&Posted>, errors: &[FieldError], now: &str) -> FieldView {
    let id = forms::element_id(&field.name);
    let chosen: Vec<String> = match posted {
        Some(p) => p.all(&field.name).into_iter().map(str::to_string).collect(),
        None if field.name == "occurred_at" => vec![now.to_string()],
        None => vec![field.default.clone()],
    };
    let value = posted.map_or_else(|| chosen.first().cloned().unwrap_or_default(), |p| p.get(&field.name).to_string());
    let kind = match field.input {
        Input::Text => "text",
        Input::Number => "number",
        Input::Checkbox => "checkbox",
        Input::Select => "select",
        Input::Checkboxes => "checkboxes",
        Input::DateTime => "datetime",
        Input::Date => "date",
        Input::List => "list",
        Input::TextArea => "textarea",
    };
    FieldView {
        name: field.name.clone(),
        label: field.label.clone(),
        hint: field.hint.clone(),
        kind,
        choices: field
            .choices
            .iter()
            .enumerate()
            .map(|(i, c)| ChoiceView {
                value: c.value.clone(),
                label: c.label.clone(),
                id: format!("{id}-{i}"),
                chosen: chosen.contains(&c.value),
            })
            .collect(),
        error: errors.iter().find(|e| e.field == field.name).map(|e| e.message.clone()),
        value,
        id,
    }
}

/// The form to publish an event of type `name`.
pub async fn form(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Path(name): Path<String>,
) -> Result<Html<String>, Problem> {
    publisher(&state, &visit)?;
    let t = event_type(&name)?;
    render(&form_page(&state, &visit, t, None, EventId::new_v7().to_string(), Vec::new()))
}

/// Where a refusal's message puts it: the field it names (from the
/// status's detail, or a ledger's reason `field: why`) and the words.
fn refusal(status: &tonic::Status, t: EventType, rows: &[usize]) -> FieldError {
    let message = status.message();
    // The ledger's refusal: "the ledger refused event <id>: <field>: <why>".
    let reason =
        message.split_once("refused event ").and_then(|(_, rest)| rest.split_once(": ")).map_or(message, |r| r.1);
    let path = status::field_of(status)
        .or_else(|| reason.split_once(": ").map(|(field, _)| field.to_string()).filter(|f| !f.contains(' ')));
    let why = path.as_ref().and_then(|p| reason.strip_prefix(&format!("{p}: "))).unwrap_or(reason);
    match path.and_then(|p| forms::field_for(&p, t, rows)) {
        Some(field) => {
            let sections = forms::sections(t);
            let label = sections
                .iter()
                .flat_map(forms::Section::all_fields)
                .find(|f| f.name == field)
                .map_or_else(|| field.clone(), |f| f.label.clone());
            FieldError { message: format!("{label}: {why}"), field }
        }
        None => FieldError { field: String::new(), message: format!("It was not published: {why}") },
    }
}

/// Publishes the event the form describes, as the reader; the result, or
/// the form again with what to put right (nothing published).
pub async fn submit(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Path(name): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Html<String>, Problem> {
    let posted = Posted(pairs);
    visit.check(posted.get("csrf"))?;
    let publish = publisher(&state, &visit)?;
    let t = event_type(&name)?;
    let event_id = match EventId::parse(posted.get("event_id")) {
        Ok(id) => id.to_string(),
        Err(_) => EventId::new_v7().to_string(),
    };
    let (event, rows) = match forms::event(t, &visit.user.agency, &posted, &state.zone) {
        Ok(built) => built,
        Err(errors) => return render(&form_page(&state, &visit, t, Some(&posted), event_id, errors)),
    };
    let subjects = subjects(&event);
    let request = pb::PublishRequest { event: Some(event), wait_for_ledger: true };
    match publish.publish(visit.reader().request(request)).await {
        Ok(response) => {
            let response = response.into_inner();
            render(&DonePage {
                frame: visit.frame(),
                title: words(t.as_str()),
                event_href: event_href(&response.event_id),
                event_id: response.event_id,
                position: response.position,
                duplicate: response.duplicate,
                unheard_alert: response.unheard_alert,
                subjects,
                again: format!("/publish/{t}"),
            })
        }
        Err(status) if status.code() == Code::Unauthenticated => Err(Problem::SignIn),
        // The publishing API's answer for an agency whose node is elsewhere.
        Err(status) if status.code() == Code::FailedPrecondition && status.message().starts_with("no node for") => {
            Err(Problem::Denied(format!(
                "{} publishes through its own node, which does not run here, so this console cannot publish for it. \
                 Nothing was published.",
                visit.user.agency
            )))
        }
        Err(status) => {
            let errors = vec![refusal(&status, t, &rows)];
            render(&form_page(&state, &visit, t, Some(&posted), event_id, errors))
        }
    }
}
