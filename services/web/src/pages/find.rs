//! Finding a subject: by partnership key (straight to its timeline), or by
//! name and date of birth through the directory. Search terms are posted,
//! never put in an address, and the results page is the answer to the post.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form};
use axum::response::{Html, IntoResponse, Redirect, Response};
use concord_core::SubjectId;
use concord_core::pb::{self, MatchField, MatchHow};
use serde::Deserialize;

use super::{Frame, State, Visit, render};
use crate::event::subject_href;
use crate::problem::Problem;

/// A field the reader must put right.
pub struct FieldError {
    /// The field's id.
    pub field: &'static str,
    /// What to do.
    pub message: &'static str,
}

/// A subject found.
pub struct Hit {
    /// Its partnership key.
    pub subject: String,
    /// Its timeline.
    pub href: String,
    /// How well it matched, 0 to 100.
    pub score: u32,
    /// Why it matched, in words.
    pub reasons: String,
}

#[derive(Template, Default)]
#[template(path = "find.html")]
struct FindPage {
    frame: Frame,
    errors: Vec<FieldError>,
    key: String,
    name: String,
    day: String,
    month: String,
    year: String,
    hits: Option<Vec<Hit>>,
}

impl FindPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

/// The search page.
pub async fn form(visit: Visit) -> Result<Html<String>, Problem> {
    render(&FindPage { frame: visit.frame(), ..FindPage::default() })
}

/// The key form's fields.
#[derive(Deserialize)]
pub struct KeyForm {
    csrf: String,
    key: String,
}

/// Opens the timeline of the subject with the key given (a pseudonymous
/// partnership key, so it may be in the address).
pub async fn by_key(visit: Visit, Form(form): Form<KeyForm>) -> Result<Response, Problem> {
    visit.check(&form.csrf)?;
    match SubjectId::parse(form.key.trim()) {
        Ok(subject) => Ok(Redirect::to(&subject_href(&subject)).into_response()),
        Err(_) => {
            let errors = vec![FieldError {
                field: "key",
                message: "Enter a partnership key like person/P-2ae205b8 (person, place, vehicle or group)",
            }];
            Ok(render(&FindPage { frame: visit.frame(), errors, key: form.key, ..FindPage::default() })?
                .into_response())
        }
    }
}

/// The name form's fields.
#[derive(Deserialize)]
pub struct NameForm {
    csrf: String,
    name: String,
    day: String,
    month: String,
    year: String,
}

/// The date of birth a form gives, as ISO 8601, if it is a real date.
fn date_of_birth(day: &str, month: &str, year: &str) -> Option<String> {
    let (d, m, y) = (day.trim().parse().ok()?, month.trim().parse().ok()?, year.trim().parse().ok()?);
    jiff::civil::Date::new(y, m, d).ok().map(|date| date.to_string())
}

/// Why a hit matched, in words.
fn reasons(hit: &pb::DirectoryHit) -> String {
    let reasons: Vec<String> = hit
        .reasons
        .iter()
        .map(|r| {
            let field = match r.field() {
                MatchField::Name => "name",
                MatchField::DateOfBirth => "date of birth",
                MatchField::Postcode => "postcode",
                MatchField::Address => "address",
                MatchField::Registration => "registration",
                MatchField::Identifier => "identifier",
                MatchField::Unspecified => "something",
            };
            let how = match r.how() {
                MatchHow::Exact => "exactly",
                MatchHow::Nickname => "by a nickname",
                MatchHow::Initial => "by an initial",
                MatchHow::SoundsLike => "sounds alike",
                MatchHow::DayMonthTransposed => "with day and month swapped",
                MatchHow::Partial => "in part",
                _ => "",
            };
            format!("{field} {how}").trim_end().to_string()
        })
        .collect();
    reasons.join("; ")
}

/// Searches the directory by name and date of birth (one `Find` call, so
/// one access record, holding the terms only as keyed hashes).
pub async fn by_name(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<NameForm>,
) -> Result<Html<String>, Problem> {
    visit.check(&form.csrf)?;
    let mut errors = Vec::new();
    if form.name.trim().is_empty() {
        errors.push(FieldError { field: "name", message: "Enter a name" });
    }
    let born = date_of_birth(&form.day, &form.month, &form.year);
    if born.is_none() {
        errors.push(FieldError { field: "day", message: "Date of birth must be a real date, like 17 4 2009" });
    }
    let mut page = FindPage {
        frame: visit.frame(),
        name: form.name.clone(),
        day: form.day,
        month: form.month,
        year: form.year,
        ..FindPage::default()
    };
    let (Some(born), true) = (born, errors.is_empty()) else {
        page.errors = errors;
        return render(&page);
    };
    let request = pb::FindRequest {
        kind: pb::SubjectKind::Person as i32,
        name: form.name.trim().to_string(),
        date_of_birth: born,
        ..Default::default()
    };
    let found = state.services.directory.find(visit.reader().request(request)).await?.into_inner();
    let hits = found
        .hits
        .iter()
        .filter_map(|hit| {
            let subject = SubjectId::from_ref(hit.subject.as_ref()?).ok()?;
            Some(Hit {
                subject: subject.to_string(),
                href: subject_href(&subject),
                score: (hit.score.clamp(0.0, 1.0) * 100.0).round() as u32,
                reasons: reasons(hit),
            })
        })
        .collect();
    page.hits = Some(hits);
    render(&page)
}
