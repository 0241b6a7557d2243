//! Agreeing and changing the briefing's actions. An action lives in a VVE
//! briefing item event; agreeing one publishes a new item (expecting an
//! empty item stream), and every change publishes the item again as the
//! reader's agency with the change made, expecting the version the page
//! showed, through the agency's node (`PublishService`, as the reader).
//!
//! A change is made only on the state the page showed: the item is read
//! again (one `SubjectTimeline` call) and, if anyone has changed it since,
//! or the ledger refuses the expected version, nothing is published and
//! the page says so, showing the item as it now stands with the reader's
//! changes in the form to try again. Bad input is a field error; what the
//! platform refuses (another agency's action, say) is said in its words.
//! The ledger decides who may change what (services/ledger/src/briefing.rs);
//! the forms only leave out fields the reader could not change.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form};
use axum::response::{IntoResponse, Redirect, Response};
use concord_core::pb::{self, event::Body};
use concord_core::{AgencyId, SubjectId, now_millis, timestamp};
use jiff::tz::TimeZone;
use rand::RngCore;
use serde::Deserialize;
use tonic::Code;

use super::View;
use crate::event::{enum_words, when};
use crate::pages::find::FieldError;
use crate::pages::{Frame, State, Visit, render};
use crate::problem::Problem;

/// An action's statuses: form value and words.
pub const STATUSES: &[(&str, &str)] =
    &[("open", "Open"), ("in_progress", "In progress"), ("done", "Done"), ("cancelled", "Cancelled")];

/// An item's risk levels: form value and words.
pub const RISKS: &[(&str, &str)] =
    &[("low", "Low"), ("medium", "Medium"), ("high", "High"), ("very_high", "Very high")];

/// The longest description, note or summary taken.
const MAX_TEXT: usize = 1000;

/// The longest area name taken.
const MAX_AREA: usize = 100;

/// An action falls due at this hour (local) of its due date.
const DUE_HOUR: i8 = 17;

/// Timeline events read per call while looking for an item's events.
const PAGE: u32 = 1000;

/// The change form of one action: what it holds, and its errors.
pub struct ChangeFields {
    /// Prefix of its fields' ids (several forms share a page).
    pub prefix: String,
    /// The item event the form changes.
    pub event_id: String,
    /// That event's version, as the page showed it.
    pub version: u64,
    /// The item's first subject (whose timeline holds the item).
    pub subject: String,
    /// The item.
    pub item_id: String,
    /// The action.
    pub action_id: String,
    /// Its owner.
    pub owner: String,
    /// Its due date.
    pub day: String,
    /// Its due month.
    pub month: String,
    /// Its due year.
    pub year: String,
    /// Its status (a value of [`STATUSES`]).
    pub status: String,
    /// Its description.
    pub note: String,
    /// The reader may change owner and due date (children's services).
    pub all: bool,
    /// The briefing to go back to.
    pub view: View,
    /// What to put right.
    pub errors: Vec<FieldError>,
}

impl ChangeFields {
    /// The form of `open`, on a page of the window up to now from `since`.
    pub fn for_action(open: &pb::OpenAction, all: bool, view: &View, since: &str, zone: &TimeZone) -> Self {
        let (day, month, year) = due_parts(open.due.as_ref(), zone);
        ChangeFields {
            prefix: format!("{}-{}-", html_id(&open.item_id), html_id(&open.action_id)),
            event_id: open.event_id.clone(),
            version: open.item_version,
            subject: open
                .subjects
                .first()
                .and_then(|s| SubjectId::from_ref(s).ok())
                .map(|s| s.to_string())
                .unwrap_or_default(),
            item_id: open.item_id.clone(),
            action_id: open.action_id.clone(),
            owner: open.owner_agency_id.clone(),
            day,
            month,
            year,
            status: status_value(open.status),
            note: open.description.clone(),
            all,
            view: view.up_to_now_from(since),
            errors: Vec::new(),
        }
    }

    /// The message for `field`, if it is in error.
    pub fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }

    /// The fields [`values`] gives, to change.
    fn values_mut(&mut self) -> [&mut String; 6] {
        [&mut self.owner, &mut self.day, &mut self.month, &mut self.year, &mut self.status, &mut self.note]
    }
}

/// An action's values as its form holds them: owner, due day, month and
/// year, status, note.
fn values(action: &pb::BriefingAction, note: &str, zone: &TimeZone) -> [String; 6] {
    let (day, month, year) = due_parts(action.due.as_ref(), zone);
    [action.owner_agency_id.clone(), day, month, year, status_value(action.status), note.to_string()]
}

