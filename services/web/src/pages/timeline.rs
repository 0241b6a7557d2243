//! A subject's timeline: what the reader may see about them, oldest first,
//! a page at a time (one `SubjectTimeline` call per page view). A subject
//! the reader may see nothing about looks exactly like one nobody holds.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Path, Query};
use axum::response::Html;
use concord_core::{SubjectId, pb};
use serde::Deserialize;

use super::{Frame, State, Visit, render};
use crate::event::{Shown, shown, subject_href};
use crate::problem::Problem;

/// Events per page.
const PAGE_SIZE: u32 = 25;

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    frame: Frame,
    subject: String,
    kind: String,
    events: Vec<Shown>,
    next: Option<String>,
}

/// Where a page of the timeline starts.
#[derive(Deserialize)]
pub struct After {
    /// The query service's opaque page token (a sealed cursor; no data).
    after: Option<String>,
}

/// One page of the timeline of the subject `kind`/`key`.
pub async fn page(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Path((kind, key)): Path<(String, String)>,
    Query(after): Query<After>,
) -> Result<Html<String>, Problem> {
    let subject = SubjectId::parse(&format!("{kind}/{key}")).map_err(|_| Problem::NotFound)?;
    let first = after.after.is_none();
    let request = pb::SubjectTimelineRequest {
        subject: Some(subject.to_ref()),
        page_size: PAGE_SIZE,
        page_token: after.after.unwrap_or_default(),
    };
    let page = state.services.query.subject_timeline(visit.reader().request(request)).await?.into_inner();
    if first && page.events.is_empty() {
        return Err(Problem::NotFound);
    }
    let next = (!page.next_page_token.is_empty())
        .then(|| format!("{}?after={}", subject_href(&subject), page.next_page_token));
    render(&TimelinePage {
        frame: visit.frame(),
        subject: subject.to_string(),
        kind,
        events: page.events.iter().filter_map(|view| shown(view, &state.zone)).collect(),
        next,
    })
}
