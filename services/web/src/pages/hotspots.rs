//! Hotspots for analysts and community safety: where events of the chosen
//! types happened, ward by ward and place by place, week by week or month
//! by month, from one pseudonymised replay made as the signed-in analyst
//! (see [`super::analysis::replay`]).
//!
//! Every count is published under the analytics crate's small-number rule
//! ([`Suppression::domain_practice`]), and rows are ranked by their
//! published totals, so the order gives away nothing the numbers do not.
//! The heat table shows each number with its colour (never colour alone).
//! Where ward boundaries are configured ([`crate::geo`]), a choropleth map
//! of the wards' totals, drawn on the server as SVG, comes before it; the
//! table stays below it for screen readers. Places are the replay's
//! pseudonyms (stable only within this one page view), with the ward most
//! of their events were in.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form};
use axum::response::Html;
use concord_analytics::profile::REPEAT_LOCATION_MIN;
use concord_analytics::{CellStatus, Suppression, TimeAxis, Window};
use concord_core::pb;
use jiff::ToSpan;
use jiff::civil::Date;

use super::analysis::{PeriodFields, analysts_only, replay, zone};
use super::find::FieldError;
use super::{Frame, State, Visit, render};
use crate::problem::Problem;

/// The event types a hotspot view may count, with their names in the form.
const TYPES: [(&str, &str); 7] = [
    ("arrest", "Arrests"),
    ("stop_and_search", "Stops and searches"),
    ("missing_episode", "Missing episodes"),
    ("exploitation_concern", "Exploitation concerns"),
    ("nrm_referral", "NRM referrals"),
    ("mash_referral", "MASH referrals"),
    ("vve_briefing_item", "VVE briefing items"),
];

/// The types ticked before the reader chooses: the incidents.
const DEFAULT_TYPES: [&str; 4] = ["arrest", "stop_and_search", "missing_episode", "exploitation_concern"];

/// How many places are listed at most.
const MAX_PLACES: usize = 20;

/// Darkest heat level (0: none).
const LEVELS: u64 = 4;

/// The map's width in its view box.
const MAP_WIDTH: f64 = 640.0;

/// Weeks (from Monday) or calendar months.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Week,
    Month,
}

/// One event type's checkbox.
struct TypeBox {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

/// One published count, with its heat level (0 to [`LEVELS`]).
pub struct HeatCell {
    /// As published.
    pub shown: String,
    /// A small count, shown as the rule shows it.
    pub suppressed: bool,
    /// How dark its colour is.
    pub level: u64,
}

/// One row of a heat table: a ward or a place.
pub struct HeatRow {
    /// The ward's name, or the place's pseudonym.
    pub label: String,
    /// A place's ward.
    pub ward: String,
    /// Per period.
    pub cells: Vec<HeatCell>,
    /// Over the whole period.
    pub total: HeatCell,
}

/// One ward on the map.
struct MapWard {
    path: String,
    level: u64,
    title: String,
}

/// The choropleth map.
struct MapView {
    width: f64,
    height: f64,
    wards: Vec<MapWard>,
    /// One line per heat level used: its range of totals.
    key: Vec<(u64, String)>,
    /// Wards with events that the boundaries file does not draw.
    missing: Vec<String>,
}

/// The result: periods' headings and the tables, wards first.
struct Heat {
    periods: Vec<String>,
    wards: Vec<HeatRow>,
    places: Vec<HeatRow>,
    map: Option<MapView>,
    events: u64,
}

#[derive(Template, Default)]
#[template(path = "hotspots.html")]
struct HotspotsPage {
    frame: Frame,
    errors: Vec<FieldError>,
    period: PeriodFields,
    monthly: bool,
    types: Vec<TypeBox>,
    heat: Option<Heat>,
}

impl HotspotsPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }
}

fn boxes(checked: impl Fn(&str) -> bool) -> Vec<TypeBox> {
    TYPES.iter().map(|(value, label)| TypeBox { value, label, checked: checked(value) }).collect()
}

/// The hotspot form.
pub async fn form(visit: Visit) -> Result<Html<String>, Problem> {
    analysts_only(&visit)?;
    render(&HotspotsPage {
        frame: visit.frame(),
        monthly: true,
        types: boxes(|t| DEFAULT_TYPES.contains(&t)),
        ..HotspotsPage::default()
    })
}

/// The first day of each period from the one holding `window`'s first day
/// to the one holding its last.
fn starts(window: Window, step: Step) -> Vec<Date> {
    let first = match step {
        Step::Week => {
            let back = i64::from(window.from().weekday().to_monday_zero_offset());
            window.from().checked_sub(back.days()).unwrap_or(window.from())
        }
        Step::Month => window.from().first_of_month(),
    };
    let mut starts = vec![first];
    while let Some(next) = starts.last().and_then(|s| match step {
        Step::Week => s.checked_add(7.days()).ok(),
        Step::Month => s.checked_add(1.month()).ok(),
    }) && next <= window.to()
    {
        starts.push(next);
    }
    starts
}

