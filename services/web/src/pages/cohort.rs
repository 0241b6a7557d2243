//! Cohorts: the reader's agency's named cohorts (its caseload, an
//! exploitation cohort), and a cohort's live feed: its members and the
//! newest events about them the reader may see, newest first, from ONE
//! `DirectoryService.Cohort` call, so a page view is one access record
//! naming exactly the events shown.
//! A cohort's name is chosen by its agency and could name someone, so it is
//! posted, never put in an address; the feed is refreshed by posting again
//! (no script: the console's CSP allows none).

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form};
use axum::response::Html;
use concord_core::{EventType, SubjectId, pb};
use serde::Deserialize;

use super::{Frame, State, Visit, render};
use crate::event::{Shown, SubjectLink, shown, subject_href};
use crate::problem::Problem;

/// Events per timeline page read.
const PAGE_SIZE: u32 = 1000;

/// Pages read at most when listing the cohort events.
const MAX_PAGES: usize = 20;

/// Members the feed lists at most.
pub const MAX_MEMBERS: usize = 50;

/// The newest events about the members the feed shows at most.
pub const NEWEST_EVENTS: u32 = 100;

#[derive(Template, Default)]
#[template(path = "cohorts.html")]
struct ListPage {
    frame: Frame,
    agency: String,
    cohorts: Vec<String>,
    name: String,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "cohort.html")]
struct FeedPage {
    frame: Frame,
    cohort: String,
    members: Vec<SubjectLink>,
    more_members: usize,
    events: Vec<Shown>,
    newest: u32,
    as_of: String,
}

/// Every page of a query, following its page tokens (at most [`MAX_PAGES`]).
async fn all_pages<F, Fut>(mut page: F) -> Result<Vec<pb::EventView>, Problem>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<tonic::Response<pb::EventPage>, tonic::Status>>,
{
    let (mut views, mut token) = (Vec::new(), String::new());
    for _ in 0..MAX_PAGES {
        let got = page(token).await?.into_inner();
        views.extend(got.events);
        if got.next_page_token.is_empty() {
            break;
        }
        token = got.next_page_token;
    }
    Ok(views)
}

/// The names of the reader's agency's cohorts, from its `CohortChanged`
/// events (one `Search` by type and agency).
async fn cohort_names(state: &State, visit: &Visit) -> Result<Vec<String>, Problem> {
    let agency = visit.user.agency.to_string();
    let views = all_pages(|page_token| {
        let request = pb::SearchRequest {
            event_type: EventType::CohortChanged.as_str().to_string(),
            agency_id: agency.clone(),
            page_size: PAGE_SIZE,
            page_token,
            ..Default::default()
        };
        state.services.query.search(visit.reader().request(request))
    })
    .await?;
    let mut names: Vec<String> = views
        .iter()
        .filter_map(|v| match v.event.as_ref()?.body.as_ref()? {
            pb::event::Body::CohortChanged(c) => Some(c.cohort.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The reader's agency's cohorts.
pub async fn list(extract::State(state): extract::State<Arc<State>>, visit: Visit) -> Result<Html<String>, Problem> {
    let cohorts = cohort_names(&state, &visit).await?;
    render(&ListPage { frame: visit.frame(), agency: visit.user.agency.to_string(), cohorts, ..ListPage::default() })
}

/// The cohort form's fields.
#[derive(Deserialize)]
pub struct CohortForm {
    csrf: String,
    cohort: String,
}

/// Whether `name` can be a cohort's name (as the node checks it).
fn well_formed(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A cohort's members and the events about them the reader may see, newest
/// first.
pub async fn feed(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<CohortForm>,
) -> Result<Html<String>, Problem> {
    visit.check(&form.csrf)?;
    let cohort = form.cohort.trim().to_string();
    if !well_formed(&cohort) {
        let cohorts = cohort_names(&state, &visit).await?;
        return render(&ListPage {
            frame: visit.frame(),
            agency: visit.user.agency.to_string(),
            cohorts,
            name: form.cohort,
            error: Some("Enter a cohort's name: letters, digits, '.', '_' or '-', like yot-caseload"),
        });
    }
    // One call, one access record naming exactly the events shown.
    let request = pb::CohortRequest { cohort: cohort.clone(), newest_events: NEWEST_EVENTS };
    let answer = state.services.directory.cohort(visit.reader().request(request)).await?.into_inner();
    let members: Vec<SubjectId> = answer.members.iter().filter_map(|m| SubjectId::from_ref(m).ok()).collect();
    let listed = &members[..members.len().min(MAX_MEMBERS)];
    let as_of = state.zone.to_datetime(jiff::Timestamp::now()).strftime("%-d %B %Y, %H:%M:%S").to_string();
    render(&FeedPage {
        frame: visit.frame(),
        cohort,
        members: listed.iter().map(|s| SubjectLink { key: s.to_string(), href: subject_href(s) }).collect(),
        more_members: members.len() - listed.len(),
        events: answer.events.iter().filter_map(|v| shown(v, &state.zone)).collect(),
        newest: NEWEST_EVENTS,
        as_of,
    })
}