/// The agree form of one group: what it holds, and its errors.
pub struct AgreeFields {
    /// Prefix of its fields' ids.
    pub prefix: String,
    /// The group's subjects' keys, separated by spaces.
    pub subjects: String,
    /// `borough/ward` of the group.
    pub ward: String,
    /// The item's area.
    pub area: String,
    /// The item's risk (a value of [`RISKS`]).
    pub risk: String,
    /// The incident's summary.
    pub summary: String,
    /// What is to be done.
    pub description: String,
    /// Who is to do it.
    pub owner: String,
    /// Due day.
    pub day: String,
    /// Due month.
    pub month: String,
    /// Due year.
    pub year: String,
    /// The briefing to go back to.
    pub view: View,
    /// What to put right.
    pub errors: Vec<FieldError>,
}

impl AgreeFields {
    /// The empty form of the group ranked `rank`, about `subjects` in
    /// `ward`, on a page of the window up to now from `since`.
    pub fn for_group(rank: usize, subjects: &[pb::SubjectRef], ward: &str, view: &View, since: &str) -> Self {
        let keys: Vec<String> =
            subjects.iter().filter_map(|s| SubjectId::from_ref(s).ok()).map(|s| s.to_string()).collect();
        AgreeFields {
            prefix: format!("group-{rank}-"),
            subjects: keys.join(" "),
            ward: ward.to_string(),
            area: ward.rsplit('/').next().unwrap_or_default().to_string(),
            risk: "high".into(),
            summary: String::new(),
            description: String::new(),
            owner: String::new(),
            day: String::new(),
            month: String::new(),
            year: String::new(),
            view: view.up_to_now_from(since),
            errors: Vec::new(),
        }
    }