/// Counts per row and period.
#[derive(Default)]
struct Tally {
    rows: BTreeMap<String, Vec<u64>>,
}

impl Tally {
    fn add(&mut self, row: &str, period: usize, periods: usize) {
        self.rows.entry(row.to_string()).or_insert_with(|| vec![0; periods])[period] += 1;
    }
}

/// The heat level of a published number against the largest in its table.
fn level(number: f64, max: f64) -> u64 {
    if number <= 0.0 || max <= 0.0 { 0 } else { ((number / max * LEVELS as f64).ceil() as u64).clamp(1, LEVELS) }
}

fn cell(raw: u64, max: f64, rule: &Suppression) -> HeatCell {
    let published = rule.count(raw);
    let number = published.number.unwrap_or(0.0);
    HeatCell {
        shown: published.shown,
        suppressed: published.status == CellStatus::Suppressed,
        level: level(number, max),
    }
}

/// `tally`'s rows as published, ranked by published total (then label).
fn publish(tally: &Tally, rule: &Suppression) -> Vec<HeatRow> {
    let number = |raw: u64| rule.count(raw).number.unwrap_or(0.0);
    let max_cell = tally.rows.values().flatten().map(|n| number(*n)).fold(0.0, f64::max);
    let max_total = tally.rows.values().map(|r| number(r.iter().sum())).fold(0.0, f64::max);
    let mut rows: Vec<(f64, HeatRow)> = tally
        .rows
        .iter()
        .map(|(label, counts)| {
            let total: u64 = counts.iter().sum();
            let row = HeatRow {
                label: label.clone(),
                ward: String::new(),
                cells: counts.iter().map(|n| cell(*n, max_cell, rule)).collect(),
                total: cell(total, max_total, rule),
            };
            (number(total), row)
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.label.cmp(&b.1.label)));
    rows.into_iter().map(|(_, row)| row).collect()
}

/// The map of `wards`' totals: each ward's colour from its published total.
fn map(boundaries: &crate::geo::Wards, wards: &[HeatRow]) -> MapView {
    let drawn = boundaries.map(MAP_WIDTH, 8.0);
    let names: Vec<&str> = boundaries.names().collect();
    let total = |name: &str| wards.iter().find(|w| w.label == name).map(|w| &w.total);
    let described = |name: &str| match total(name) {
        Some(t) if t.suppressed => format!("{name}: {} events (a small number, 1 to 7)", t.shown),
        Some(t) => format!("{name}: {} events", t.shown),
        None => format!("{name}: 0 events"),
    };
    let shapes: Vec<MapWard> = drawn
        .shapes
        .into_iter()
        .map(|s| MapWard { level: total(&s.name).map_or(0, |t| t.level), title: described(&s.name), path: s.path })
        .collect();
    let missing = wards.iter().filter(|w| !names.contains(&w.label.as_str())).map(|w| w.label.clone()).collect();
    // What each shade drawn stands for: the published totals of its wards.
    let mut key = Vec::new();
    if shapes.iter().any(|s: &MapWard| s.level == 0) {
        key.push((0, "No events".to_string()));
    }
    for l in 1..=LEVELS {
        let at: Vec<&HeatCell> = wards
            .iter()
            .filter(|w| names.contains(&w.label.as_str()))
            .map(|w| &w.total)
            .filter(|t| t.level == l)
            .collect();
        let shown: Vec<u64> = at.iter().filter_map(|t| t.shown.parse().ok()).collect();
        let (Some(low), Some(high)) = (shown.iter().min(), shown.iter().max()) else { continue };
        let words = if low == high { format!("{high} events") } else { format!("{low} to {high} events") };
        let small = at.iter().any(|t| t.suppressed);
        key.push((l, if small { format!("{words} (5 stands for 1 to 7)") } else { words }));
    }
    MapView { width: drawn.width, height: drawn.height, wards: shapes, key, missing }
}

