//! One event's page: every field the reader was given (one `GetEvent` call
//! per page view). An event the reader may not see looks exactly like one
//! that does not exist.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Path};
use axum::response::Html;
use concord_core::{EventId, pb};

use super::{Frame, State, Visit, render};
use crate::event::{Row, Shown, SubjectLink, rows, shown, subjects};
use crate::problem::Problem;

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    frame: Frame,
    event: Shown,
    subjects: Vec<SubjectLink>,
    rows: Vec<Row>,
}

/// The page of event `id`.
pub async fn page(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Path(id): Path<String>,
) -> Result<Html<String>, Problem> {
    let id = EventId::parse(&id).map_err(|_| Problem::NotFound)?;
    let request = pb::GetEventRequest { event_id: id.to_string() };
    let view = state.services.query.get_event(visit.reader().request(request)).await?.into_inner();
    let event = view.event.as_ref().ok_or(Problem::NotFound)?;
    render(&EventPage {
        frame: visit.frame(),
        event: shown(&view, &state.zone).ok_or(Problem::NotFound)?,
        subjects: subjects(event),
        rows: rows(event),
    })
}
