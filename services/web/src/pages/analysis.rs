//! Problem profiles for analysts: a period and a borough in, the analytics
//! crate's report out (the very tables, charts and small-number
//! suppression `concord profile` publishes, drawn by its templates).
//!
//! The profile is computed from one `ReplayService.Replay` call made as the
//! signed-in analyst, so the replay is authorised, pseudonymised and
//! audited as theirs: the console sees no name and no subject's real key.
//! Each run is a new analysis (its pseudonyms unlinkable to another run's).
//! The period is bounded ([`MAX_DAYS`]), so one page view replays at most a
//! year of the log. The hotspot page ([`super::hotspots`]) reads its period
//! and replays the same way.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form};
use axum::response::Html;
use concord_analytics::{Population, Profile, ProfileConfig, Suppression, TimeAxis, Window, Zone};
use concord_core::pb;
use concord_identity::Role;
use futures::StreamExt;
use jiff::civil::Date;
use rand::RngCore;
use serde::Deserialize;

use super::find::FieldError;
use super::{Frame, State, Visit, render};
use crate::problem::Problem;

/// The longest period one page view replays, in days.
pub const MAX_DAYS: i32 = 366;

/// Events per replayed batch (the replay's largest), so that a period is
/// as few batches, and access records, as it can be.
const BATCH: u32 = 5000;

/// A period's fields as the reader typed them (GOV.UK date inputs).
#[derive(Default, Deserialize)]
pub struct PeriodFields {
    /// The first day's day of the month.
    #[serde(default)]
    pub from_day: String,
    /// The first day's month.
    #[serde(default)]
    pub from_month: String,
    /// The first day's year.
    #[serde(default)]
    pub from_year: String,
    /// The last day's day of the month.
    #[serde(default)]
    pub to_day: String,
    /// The last day's month.
    #[serde(default)]
    pub to_month: String,
    /// The last day's year.
    #[serde(default)]
    pub to_year: String,
}

/// The date three fields give, if it is a real one.
fn date(day: &str, month: &str, year: &str) -> Option<Date> {
    let (d, m, y) = (day.trim().parse().ok()?, month.trim().parse().ok()?, year.trim().parse().ok()?);
    Date::new(y, m, d).ok()
}

impl PeriodFields {
    /// The period, or what is wrong with it, field by field (pushed on `errors`).
    pub fn window(&self, errors: &mut Vec<FieldError>) -> Option<Window> {
        let from = date(&self.from_day, &self.from_month, &self.from_year);
        if from.is_none() {
            errors.push(FieldError {
                field: "from_day",
                message: "The start of the period must be a real date, like 1 4 2026",
            });
        }
        let to = date(&self.to_day, &self.to_month, &self.to_year);
        if to.is_none() {
            errors.push(FieldError {
                field: "to_day",
                message: "The end of the period must be a real date, like 30 6 2026",
            });
        }
        let (from, to) = (from?, to?);
        let Ok(window) = Window::new(from, to) else {
            errors.push(FieldError {
                field: "to_day",
                message: "The end of the period must be the same as or after its start",
            });
            return None;
        };
        if (to - from).get_days() >= MAX_DAYS {
            errors.push(FieldError {
                field: "to_day",
                message: "The period can be at most 366 days long: make it shorter",
            });
            return None;
        }
        Some(window)
    }

    /// The fields of `window`, filled in.
    pub fn of(window: Window) -> PeriodFields {
        let (from, to) = (window.from(), window.to());
        PeriodFields {
            from_day: from.day().to_string(),
            from_month: from.month().to_string(),
            from_year: from.year().to_string(),
            to_day: to.day().to_string(),
            to_month: to.month().to_string(),
            to_year: to.year().to_string(),
        }
    }
}

/// The partnership's time zone as the analytics crate names it (UTC if it
/// has no IANA name).
pub fn zone(state: &State) -> Zone {
    state.zone.iana_name().and_then(|name| Zone::get(name).ok()).unwrap_or_else(Zone::utc)
}

/// Refuses, before any form is shown, a reader whose role the replay would
/// refuse anyway (the replay itself is what decides, when a form is sent).
pub fn analysts_only(visit: &Visit) -> Result<(), Problem> {
    if visit.user.role == Role::Analyst {
        return Ok(());
    }
    Err(Problem::Denied(
        "Profiles and hotspots are computed from the pseudonymised replay of the log, which is for analysts. \
         Sign in as an analyst to use them."
            .to_string(),
    ))
}