/// Runs the replay and shows the hotspots.
pub async fn show(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Html<String>, Problem> {
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    visit.check(&field("csrf"))?;
    let period = PeriodFields {
        from_day: field("from_day"),
        from_month: field("from_month"),
        from_year: field("from_year"),
        to_day: field("to_day"),
        to_month: field("to_month"),
        to_year: field("to_year"),
    };
    let chosen: Vec<String> = fields
        .iter()
        .filter(|(k, v)| k == "type" && TYPES.iter().any(|(t, _)| t == v))
        .map(|(_, v)| v.clone())
        .collect();
    let step = if field("by") == "week" { Step::Week } else { Step::Month };
    let mut errors = Vec::new();
    let window = period.window(&mut errors);
    if chosen.is_empty() {
        errors.push(FieldError { field: "type-arrest", message: "Choose at least one kind of event" });
    }
    let mut page = HotspotsPage {
        frame: visit.frame(),
        period,
        monthly: step == Step::Month,
        types: boxes(|t| chosen.iter().any(|c| c == t)),
        ..HotspotsPage::default()
    };
    let (Some(window), true) = (window, errors.is_empty()) else {
        page.errors = errors;
        return render(&page);
    };

    let starts = starts(window, step);
    let zone = zone(&state);
    let (mut wards, mut places) = (Tally::default(), Tally::default());
    let mut place_wards: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut events = 0;
    replay(&state, &visit, "hotspots", (window, TimeAxis::EventTime), chosen, |event| {
        let Some(at) = event.occurred_at.as_ref().map(concord_core::millis) else { return };
        let day = zone.date_of(at);
        if !window.contains(day) {
            return;
        }
        let period = starts.partition_point(|s| *s <= day).saturating_sub(1);
        let ward = match event.ward.trim() {
            "" => "(not recorded)",
            ward => ward,
        };
        events += 1;
        wards.add(ward, period, starts.len());
        for place in event.subjects.iter().filter(|s| s.kind == pb::SubjectKind::Place as i32) {
            places.add(&place.key, period, starts.len());
            *place_wards.entry(place.key.clone()).or_default().entry(ward.to_string()).or_default() += 1;
        }
    })
    .await?;

    let rule = Suppression::domain_practice();
    places.rows.retain(|_, counts| counts.iter().sum::<u64>() >= REPEAT_LOCATION_MIN);
    let mut place_rows = publish(&places, &rule);
    place_rows.truncate(MAX_PLACES);
    for row in &mut place_rows {
        let most = place_wards.get(&row.label).and_then(|w| w.iter().max_by_key(|(_, n)| **n));
        row.ward = most.map(|(w, _)| w.clone()).unwrap_or_default();
    }
    let ward_rows = publish(&wards, &rule);
    let label = |s: &Date| match step {
        Step::Week => s.strftime("%-d %b %Y").to_string(),
        Step::Month => s.strftime("%b %Y").to_string(),
    };
    page.heat = Some(Heat {
        periods: starts.iter().map(label).collect(),
        map: state.wards.as_ref().map(|b| map(b, &ward_rows)),
        wards: ward_rows,
        places: place_rows,
        events,
    });
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn periods_start_on_mondays_or_the_first_of_the_month() {
        let window = Window::new(date(2026, 1, 7), date(2026, 2, 2)).unwrap();
        let weeks = starts(window, Step::Week);
        assert_eq!(
            weeks,
            [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19), date(2026, 1, 26), date(2026, 2, 2)]
        );
        assert_eq!(starts(window, Step::Month), [date(2026, 1, 1), date(2026, 2, 1)]);
    }

    #[test]
    fn rows_are_published_and_ranked_by_their_published_totals() {
        let mut tally = Tally::default();
        for _ in 0..12 {
            tally.add("Wealdstone", 0, 2);
        }
        for _ in 0..3 {
            tally.add("Greenhill", 1, 2);
        }
        tally.add("Canons", 1, 2);
        let rows = publish(&tally, &Suppression::domain_practice());
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        // Greenhill's 3 and Canons' 1 are both published as 5: ranked by name.
        assert_eq!(labels, ["Wealdstone", "Canons", "Greenhill"]);
        assert_eq!(rows[0].total.shown, "10");
        assert_eq!((rows[2].total.shown.as_str(), rows[2].total.suppressed), ("5", true));
        assert!(rows.iter().all(|r| r.cells.iter().all(|c| c.shown != "3" && c.shown != "1")));
        assert_eq!((rows[0].total.level, rows[2].total.level, rows[0].cells[1].level), (4, 2, 0));
    }

    #[test]
    fn the_map_shades_each_ward_by_its_published_total_and_keys_the_shades() {
        let square = |name: &str, west: f64| {
            format!(
                r#"{{"type": "Feature", "properties": {{"name": "{name}"}}, "geometry": {{"type": "Polygon",
                "coordinates": [[[{west}, 51.0], [{east}, 51.0], [{east}, 51.1], [{west}, 51.0]]]}}}}"#,
                east = west + 0.1
            )
        };
        let file = format!(
            r#"{{"type": "FeatureCollection", "features": [{}, {}]}}"#,
            square("North", 0.0),
            square("South", 0.1)
        );
        let boundaries = crate::geo::Wards::parse(&file).unwrap();
        let mut tally = Tally::default();
        for _ in 0..12 {
            tally.add("North", 0, 1);
        }
        tally.add("Elsewhere", 0, 1);
        let map = map(&boundaries, &publish(&tally, &Suppression::domain_practice()));
        let shaded: Vec<(u64, &str)> = map.wards.iter().map(|w| (w.level, w.title.as_str())).collect();
        assert_eq!(shaded, [(4, "North: 10 events"), (0, "South: 0 events")]);
        assert_eq!(map.key, [(0, "No events".to_string()), (4, "10 events".to_string())]);
        assert_eq!(map.missing, ["Elsewhere"]);
    }
}