    /// The message for `field`, if it is in error.
    pub fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

/// `text` as part of an HTML id: letters, digits and hyphens.
fn html_id(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// A status as the form's value.
fn status_value(status: i32) -> String {
    let name = pb::ActionStatus::try_from(status).unwrap_or(pb::ActionStatus::Unspecified).as_str_name();
    name.trim_start_matches("ACTION_STATUS_").to_ascii_lowercase()
}

/// A due time as the form's day, month and year, in `zone`.
fn due_parts(due: Option<&pbjson_types::Timestamp>, zone: &TimeZone) -> (String, String, String) {
    due.and_then(|t| jiff::Timestamp::from_millisecond(concord_core::millis(t)).ok())
        .map(|t| {
            let date = zone.to_datetime(t).date();
            (date.day().to_string(), date.month().to_string(), date.year().to_string())
        })
        .unwrap_or_default()
}

/// The date a form gives, if it is a real one.
fn date(day: &str, month: &str, year: &str) -> Option<jiff::civil::Date> {
    let (d, m, y) = (day.trim().parse().ok()?, month.trim().parse().ok()?, year.trim().parse().ok()?);
    jiff::civil::Date::new(y, m, d).ok()
}

/// The time an action due on `date` falls due, in `zone`.
fn due_at(date: jiff::civil::Date, zone: &TimeZone) -> Option<pbjson_types::Timestamp> {
    let at = zone.to_timestamp(date.at(DUE_HOUR, 0, 0, 0)).ok()?;
    Some(timestamp(at.as_millisecond()))
}

/// Today, in `zone`.
fn today(zone: &TimeZone) -> jiff::civil::Date {
    zone.to_datetime(jiff::Timestamp::now()).date()
}

/// The due date fields checked: the due time, or the field's error. A date
/// before today is refused when `new` (agreed or changed).
fn checked_due(
    (day, month, year): (&str, &str, &str),
    new: impl Fn(jiff::civil::Date) -> bool,
    zone: &TimeZone,
) -> Result<Option<pbjson_types::Timestamp>, FieldError> {
    let real = FieldError { field: "day", message: "The due date must be a real date, like 12 12 2026" };
    let date = date(day, month, year).ok_or(real)?;
    if new(date) && date < today(zone) {
        return Err(FieldError { field: "day", message: "The due date must be today or in the future" });
    }
    due_at(date, zone)
        .map(Some)
        .ok_or(FieldError { field: "day", message: "The due date must be a real date, like 12 12 2026" })
}

/// The owner field checked.
fn checked_owner(owner: &str) -> Result<String, FieldError> {
    if owner.trim().is_empty() {
        return Err(FieldError { field: "owner", message: "Enter the agency that owns the action" });
    }
    AgencyId::parse(owner.trim())
        .map(|a| a.to_string())
        .map_err(|_| FieldError { field: "owner", message: "Enter an agency's id, like police.met.nw or vcs.st-giles" })
}

/// The briefing item an event holds.
fn item_of(event: &pb::Event) -> Option<&pb::VveBriefingItem> {
    match &event.body {
        Some(Body::VveBriefingItem(item)) => Some(item),
        _ => None,
    }
}

/// The events of item `item_id` the reader may see, oldest first, from the
/// timeline of its subject.
async fn read_item(
    state: &State,
    visit: &Visit,
    subject: &SubjectId,
    item_id: &str,
) -> Result<Vec<pb::EventView>, Problem> {
    let (mut found, mut page_token) = (Vec::new(), String::new());
    loop {
        let request = pb::SubjectTimelineRequest { subject: Some(subject.to_ref()), page_size: PAGE, page_token };
        let page = state.services.query.subject_timeline(visit.reader().request(request)).await?.into_inner();
        found.extend(
            page.events
                .into_iter()
                .filter(|v| v.event.as_ref().and_then(item_of).is_some_and(|i| i.item_id == item_id)),
        );
        if page.next_page_token.is_empty() {
            return Ok(found);
        }
        page_token = page.next_page_token;
    }
}

/// One action of an item, as the action page shows it.
pub struct ItemAction {
    /// Its id.
    pub action_id: String,
    /// What is to be done.
    pub description: String,
    /// Its owner.
    pub owner: String,
    /// When it is due.
    pub due: String,
    /// Its status, in words.
    pub status: String,
}

/// An item as it stands, as the action page shows it.
pub struct ItemState {
    /// The item.
    pub item_id: String,
    /// Its area.
    pub area: String,
    /// Its risk, in words.
    pub risk: String,
    /// The agency whose event holds this state.
    pub by: String,
    /// When that event was recorded.
    pub at: String,
    /// That event's version, as the platform gives it.
    pub version: u64,
    /// Free text is withheld from the reader.
    pub redacted: bool,
    /// Its actions.
    pub actions: Vec<ItemAction>,
}

fn item_state(view: &pb::EventView, zone: &TimeZone) -> Option<ItemState> {
    let event = view.event.as_ref()?;
    let item = item_of(event)?;
    let text = |action: &str| {
        event.personal.as_ref().and_then(|p| p.text.get(&format!("action.{action}"))).cloned().unwrap_or_default()
    };
    Some(ItemState {
        item_id: item.item_id.clone(),
        area: item.area.clone(),
        risk: enum_words(item.risk().as_str_name()),
        by: event.agency_id.clone(),
        at: when(event.recorded_at.as_ref(), zone),
        version: view.item_version,
        redacted: view.visibility == pb::Visibility::ShowRedacted as i32,
        actions: item
            .actions
            .iter()
            .map(|a| ItemAction {
                action_id: a.action_id.clone(),
                description: text(&a.action_id),
                owner: a.owner_agency_id.clone(),
                due: when(a.due.as_ref(), zone),
                status: enum_words(a.status().as_str_name()),
            })
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "briefing_action.html")]
struct ActionPage {
    frame: Frame,
    /// The item changed since the reader loaded it.
    conflict: bool,
    /// What the platform refused, in its words.
    refused: Option<String>,
    item: ItemState,
    f: ChangeFields,
    back: String,
}

/// The change form's fields. Fields left out keep their value (the close
/// form sends only the status).
#[derive(Deserialize)]
pub struct ChangeForm {
    csrf: String,
    event_id: String,
    version: String,
    subject: String,
    item_id: String,
    action_id: String,
    owner: Option<String>,
    day: Option<String>,
    month: Option<String>,
    year: Option<String>,
    status: Option<String>,
    note: Option<String>,
    #[serde(flatten)]
    view: View,
}

impl ChangeForm {
    /// The form as the reader filled it in, over `action`'s values where a
    /// field was left out.
    fn fields(&self, action: &pb::BriefingAction, note: &str, all: bool, zone: &TimeZone) -> ChangeFields {
        let (day, month, year) = due_parts(action.due.as_ref(), zone);
        let or = |given: &Option<String>, current: String| given.clone().unwrap_or(current);
        ChangeFields {
            prefix: String::new(),
            event_id: self.event_id.clone(),
            version: self.version.trim().parse().unwrap_or_default(),
            subject: self.subject.clone(),
            item_id: self.item_id.clone(),
            action_id: self.action_id.clone(),
            owner: or(&self.owner, action.owner_agency_id.clone()),
            day: or(&self.day, day),
            month: or(&self.month, month),
            year: or(&self.year, year),
            status: or(&self.status, status_value(action.status)),
            note: or(&self.note, note.to_string()),
            all,
            view: self.view.clone(),
            errors: Vec::new(),
        }
    }
}

/// `base` (an item event) with the form's change to its action made, as a
/// new event of `agency`, or what to put right.
fn changed(
    base: &pb::EventView,
    f: &ChangeFields,
    agency: &AgencyId,
    zone: &TimeZone,
) -> Result<pb::Event, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(mut event) = base.event.clone() else { return Err(errors) };
    let Some(Body::VveBriefingItem(mut item)) = event.body.take() else { return Err(errors) };
    let Some(action) = item.actions.iter_mut().find(|a| a.action_id == f.action_id) else { return Err(errors) };
    let key = format!("action.{}", action.action_id);
    let redacted = base.visibility == pb::Visibility::ShowRedacted as i32;
    let old_note = event.personal.as_ref().and_then(|p| p.text.get(&key)).cloned().unwrap_or_default();
    let mut changes = 0;
    match checked_owner(&f.owner) {
        Ok(owner) if owner != action.owner_agency_id => {
            action.owner_agency_id = owner;
            changes += 1;
        }
        Ok(_) => {}
        Err(e) => errors.push(e),
    }
    let (old_day, old_month, old_year) = due_parts(action.due.as_ref(), zone);
    let old = date(&old_day, &old_month, &old_year);
    match checked_due((&f.day, &f.month, &f.year), |d| Some(d) != old, zone) {
        Ok(due) if date(&f.day, &f.month, &f.year) != old => {
            action.due = due;
            changes += 1;
        }
        Ok(_) => {}
        Err(e) => errors.push(e),
    }
    match STATUSES.iter().position(|(value, _)| *value == f.status) {
        Some(_) if f.status == status_value(action.status) => {}
        Some(_) => {
            let name = format!("ACTION_STATUS_{}", f.status.to_ascii_uppercase());
            action.status = pb::ActionStatus::from_str_name(&name).unwrap_or(pb::ActionStatus::Open) as i32;
            changes += 1;
        }
        None => errors.push(FieldError { field: "status", message: "Choose the action's status" }),
    }
    let note = f.note.trim();
    if note.chars().count() > MAX_TEXT {
        errors.push(FieldError { field: "note", message: "The note must be 1,000 characters or fewer" });
    } else if note != old_note.trim() {
        if redacted {
            errors.push(FieldError {
                field: "note",
                message: "The item's notes are withheld from you, so you cannot change them: leave the note empty",
            });
        } else {
            event.personal.get_or_insert_with(Default::default).text.insert(key, note.to_string());
            changes += 1;
        }
    }
    if errors.is_empty() && changes == 0 {
        errors
            .push(FieldError { field: "status", message: "Change the status, note, owner or due date before saving" });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // What the reader may not read is not theirs to carry on.
    if redacted {
        event.personal = None;
    }
    event.body = Some(Body::VveBriefingItem(item));
    event.event_id.clear();
    event.agency_id = agency.to_string();
    event.agency_kind = agency.kind() as i32;
    event.occurred_at = Some(timestamp(now_millis()));
    event.recorded_at = None;
    event.corrects.clear();
    event.sealed.clear();
    Ok(event)
}

/// The version the reader's agency expects of an item whose events it may
/// see are `item`: the platform keeps each agency's own stream of an item,
/// so it is the page's version when the state changed is the agency's own
/// event, else the version of the agency's latest event of the item (0:
/// none).
fn expected(item: &[pb::EventView], base: &pb::EventView, page_version: u64, agency: &str) -> u64 {
    let own = |v: &&pb::EventView| v.event.as_ref().is_some_and(|e| e.agency_id == agency);
    if own(&base) {
        return page_version;
    }
    item.iter().filter(own).map(|v| v.item_version).max().unwrap_or(0)
}

/// Publishes `event` as the reader, waiting for the ledger.
async fn publish(state: &State, visit: &Visit, event: pb::Event) -> Result<pb::PublishResponse, tonic::Status> {
    let publish = state.services.publish.as_ref().ok_or_else(|| tonic::Status::not_found("no publishing here"))?;
    let request = pb::PublishRequest { event: Some(event), wait_for_ledger: true };
    publish.publish(visit.reader().request(request)).await.map(|r| r.into_inner())
}

/// Changes (or closes) an action: publishes its item again with the change
/// made, on the state the page showed, expecting its version.
pub async fn change(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<ChangeForm>,
) -> Result<Response, Problem> {
    visit.check(&form.csrf)?;
    if state.services.publish.is_none() {
        return Err(Problem::NotFound);
    }
    let zone = &state.zone;
    let subject = SubjectId::parse(form.subject.trim()).map_err(|_| Problem::NotFound)?;
    let item = read_item(&state, &visit, &subject, &form.item_id).await?;
    let base = item.iter().find(|v| v.event.as_ref().is_some_and(|e| e.event_id == form.event_id));
    let (Some(base), Some(latest)) = (base, item.last()) else { return Err(Problem::NotFound) };
    let all = visit.user.agency.kind() == pb::AgencyKind::ChildrensServices;
    let agency = visit.user.agency.to_string();
    let action_of = |view: &pb::EventView| {
        let event = view.event.as_ref()?;
        let action = item_of(event)?.actions.iter().find(|a| a.action_id == form.action_id)?.clone();
        let note = event.personal.as_ref().and_then(|p| p.text.get(&format!("action.{}", action.action_id))).cloned();
        Some((action, note.unwrap_or_default()))
    };
    let back = form.view.href_up_to_now(&form.view.since, "");
    // What stands now, with the reader's changes in the form to try again.
    // The action as the page showed it.
    let (action, note) = action_of(base).ok_or(Problem::NotFound)?;
    // What stands now, with the reader's changes in the form to try again:
    // a field they left as it was shown takes its new value.
    let conflicted = |latest: &pb::EventView| -> Result<Response, Problem> {
        let (now, now_note) = action_of(latest).ok_or(Problem::NotFound)?;
        let mut f = form.fields(&now, &now_note, all, zone);
        let (shown, new) = (values(&action, &note, zone), values(&now, &now_note, zone));
        for ((field, shown), new) in f.values_mut().into_iter().zip(shown).zip(new) {
            if *field == shown {
                *field = new;
            }
        }
        let event_id = latest.event.as_ref().map(|e| e.event_id.clone()).unwrap_or_default();
        (f.event_id, f.version) = (event_id, latest.item_version);
        let item = item_state(latest, zone).ok_or(Problem::NotFound)?;
        let page = ActionPage { frame: visit.frame(), conflict: true, refused: None, item, f, back: back.clone() };
        Ok(render(&page)?.into_response())
    };
    if latest.event.as_ref().map(|e| &e.event_id) != Some(&form.event_id) {
        return conflicted(latest);
    }
    let mut f = form.fields(&action, &note, all, zone);
    let item_now = item_state(base, zone).ok_or(Problem::NotFound)?;
    let mut event = match changed(base, &f, &visit.user.agency, zone) {
        Ok(event) => event,
        Err(errors) => {
            f.errors = errors;
            let page = ActionPage { frame: visit.frame(), conflict: false, refused: None, item: item_now, f, back };
            return Ok(render(&page)?.into_response());
        }
    };
    let version = expected(&item, base, f.version, &agency);
    event.expected_versions =
        vec![pb::ExpectedVersion { item_id: form.item_id.clone(), version, ..Default::default() }];
    match publish(&state, &visit, event).await {
        Ok(_) => {
            let saved = format!("{}/{}", form.item_id, form.action_id);
            Ok(Redirect::to(&form.view.href_up_to_now(&form.view.since, &saved)).into_response())
        }
        Err(status) if status.code() == Code::FailedPrecondition => {
            let item = read_item(&state, &visit, &subject, &form.item_id).await?;
            conflicted(item.last().ok_or(Problem::NotFound)?)
        }
        Err(status) if status.code() == Code::InvalidArgument => {
            let refused = Some(status.message().to_string());
            let page = ActionPage { frame: visit.frame(), conflict: false, refused, item: item_now, f, back };
            Ok(render(&page)?.into_response())
        }
        Err(status) => Err(status.into()),
    }
}

#[derive(Template)]
#[template(path = "briefing_agree.html")]
struct AgreePage {
    frame: Frame,
    /// What the platform refused, in its words.
    refused: Option<String>,
    f: AgreeFields,
    back: String,
}

/// The agree form's fields.
#[derive(Deserialize)]
pub struct AgreeForm {
    csrf: String,
    subjects: String,
    ward: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    risk: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    year: String,
    #[serde(flatten)]
    view: View,
}

/// A new item's id: `VVE-` and 48 random bits.
fn new_item_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("VVE-{hex}")
}

/// The new item the agree form asks for, or what to put right.
fn agreed(
    form: &AgreeForm,
    subjects: &[SubjectId],
    agency: &AgencyId,
    zone: &TimeZone,
) -> Result<pb::Event, Vec<FieldError>> {
    let mut errors = Vec::new();
    let description = form.description.trim();
    if description.is_empty() {
        errors.push(FieldError { field: "description", message: "Enter what is to be done" });
    } else if description.chars().count() > MAX_TEXT {
        errors.push(FieldError { field: "description", message: "The action must be 1,000 characters or fewer" });
    }
    let owner = checked_owner(&form.owner).map_err(|e| errors.push(e)).ok();
    let due = checked_due((&form.day, &form.month, &form.year), |_| true, zone).map_err(|e| errors.push(e)).ok();
    let area = form.area.trim();
    if area.is_empty() || area.chars().count() > MAX_AREA {
        errors.push(FieldError { field: "area", message: "Enter the area, in 100 characters or fewer" });
    }
    let risk = RISKS
        .iter()
        .find(|(value, _)| *value == form.risk)
        .and_then(|(value, _)| pb::RiskLevel::from_str_name(&format!("RISK_LEVEL_{}", value.to_ascii_uppercase())));
    if risk.is_none() {
        errors.push(FieldError { field: "risk", message: "Choose the risk" });
    }
    if form.summary.trim().chars().count() > MAX_TEXT {
        errors.push(FieldError { field: "summary", message: "The summary must be 1,000 characters or fewer" });
    }
    let (Some(owner), Some(due), Some(risk), true) = (owner, due, risk, errors.is_empty()) else { return Err(errors) };
    let item_id = new_item_id();
    let action = pb::BriefingAction {
        action_id: "A-1".into(),
        owner_agency_id: owner,
        due,
        status: pb::ActionStatus::Open as i32,
    };
    let mut text = std::collections::HashMap::from([("action.A-1".to_string(), description.to_string())]);
    if !form.summary.trim().is_empty() {
        text.insert("incident_summary".into(), form.summary.trim().to_string());
    }
    let (borough, ward) = form.ward.split_once('/').unwrap_or((form.ward.as_str(), ""));
    Ok(pb::Event {
        agency_id: agency.to_string(),
        agency_kind: agency.kind() as i32,
        subjects: subjects.iter().map(SubjectId::to_ref).collect(),
        occurred_at: Some(timestamp(now_millis())),
        borough: borough.trim().to_string(),
        ward: ward.trim().to_string(),
        classification: pb::Classification::OfficialSensitive as i32,
        lawful_basis: vec![pb::LawfulBasis::Safeguarding as i32],
        schema_version: 1,
        expected_versions: vec![pb::ExpectedVersion { item_id: item_id.clone(), version: 0, ..Default::default() }],
        personal: Some(pb::Personal { identities: Vec::new(), text }),
        body: Some(Body::VveBriefingItem(pb::VveBriefingItem {
            item_id,
            area: area.to_string(),
            risk: risk as i32,
            actions: vec![action],
        })),
        ..Default::default()
    })
}

/// Agrees an action about a group: publishes a new briefing item about
/// the group's subjects holding it.
pub async fn agree(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<AgreeForm>,
) -> Result<Response, Problem> {
    visit.check(&form.csrf)?;
    if state.services.publish.is_none() {
        return Err(Problem::NotFound);
    }
    let subjects: Vec<SubjectId> = form
        .subjects
        .split_whitespace()
        .map(SubjectId::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| Problem::NotFound)?;
    if subjects.is_empty() {
        return Err(Problem::NotFound);
    }
    let back = form.view.href_up_to_now(&form.view.since, "");
    let mut f = AgreeFields {
        prefix: String::new(),
        subjects: form.subjects.clone(),
        ward: form.ward.clone(),
        area: form.area.clone(),
        risk: form.risk.clone(),
        summary: form.summary.clone(),
        description: form.description.clone(),
        owner: form.owner.clone(),
        day: form.day.clone(),
        month: form.month.clone(),
        year: form.year.clone(),
        view: form.view.clone(),
        errors: Vec::new(),
    };
    let event = match agreed(&form, &subjects, &visit.user.agency, &state.zone) {
        Ok(event) => event,
        Err(errors) => {
            f.errors = errors;
            return Ok(render(&AgreePage { frame: visit.frame(), refused: None, f, back })?.into_response());
        }
    };
    let item_id = item_of(&event).map(|i| i.item_id.clone()).unwrap_or_default();
    match publish(&state, &visit, event).await {
        Ok(_) => {
            Ok(Redirect::to(&form.view.href_up_to_now(&form.view.since, &format!("{item_id}/A-1"))).into_response())
        }
        Err(status) if matches!(status.code(), Code::InvalidArgument | Code::FailedPrecondition) => {
            let refused = Some(status.message().to_string());
            Ok(render(&AgreePage { frame: visit.frame(), refused, f, back })?.into_response())
        }
        Err(status) => Err(status.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CS: &str = "childrens_services.harrow";

    fn zone() -> TimeZone {
        TimeZone::get("Europe/London").unwrap()
    }

    /// Version 1 of item VVE-1 by children's services: A-1 (the police's,
    /// open, due 12 December 2026 at 17:00 London) with its description.
    fn item(visibility: pb::Visibility) -> pb::EventView {
        let action = pb::BriefingAction {
            action_id: "A-1".into(),
            owner_agency_id: "police.met.nw".into(),
            due: Some(timestamp(1_797_094_800_000)),
            status: pb::ActionStatus::Open as i32,
        };
        let text = [("action.A-1".to_string(), "Home visit".to_string())].into();
        pb::EventView {
            item_version: 1,
            visibility: visibility as i32,
            event: Some(pb::Event {
                event_id: "0190a0a0-0000-7000-8000-000000000001".into(),
                agency_id: CS.into(),
                subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-1".into() }],
                expected_versions: vec![pb::ExpectedVersion {
                    item_id: "VVE-1".into(),
                    version: 0,
                    ..Default::default()
                }],
                personal: (visibility == pb::Visibility::Show).then(|| pb::Personal { identities: Vec::new(), text }),
                body: Some(Body::VveBriefingItem(pb::VveBriefingItem {
                    item_id: "VVE-1".into(),
                    area: "Wealdstone".into(),
                    risk: pb::RiskLevel::High as i32,
                    actions: vec![action],
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The change form of `view`'s action, as the page shows it.
    fn form(view: &pb::EventView) -> ChangeFields {
        let event = view.event.as_ref().unwrap();
        let action = item_of(event).unwrap().actions[0].clone();
        let note = event.personal.as_ref().and_then(|p| p.text.get("action.A-1")).cloned().unwrap_or_default();
        let (day, month, year) = due_parts(action.due.as_ref(), &zone());
        ChangeFields {
            prefix: String::new(),
            event_id: event.event_id.clone(),
            version: view.item_version,
            subject: "person/P-1".into(),
            item_id: "VVE-1".into(),
            action_id: "A-1".into(),
            owner: action.owner_agency_id.clone(),
            day,
            month,
            year,
            status: status_value(action.status),
            note,
            all: true,
            view: View::default(),
            errors: Vec::new(),
        }
    }

    fn messages(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.message).collect()
    }

    fn action(event: &pb::Event) -> &pb::BriefingAction {
        &item_of(event).unwrap().actions[0]
    }

    #[test]
    fn a_change_is_the_item_again_as_the_readers_agency_with_only_the_change_made() {
        let view = item(pb::Visibility::Show);
        let mut f = form(&view);
        assert_eq!((f.day.as_str(), f.month.as_str(), f.year.as_str()), ("12", "12", "2026"));
        (f.owner, f.status, f.note) = ("yot.harrow".into(), "in_progress".into(), "Visited".into());
        let lead = AgencyId::parse(CS).unwrap();
        let event = changed(&view, &f, &lead, &zone()).unwrap_or_else(|e| panic!("{:?}", messages(&e)));
        assert_eq!(action(&event).owner_agency_id, "yot.harrow");
        assert_eq!(action(&event).status, pb::ActionStatus::InProgress as i32);
        assert_eq!(action(&event).due, item(pb::Visibility::Show).event.as_ref().map(|e| action(e).due).unwrap());
        assert_eq!(event.personal.unwrap().text["action.A-1"], "Visited");
        assert!(event.event_id.is_empty() && event.recorded_at.is_none(), "the node gives both");
        assert!(event.occurred_at.is_some());

        // A police update of a redacted view carries no personal data.
        let police = AgencyId::parse("police.met.nw").unwrap();
        let redacted = item(pb::Visibility::ShowRedacted);
        let mut f = form(&redacted);
        f.status = "done".into();
        let event = changed(&redacted, &f, &police, &zone()).unwrap_or_else(|e| panic!("{:?}", messages(&e)));
        assert_eq!((event.agency_id.as_str(), event.personal), ("police.met.nw", None));
        assert_eq!(event.agency_kind, pb::AgencyKind::Police as i32);
        // Nor may it write a note over text it cannot read.
        f.note = "Closed".into();
        let refused = changed(&redacted, &f, &police, &zone()).unwrap_err();
        assert_eq!(refused.iter().map(|e| e.field).collect::<Vec<_>>(), ["note"]);
    }

    #[test]
    fn bad_input_and_no_change_are_field_errors() {
        let view = item(pb::Visibility::Show);
        let lead = AgencyId::parse(CS).unwrap();
        let fields = |f: &ChangeFields| match changed(&view, f, &lead, &zone()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(|e| (e.field, e.message)).collect(),
        };
        assert_eq!(fields(&form(&view)), [("status", "Change the status, note, owner or due date before saving")]);
        let mut f = form(&view);
        (f.owner, f.day, f.status) = (String::new(), "31".into(), "finished".into());
        f.month = "2".into();
        let found: Vec<&str> = fields(&f).iter().map(|(field, _)| *field).collect();
        assert_eq!(found, ["owner", "day", "status"]);
        let mut f = form(&view);
        (f.day, f.month, f.year) = ("1".into(), "1".into(), "2020".into());
        assert_eq!(fields(&f), [("day", "The due date must be today or in the future")]);
        let mut f = form(&view);
        f.note = "x".repeat(MAX_TEXT + 1);
        assert_eq!(fields(&f), [("note", "The note must be 1,000 characters or fewer")]);
    }

    #[test]
    fn the_expected_version_is_the_readers_agencys_own() {
        let own = item(pb::Visibility::Show);
        let mut theirs = item(pb::Visibility::Show);
        theirs.item_version = 0;
        theirs.event.as_mut().unwrap().agency_id = "police.met.nw".into();
        let events = [own.clone(), theirs.clone()];
        assert_eq!(expected(&events, &own, 1, CS), 1, "the page's version of its own event");
        assert_eq!(expected(&events, &theirs, 0, CS), 1, "its latest own event's, under another agency's");
        assert_eq!(expected(&events, &theirs, 0, "yot.harrow"), 0, "none of its own");
    }

    #[test]
    fn an_agreed_action_is_a_new_item_expecting_an_empty_stream() {
        let form = |description: &str, day: &str| AgreeForm {
            csrf: String::new(),
            subjects: "person/P-1".into(),
            ward: "Harrow/Wealdstone".into(),
            area: "Wealdstone".into(),
            risk: "very_high".into(),
            summary: String::new(),
            description: description.into(),
            owner: "police.met.nw".into(),
            day: day.into(),
            month: "12".into(),
            year: "2099".into(),
            view: View::default(),
        };
        let subjects = [SubjectId::parse("person/P-1").unwrap()];
        let lead = AgencyId::parse(CS).unwrap();
        let event = agreed(&form("Strategy discussion", "1"), &subjects, &lead, &zone())
            .unwrap_or_else(|e| panic!("{:?}", messages(&e)));
        let item = item_of(&event).unwrap();
        assert!(item.item_id.starts_with("VVE-") && item.item_id.len() == 16, "{}", item.item_id);
        assert_eq!(item.risk, pb::RiskLevel::VeryHigh as i32);
        assert_eq!((event.borough.as_str(), event.ward.as_str()), ("Harrow", "Wealdstone"));
        assert_eq!(event.expected_versions[0].item_id, item.item_id);
        assert_eq!(event.expected_versions[0].version, 0);
        assert_eq!(event.personal.unwrap().text["action.A-1"], "Strategy discussion");
        let refused = agreed(&form(" ", "32"), &subjects, &lead, &zone()).unwrap_err();
        assert_eq!(refused.iter().map(|e| e.field).collect::<Vec<_>>(), ["description", "day"]);
    }
}