/// Replays `window` (on `axis`, on `zone`'s calendar) of the events of
/// `event_types` (all if empty) as the visiting reader, in a new analysis
/// named for `what`, giving each pseudonymised event to `apply`.
pub async fn replay(
    state: &State,
    visit: &Visit,
    what: &str,
    (window, axis): (Window, TimeAxis),
    event_types: Vec<String>,
    mut apply: impl FnMut(&pb::Event),
) -> Result<(), Problem> {
    let Some(service) = state.services.replay.as_ref() else {
        return Err(Problem::Unavailable("this process does not run the replay".to_string()));
    };
    let zone = zone(state);
    let at = |millis: i64| pbjson_types::Timestamp { seconds: millis.div_euclid(1000), nanos: 0 };
    let request = pb::ReplayRequest {
        analysis_id: format!("console-{what}-{:016x}", rand::rngs::OsRng.next_u64()),
        from: Some(at(zone.day_start_millis(window.from()))),
        to: Some(at(window.end_millis_exclusive(&zone))),
        axis: match axis {
            TimeAxis::EventTime => pb::TimeAxis::Event,
            TimeAxis::ReportTime => pb::TimeAxis::Report,
        } as i32,
        event_types,
        batch_size: BATCH,
        ..Default::default()
    };
    let mut batches = service.replay(visit.reader().request(request)).await?.into_inner();
    while let Some(batch) = batches.next().await {
        batch?.events.iter().for_each(&mut apply);
    }
    Ok(())
}

#[derive(Template, Default)]
#[template(path = "analysis.html")]
struct AnalysisPage {
    frame: Frame,
    errors: Vec<FieldError>,
    period: PeriodFields,
    borough: String,
    /// Events placed by when they were recorded, not when they happened.
    report_time: bool,
    /// The report, drawn by the analytics crate's templates (escaped there).
    report: Option<String>,
}

impl AnalysisPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

/// The profile form.
pub async fn form(visit: Visit) -> Result<Html<String>, Problem> {
    analysts_only(&visit)?;
    render(&AnalysisPage { frame: visit.frame(), borough: "Harrow".to_string(), ..AnalysisPage::default() })
}

/// The profile form's fields.
#[derive(Deserialize)]
pub struct ProfileForm {
    csrf: String,
    #[serde(flatten)]
    period: PeriodFields,
    #[serde(default)]
    borough: String,
    /// `report` to place events by when they were recorded.
    #[serde(default)]
    axis: String,
}

/// Whether `borough` could be a borough's name.
fn plausible_borough(borough: &str) -> bool {
    borough.chars().count() <= 60 && borough.chars().all(|c| c.is_alphabetic() || " -'.&".contains(c))
}

/// Runs the profile and shows its report.
pub async fn run(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<ProfileForm>,
) -> Result<Html<String>, Problem> {
    visit.check(&form.csrf)?;
    let mut errors = Vec::new();
    let window = form.period.window(&mut errors);
    let borough = form.borough.trim().to_string();
    if !plausible_borough(&borough) {
        errors.push(FieldError { field: "borough", message: "Enter a borough's name, like Harrow, or leave it empty" });
    }
    let report_time = form.axis == "report";
    let mut page =
        AnalysisPage { frame: visit.frame(), period: form.period, borough, report_time, ..AnalysisPage::default() };
    let (Some(window), true) = (window, errors.is_empty()) else {
        page.errors = errors;
        return render(&page);
    };
    let axis = if report_time { TimeAxis::ReportTime } else { TimeAxis::EventTime };
    let config = ProfileConfig {
        window: Some(window),
        time_axis: axis,
        borough: (!page.borough.is_empty()).then(|| page.borough.clone()),
        zone: zone(&state),
    };
    let mut profile = Profile::new(config);
    replay(&state, &visit, "profile", (window, axis), Vec::new(), |event| profile.apply(event)).await?;
    let mut report = profile.report(&Population::default(), &Suppression::domain_practice());
    report.note(
        "Computed in the web console from a pseudonymised replay of this period alone: a missing episode or \
         briefing item is counted from its first event in the period.",
    );
    report.note(
        "Rates per head of population are not available here (n/a): the console has no population file. \
         `concord profile --population` publishes them.",
    );
    let html = concord_analytics::render_fragment(&report).map_err(|e| Problem::Unavailable(e.to_string()))?;
    page.report = Some(html);
    render(&page)
}
