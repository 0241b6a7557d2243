//! A [`Report`] as one self-contained HTML page, for an analyst or a board
//! member to read: [`render_html`].
//!
//! The page has inline CSS and inline SVG charts drawn here by hand; no
//! JavaScript, no fonts, images or style sheets fetched from anywhere, so it
//! works offline and can be mailed or archived as one file. It holds:
//!
//! - a header: the report's title and area, the small-number rule in force
//!   (with a warning banner when the report is ground truth, not for
//!   publication), and the report's notes;
//! - a contents list linking to each table;
//! - for each table: its title, definition (id, version and text), window and
//!   time axis, a chart where one makes sense, the table itself and a legend
//!   of the cell markers it uses;
//! - a "Definitions" section with every definition used and the rule.
//!
//! The page shows only what each [`Cell`] publishes (its `shown` text, and its
//! `number` for charts). A suppressed cell is shown as published and marked
//! `*`; in a chart it is a hatched bar spanning the range the rule says the
//! count lies in (e.g. 1 to 7), never a bar at a value, and withheld or
//! not-applicable rates have no bar. All text from the report is escaped.
//!
//! Charts: a table is charted when it has at least two rows, its rows are
//! categories of one dimension (not a list of different measures) and it has
//! a count or rate column. The charted column is the first rate column with a
//! published number (e.g. outcomes per 1,000 by ethnic group), else the first
//! count column. Months are drawn as a column chart in calendar order; any
//! other dimension as a horizontal bar chart in table order. At most 30 bars
//! are drawn: beyond that, the latest 30 months; or, for categories whose
//! charted values are all exact counts, the 29 largest and one "Other" bar;
//! otherwise the first 30 rows. The chart says which.

use std::fmt::Write as _;

use crate::definitions::PublishedDefinition;
use crate::report::{Cell, CellKind, CellStatus, Report, Table};
use crate::suppression::Suppression;
use crate::window::TimeAxis;

/// The most bars a chart draws.
const MAX_BARS: usize = 30;

/// The marker after a suppressed cell's published value.
const SUPPRESSED_MARK: &str = "*";

/// The report as one self-contained HTML5 page (inline CSS and SVG, no
/// JavaScript, no external resources). See the [module documentation](self)
/// for what the page holds.
pub fn render_html(report: &Report) -> String {
    let ground_truth = is_ground_truth(report);
    let mut out = String::with_capacity(16 * 1024);
    // Writing to a String cannot fail, so the fmt::Results below are ignored.
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}{} \u{2014} {}</title>\n\
         <style>\n{CSS}</style>\n</head>\n<body>\n",
        if ground_truth { "GROUND TRUTH, NOT FOR PUBLICATION: " } else { "" },
        escape(&report.title),
        escape(&report.area),
    );
    write_header(&mut out, report, ground_truth);
    write_contents(&mut out, report);
    out.push_str("<main>\n");
    for (index, table) in report.tables.iter().enumerate() {
        write_table_section(&mut out, report, index, table);
    }
    write_definitions(&mut out, report);
    out.push_str("</main>\n");
    if ground_truth {
        out.push_str("<footer>\n");
        out.push_str(GROUND_TRUTH_BANNER);
        out.push_str("</footer>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// `text` with the characters special in HTML (and in quoted attribute
/// values) replaced by entities.
fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// Whether the report is ground truth (no suppression): either flag says so.
fn is_ground_truth(report: &Report) -> bool {
    report.suppression.ground_truth_only || matches!(report.suppression.rule, Suppression::None)
}

const GROUND_TRUTH_BANNER: &str = "<div class=\"banner ground-truth\"><strong>Ground truth only \u{2014} NOT FOR \
     PUBLICATION.</strong> No small-number suppression was applied: every count is exact and small numbers may \
     identify children. Use this page only to compare figures with the simulator; do not publish, circulate or \
     share it.</div>\n";

const CSS: &str = "\
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, \"Segoe UI\", Roboto, Helvetica, Arial, sans-serif; color: #1b1b1b;
  background: #fff; margin: 0 auto; max-width: 62rem; padding: 1rem 1.5rem 3rem; line-height: 1.45; }
h1 { font-size: 1.9rem; margin: 0.2rem 0 0.6rem; }
h2 { font-size: 1.35rem; margin: 2.2rem 0 0.5rem; border-bottom: 2px solid #d5dde5; padding-bottom: 0.2rem; }
h3 { font-size: 1.1rem; margin: 1.5rem 0 0.4rem; }
a { color: #1d4f91; }
.kicker { text-transform: uppercase; letter-spacing: 0.06em; font-size: 0.8rem; color: #555; margin: 0; }
.banner { border: 3px solid #a4000f; background: #fde8ea; color: #5c0008; padding: 0.8rem 1rem; margin: 1rem 0;
  font-size: 1.05rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0.6rem 0; }
dl.meta dt { font-weight: 600; color: #333; }
dl.meta dd { margin: 0; }
.notes { background: #f6f8fa; border-left: 4px solid #8aa4c1; padding: 0.4rem 1rem; margin: 1rem 0; }
.notes h2 { border: 0; margin: 0.4rem 0; font-size: 1.1rem; }
nav ol { columns: 2; column-gap: 2rem; padding-left: 1.4rem; }
.definition { font-size: 0.92rem; color: #333; }
.defid { font-weight: normal; color: #555; font-size: 0.9rem; }
figure.chart { margin: 1rem 0; }
figure.chart svg { width: 100%; height: auto; max-width: 48rem; display: block; }
figcaption { font-size: 0.88rem; color: #444; }
figcaption p { margin: 0.2rem 0; }
.no-chart { font-size: 0.9rem; color: #555; font-style: italic; }
svg text { font-family: inherit; fill: #1b1b1b; }
svg .tick, svg .axis-title { fill: #444; }
svg .grid { stroke: #e2e6ea; stroke-width: 1; }
svg .axis { stroke: #555; stroke-width: 1; }
svg .bar { fill: #2f6690; }
svg .bar-suppressed { stroke: #9a4a00; stroke-width: 1; stroke-dasharray: 3 2; }
svg .value-missing { fill: #666; font-style: italic; }
table { border-collapse: collapse; margin: 0.8rem 0; min-width: 50%; font-size: 0.95rem; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { border-bottom: 1px solid #d5dde5; padding: 0.3rem 0.7rem; vertical-align: top; }
thead th { border-bottom: 2px solid #8aa4c1; text-align: left; }
th[scope=row] { text-align: left; font-weight: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.suppressed { background: repeating-linear-gradient(45deg, #fff4e5, #fff4e5 4px, #fde3c0 4px, #fde3c0 8px); }
td.withheld, td.na { color: #555; font-style: italic; }
.mark { color: #9a4a00; font-weight: 700; }
.legend { font-size: 0.88rem; color: #333; margin: 0.3rem 0 0; padding-left: 1.2rem; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.back { font-size: 0.85rem; }
dl.definitions dt { font-weight: 600; margin-top: 0.9rem; }
dl.definitions dd { margin: 0.2rem 0 0 1rem; }
footer { margin-top: 2rem; }
@media print { body { max-width: none; } section.figure { break-inside: avoid-page; } nav, .back { display: none; } }
";

fn write_header(out: &mut String, report: &Report, ground_truth: bool) {
    out.push_str("<header>\n");
    if ground_truth {
        out.push_str(GROUND_TRUTH_BANNER);
    }
    let _ = write!(
        out,
        "<p class=\"kicker\">Concord analytics report</p>\n<h1>{}</h1>\n<dl class=\"meta\">\n\
         <dt>Area</dt><dd>{}</dd>\n<dt>Small-number rule</dt><dd>{} <a href=\"#rule\">(rule in full)</a></dd>\n\
         <dt>Tables</dt><dd>{}</dd>\n</dl>\n",
        escape(&report.title),
        escape(&report.area),
        escape(&report.suppression.description),
        report.tables.len(),
    );
    if !report.notes.is_empty() {
        out.push_str("<section class=\"notes\" aria-labelledby=\"notes\">\n<h2 id=\"notes\">Notes</h2>\n<ul>\n");
        for note in &report.notes {
            let _ = writeln!(out, "<li>{}</li>", escape(note));
        }
        out.push_str("</ul>\n</section>\n");
    }
    out.push_str("</header>\n");
}

fn write_contents(out: &mut String, report: &Report) {
    out.push_str("<nav id=\"contents\" aria-labelledby=\"contents-h\">\n<h2 id=\"contents-h\">Contents</h2>\n<ol>\n");
    for (index, table) in report.tables.iter().enumerate() {
        let _ = writeln!(out, "<li><a href=\"#{}\">{}</a></li>", table_anchor(index, table), escape(&table.title));
    }
    out.push_str("<li><a href=\"#definitions\">Definitions and the small-number rule</a></li>\n</ol>\n</nav>\n");
}

/// A fragment id: `id` with anything but ASCII letters, digits, `-` and `_`
/// replaced by `-`.
fn slug(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// The fragment id of the `index`th table (unique even if two tables share an id).
fn table_anchor(index: usize, table: &Table) -> String {
    format!("t{}-{}", index + 1, slug(&table.id))
}

/// The fragment id of a definition in the Definitions section.
fn definition_anchor(id: &str, version: u32) -> String {
    format!("def-{}-v{version}", slug(id))
}

/// The definition a table follows: from the report's own list, else from the
/// crate's table of definitions.
fn definition_of(report: &Report, table: &Table) -> Option<PublishedDefinition> {
    let d = &table.definition;
    report
        .definitions
        .iter()
        .find(|p| p.id == d.id && p.version == d.version)
        .cloned()
        .or_else(|| d.lookup().map(PublishedDefinition::from))
}

/// Every definition the report uses: its own list, then any a table follows
/// that the list lacks.
fn definitions_used(report: &Report) -> Vec<PublishedDefinition> {
    let mut all = report.definitions.clone();
    for table in &report.tables {
        let d = &table.definition;
        if !all.iter().any(|p| p.id == d.id && p.version == d.version) {
            all.push(definition_of(report, table).unwrap_or_else(|| PublishedDefinition {
                id: d.id.clone(),
                version: d.version,
                title: table.title.clone(),
                text: "(The text of this definition is not included in the report.)".to_string(),
            }));
        }
    }
    all
}

fn time_axis_text(axis: TimeAxis) -> &'static str {
    match axis {
        TimeAxis::EventTime => "event time: events are placed by when they happened (occurred_at)",
        TimeAxis::ReportTime => "report time: events are placed by when the agency recorded them (recorded_at)",
    }
}

fn write_table_section(out: &mut String, report: &Report, index: usize, table: &Table) {
    let anchor = table_anchor(index, table);
    let d = &table.definition;
    let _ = write!(
        out,
        "<section class=\"figure\" id=\"{anchor}\" aria-labelledby=\"{anchor}-h\">\n<h2 id=\"{anchor}-h\">{}</h2>\n\
         <dl class=\"meta\">\n<dt>Definition</dt><dd><a href=\"#{}\">{}, version {}</a></dd>\n",
        escape(&table.title),
        definition_anchor(&d.id, d.version),
        escape(&d.id),
        d.version,
    );
    let window = match table.window {
        Some(w) => format!("{} to {} (whole days, inclusive, UTC)", w.from(), w.to()),
        None => "no window: every event replayed".to_string(),
    };
    let _ = write!(
        out,
        "<dt>Window</dt><dd>{}</dd>\n<dt>Time axis</dt><dd>{}</dd>\n</dl>\n",
        escape(&window),
        time_axis_text(table.time_axis),
    );
    match definition_of(report, table) {
        Some(p) => {
            let _ = writeln!(out, "<p class=\"definition\">{}</p>", escape(&p.text));
        }
        None => {
            out.push_str("<p class=\"definition\">The text of this definition is not included in the report.</p>\n")
        }
    }

    let rule = &report.suppression.rule;
    match plan_chart(table, rule) {
        Ok(chart) => write_chart(out, &anchor, table, &chart, rule),
        Err(reason) => {
            let _ = writeln!(out, "<p class=\"no-chart\">Not charted: {reason}</p>");
        }
    }
    write_data_table(out, table);
    write_legend(out, table, rule);
    out.push_str("<p class=\"back\"><a href=\"#contents\">Back to contents</a></p>\n</section>\n");
}

fn status_class(status: CellStatus) -> &'static str {
    match status {
        CellStatus::Exact => "exact",
        CellStatus::Rounded => "rounded",
        CellStatus::Suppressed => "suppressed",
        CellStatus::Withheld => "withheld",
        CellStatus::NotApplicable => "na",
    }
}

/// The range a suppressed count lies in under `rule`, if the rule suppresses.
fn small_range(rule: &Suppression) -> Option<(u64, u64)> {
    match *rule {
        Suppression::RoundToBase { small_max, .. } if small_max >= 1 => Some((1, small_max)),
        _ => None,
    }
}

/// What a status means, in words, under `rule` (for titles and tooltips).
fn status_words(status: CellStatus, rule: &Suppression) -> String {
    match status {
        CellStatus::Exact => "exact".to_string(),
        CellStatus::Rounded => match *rule {
            Suppression::RoundToBase { base, .. } => format!("rounded to the nearest {base}"),
            _ => "rounded".to_string(),
        },
        CellStatus::Suppressed => match small_range(rule) {
            Some((lo, hi)) => format!("suppressed: a small count from {lo} to {hi}; the true count is not published"),
            None => "suppressed: a small count; the true count is not published".to_string(),
        },
        CellStatus::Withheld => "withheld: publishing this rate would reveal a small count".to_string(),
        CellStatus::NotApplicable => "not applicable: the rate is undefined".to_string(),
    }
}

fn write_data_table(out: &mut String, table: &Table) {
    let _ = write!(
        out,
        "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th>",
        escape(&table.title),
        escape(&capitalise(&table.dimension)),
    );
    for column in &table.columns {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(column));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    if table.rows.is_empty() {
        let _ = writeln!(out, "<tr><td colspan=\"{}\">No rows.</td></tr>", table.columns.len() + 1);
    }
    for row in &table.rows {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(&row.label));
        for i in 0..table.columns.len().max(row.cells.len()) {
            match row.cells.get(i) {
                Some(cell) => out.push_str(&cell_html(cell)),
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// A table cell: the published text, with the status as a class, and a
/// visible marker (and words for screen readers) when suppressed.
fn cell_html(cell: &Cell) -> String {
    let class = status_class(cell.status);
    match cell.status {
        CellStatus::Suppressed => format!(
            "<td class=\"num {class}\">{}<span class=\"mark\" aria-hidden=\"true\">{SUPPRESSED_MARK}</span>\
             <span class=\"sr-only\"> (suppressed small count)</span></td>",
            escape(&cell.shown)
        ),
        _ => format!("<td class=\"num {class}\">{}</td>", escape(&cell.shown)),
    }
}

fn write_legend(out: &mut String, table: &Table, rule: &Suppression) {
    let has = |status: CellStatus| table.rows.iter().flat_map(|r| &r.cells).any(|c| c.status == status);
    let mut items = Vec::new();
    if has(CellStatus::Suppressed) {
        let range = match small_range(rule) {
            Some((lo, hi)) => format!("a count from {lo} to {hi}"),
            None => "a small count".to_string(),
        };
        items.push(format!(
            "<span class=\"mark\">{SUPPRESSED_MARK}</span> Suppressed: {range}, shown as the rule publishes it \
             (the true count is not published)."
        ));
    }
    if has(CellStatus::Rounded) {
        items.push(format!("Counts that are not small are {} (the rule).", status_words(CellStatus::Rounded, rule)));
    }
    if has(CellStatus::Withheld) {
        items.push("withheld: a rate not published because it would reveal a small count.".to_string());
    }
    if has(CellStatus::NotApplicable) {
        items.push("n/a: not applicable; the rate is undefined (a zero denominator or no population).".to_string());
    }
    if has_kind(table, CellKind::Population) {
        items.push("Population figures come from the population file and are published as they are.".to_string());
    }
    if items.is_empty() {
        return;
    }
    out.push_str("<ul class=\"legend\" aria-label=\"Key to the table\">\n");
    for item in items {
        let _ = writeln!(out, "<li>{item}</li>");
    }
    out.push_str("</ul>\n");
}

fn has_kind(table: &Table, kind: CellKind) -> bool {
    table.rows.iter().flat_map(|r| &r.cells).any(|c| c.kind == kind)
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn write_definitions(out: &mut String, report: &Report) {
    out.push_str(
        "<section id=\"definitions\" aria-labelledby=\"definitions-h\">\n<h2 id=\"definitions-h\">Definitions</h2>\n\
         <dl class=\"definitions\">\n",
    );
    for d in definitions_used(report) {
        let _ = write!(
            out,
            "<dt id=\"{}\">{} <span class=\"defid\">({}, version {})</span></dt>\n<dd>{}</dd>\n",
            definition_anchor(&d.id, d.version),
            escape(&d.title),
            escape(&d.id),
            d.version,
            escape(&d.text),
        );
    }
    out.push_str("</dl>\n");
    let rule_name = match report.suppression.rule {
        Suppression::RoundToBase { small_max, small_shown_as, base } => {
            format!("round to base (counts 1-{small_max} shown as {small_shown_as}; others to the nearest {base})")
        }
        Suppression::None => "none (ground truth)".to_string(),
    };
    let _ = write!(
        out,
        "<h3 id=\"rule\">The small-number rule</h3>\n<p><strong>Rule:</strong> {}.</p>\n<p>{}</p>\n\
         <p>Every count and rate in this page is shown as published under this rule; a suppressed or withheld cell \
         carries no raw value, here or in the charts.</p>\n",
        escape(&rule_name),
        escape(&report.suppression.description),
    );
    out.push_str("</section>\n");
}

// ---------------------------------------------------------------------------
// Charts

/// How one bar is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    /// A bar at a published value (0 or more).
    Value(f64),
    /// A suppressed count: a hatched bar spanning 0 to the largest value the
    /// count may have under the rule (`None`: the rule gives no range, no bar).
    Suppressed(Option<f64>),
    /// No bar: a withheld or undefined rate, or no published number.
    Missing,
}

/// One bar of a chart.
#[derive(Debug, Clone)]
struct Bar {
    label: String,
    /// The published text (the value label).
    shown: String,
    status: CellStatus,
    mark: Mark,
}

/// What to draw for one table.
#[derive(Debug, Clone)]
struct Chart {
    /// The charted column's heading.
    measure: String,
    /// Months: a column chart in calendar order.
    time_series: bool,
    /// Whether the charted column holds counts (whole-number ticks).
    counts: bool,
    bars: Vec<Bar>,
    /// Sentences shown under the chart (what was left out, and why).
    notes: Vec<String>,
}

/// `YYYY-MM` as (year, month), if the label is one.
fn month_key(label: &str) -> Option<(i32, u8)> {
    let (year, month) = label.trim().split_once('-')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let month: u8 = month.parse().ok()?;
    (1..=12).contains(&month).then_some((year, month))
}

/// The kind of column `index`: that of its first cell.
fn column_kind(table: &Table, index: usize) -> Option<CellKind> {
    table.rows.iter().find_map(|r| r.cells.get(index)).map(|c| c.kind)
}

/// The column to chart: the first rate column with a published number, else
/// the first count column.
fn chart_column(table: &Table) -> Option<usize> {
    let columns = 0..table.columns.len();
    let has_number =
        |i: usize| table.rows.iter().any(|r| r.cells.get(i).and_then(|c| c.number).is_some_and(f64::is_finite));
    columns
        .clone()
        .find(|&i| column_kind(table, i) == Some(CellKind::Rate) && has_number(i))
        .or_else(|| columns.clone().find(|&i| column_kind(table, i) == Some(CellKind::Count)))
}

/// The chart for a table, or why there is none.
fn plan_chart(table: &Table, rule: &Suppression) -> Result<Chart, &'static str> {
    if table.rows.len() < 2 {
        return Err("the table has fewer than two rows.");
    }
    if table.dimension.trim().eq_ignore_ascii_case("measure") {
        return Err("the rows are different measures, not categories of one dimension.");
    }
    let column = chart_column(table).ok_or("the table has no count or rate column.")?;
    let counts = column_kind(table, column) == Some(CellKind::Count);
    let measure = table.columns.get(column).cloned().unwrap_or_default();
    let upper = small_range(rule).map(|(_, hi)| hi as f64);

    let mut bars: Vec<Bar> = table
        .rows
        .iter()
        .map(|row| {
            let Some(cell) = row.cells.get(column) else {
                return Bar {
                    label: row.label.clone(),
                    shown: String::new(),
                    status: CellStatus::NotApplicable,
                    mark: Mark::Missing,
                };
            };
            let mark = match cell.status {
                // The published number of a suppressed count (e.g. 5 for 1-7)
                // is not a value to draw a bar at.
                CellStatus::Suppressed => Mark::Suppressed(upper),
                CellStatus::Withheld | CellStatus::NotApplicable => Mark::Missing,
                CellStatus::Exact | CellStatus::Rounded => match cell.number {
                    Some(v) if v.is_finite() => Mark::Value(v.max(0.0)),
                    _ => Mark::Missing,
                },
            };
            Bar { label: row.label.clone(), shown: cell.shown.clone(), status: cell.status, mark }
        })
        .collect();

    let time_series = table.dimension.trim().eq_ignore_ascii_case("month")
        || table.rows.iter().all(|r| month_key(&r.label).is_some());
    if time_series {
        // Calendar order; labels that are not months keep their order, last.
        bars.sort_by_key(|b| month_key(&b.label).map_or((1, 0, 0), |(y, m)| (0, y, m)));
    }

    let mut notes = Vec::new();
    let total = bars.len();
    if total > MAX_BARS {
        if time_series {
            bars = bars.split_off(total - MAX_BARS);
            notes.push(format!("The chart shows the latest {MAX_BARS} of {total} months; the table has every month."));
        } else if counts && bars.iter().all(|b| b.status == CellStatus::Exact && matches!(b.mark, Mark::Value(_))) {
            let value = |b: &Bar| if let Mark::Value(v) = b.mark { v } else { 0.0 };
            bars.sort_by(|a, b| value(b).total_cmp(&value(a)));
            let rest = bars.split_off(MAX_BARS - 1);
            let sum: f64 = rest.iter().map(value).sum();
            let shown = if sum.fract() == 0.0 { format!("{sum:.0}") } else { sum.to_string() };
            notes.push(format!(
                "The chart shows the {} largest of {total} rows; the other {} are added together as \u{201c}Other\u{201d}. \
                 The table has every row.",
                MAX_BARS - 1,
                rest.len()
            ));
            bars.push(Bar {
                label: format!("Other ({} rows)", rest.len()),
                shown,
                status: CellStatus::Exact,
                mark: Mark::Value(sum),
            });
        } else {
            bars.truncate(MAX_BARS);
            notes.push(format!(
                "The chart shows the first {MAX_BARS} of {total} rows only: the values are suppressed, rounded or \
                 rates, so the rest are not added together. The table has every row."
            ));
        }
    }

    if bars.iter().any(|b| matches!(b.mark, Mark::Suppressed(Some(_)))) {
        let (lo, hi) = small_range(rule).unwrap_or((1, 1));
        notes.push(format!(
            "Hatched bars ({SUPPRESSED_MARK}) are suppressed small counts: each spans the range the count lies in \
             ({lo} to {hi}), it is not a value."
        ));
    }
    if bars.iter().any(|b| matches!(b.mark, Mark::Suppressed(None))) {
        notes.push(format!("Suppressed counts ({SUPPRESSED_MARK}) have no bar."));
    }
    if bars.iter().any(|b| b.mark == Mark::Missing) {
        notes.push("Withheld and not-applicable values have no bar.".to_string());
    }
    if bars.iter().all(|b| matches!(b.mark, Mark::Value(v) if v == 0.0)) {
        notes.push("Every charted value is 0.".to_string());
    }
    Ok(Chart { measure, time_series, counts, bars, notes })
}

/// The largest value the axis must reach.
fn chart_max(chart: &Chart) -> f64 {
    chart
        .bars
        .iter()
        .map(|b| match b.mark {
            Mark::Value(v) | Mark::Suppressed(Some(v)) => v,
            Mark::Suppressed(None) | Mark::Missing => 0.0,
        })
        .fold(0.0, f64::max)
}

/// A round tick step and the axis top (a multiple of the step at or above
/// `max`); an axis of 0 to 1 when everything is 0.
fn axis(max: f64, counts: bool) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalised = raw / magnitude;
    let nice = [1.0, 2.0, 5.0, 10.0].into_iter().find(|&n| n >= normalised - 1e-9).unwrap_or(10.0);
    let mut step = nice * magnitude;
    if counts {
        step = step.max(1.0);
    }
    let top = (max / step - 1e-9).ceil().max(1.0) * step;
    (step, top)
}

/// The ticks 0, step, ... top.
fn ticks(step: f64, top: f64) -> Vec<f64> {
    let n = (top / step).round().clamp(1.0, 20.0) as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

fn tick_text(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10()).ceil().clamp(0.0, 6.0) as usize };
    format!("{value:.decimals$}")
}

/// `label` cut to `max` characters, with an ellipsis when cut.
fn truncate(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        return label.to_string();
    }
    let mut cut: String = label.chars().take(max.saturating_sub(1)).collect();
    cut.push('\u{2026}');
    cut
}

/// The value label of a bar: the published text, marked when suppressed.
fn value_label(bar: &Bar) -> String {
    if bar.status == CellStatus::Suppressed { format!("{}{SUPPRESSED_MARK}", bar.shown) } else { bar.shown.clone() }
}

/// The tooltip of a bar: label, published value and what it means.
fn bar_title(bar: &Bar, rule: &Suppression) -> String {
    let shown = if bar.shown.is_empty() { "no value" } else { bar.shown.as_str() };
    match bar.status {
        CellStatus::Exact => format!("{}: {shown}", bar.label),
        status => format!("{}: {shown} ({})", bar.label, status_words(status, rule)),
    }
}

fn write_chart(out: &mut String, anchor: &str, table: &Table, chart: &Chart, rule: &Suppression) {
    let id = format!("{anchor}-chart");
    let kind = if chart.time_series { "Column chart" } else { "Horizontal bar chart" };
    let title = format!("{}: {} by {}", table.title, chart.measure, table.dimension);
    let desc = format!(
        "{kind} of {} by {}, {} bar{}, drawn from the published values in the table below.",
        chart.measure,
        table.dimension,
        chart.bars.len(),
        if chart.bars.len() == 1 { "" } else { "s" }
    );
    out.push_str("<figure class=\"chart\">\n");
    if chart.time_series {
        write_column_chart(out, &id, &title, &desc, table, chart, rule);
    } else {
        write_bar_chart(out, &id, &title, &desc, table, chart, rule);
    }
    if !chart.notes.is_empty() {
        out.push_str("<figcaption>");
        for note in &chart.notes {
            let _ = write!(out, "<p>{}</p>", escape(note));
        }
        out.push_str("</figcaption>\n");
    }
    out.push_str("</figure>\n");
}

/// The opening of a chart's `<svg>`: title, description and hatch pattern.
fn svg_open(out: &mut String, id: &str, title: &str, desc: &str, width: f64, height: f64) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" \
         aria-labelledby=\"{id}-title {id}-desc\">\n<title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n\
         <defs><pattern id=\"{id}-hatch\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff4e5\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#c26a00\" stroke-width=\"2.5\"/></pattern></defs>\n",
        escape(title),
        escape(desc),
    );
}

fn write_bar_chart(
    out: &mut String,
    id: &str,
    title: &str,
    desc: &str,
    table: &Table,
    chart: &Chart,
    rule: &Suppression,
) {
    let (width, left, right, top, row_h, bar_h) = (760.0, 230.0, 110.0, 34.0, 24.0, 16.0);
    let plot_w: f64 = width - left - right;
    let plot_h = chart.bars.len() as f64 * row_h;
    let height = top + plot_h + 52.0;
    let (step, axis_top) = axis(chart_max(chart), chart.counts);
    let x = |v: f64| left + v / axis_top * plot_w;

    svg_open(out, id, title, desc, width, height);
    let _ = writeln!(
        out,
        "<text class=\"axis-title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"12\" font-weight=\"600\">{}</text>",
        left - 8.0,
        top - 14.0,
        escape(&capitalise(&table.dimension)),
    );
    for t in ticks(step, axis_top) {
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\"/>\
             <text class=\"tick\" x=\"{0:.1}\" y=\"{3:.1}\" text-anchor=\"middle\" font-size=\"11\">{4}</text>",
            x(t),
            top,
            top + plot_h,
            top + plot_h + 16.0,
            tick_text(t, step),
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{left:.1}\" y1=\"{top:.1}\" x2=\"{left:.1}\" y2=\"{:.1}\"/>\n\
         <line class=\"axis\" x1=\"{left:.1}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\"/>\n\
         <text class=\"axis-title\" x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"middle\" font-size=\"12\">{4}</text>",
        top + plot_h,
        left + plot_w,
        left + plot_w / 2.0,
        height - 10.0,
        escape(&chart.measure),
    );
    for (i, bar) in chart.bars.iter().enumerate() {
        let y = top + i as f64 * row_h + (row_h - bar_h) / 2.0;
        let mid = y + bar_h / 2.0;
        let _ = write!(
            out,
            "<g class=\"item {}\"><title>{}</title><text class=\"label\" x=\"{:.1}\" y=\"{mid:.1}\" dy=\"0.35em\" \
             text-anchor=\"end\" font-size=\"12\">{}</text>",
            status_class(bar.status),
            escape(&bar_title(bar, rule)),
            left - 8.0,
            escape(&truncate(&bar.label, 32)),
        );
        let end = match bar.mark {
            Mark::Value(v) => {
                let w = if v > 0.0 { (x(v) - left).max(1.0) } else { 0.0 };
                if w > 0.0 {
                    let _ = write!(
                        out,
                        "<rect class=\"bar\" x=\"{left:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h:.1}\"/>"
                    );
                }
                left + w
            }
            Mark::Suppressed(Some(v)) => {
                let w = (x(v) - left).max(1.0);
                let _ = write!(
                    out,
                    "<rect class=\"bar-suppressed\" x=\"{left:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h:.1}\" \
                     fill=\"url(#{id}-hatch)\"/>"
                );
                left + w
            }
            Mark::Suppressed(None) | Mark::Missing => left,
        };
        let missing = matches!(bar.mark, Mark::Missing | Mark::Suppressed(None));
        let _ = writeln!(
            out,
            "<text class=\"value{}\" x=\"{:.1}\" y=\"{mid:.1}\" dy=\"0.35em\" font-size=\"12\">{}</text></g>",
            if missing { " value-missing" } else { "" },
            end + 6.0,
            escape(&value_label(bar)),
        );
    }
    out.push_str("</svg>\n");
}

fn write_column_chart(
    out: &mut String,
    id: &str,
    title: &str,
    desc: &str,
    table: &Table,
    chart: &Chart,
    rule: &Suppression,
) {
    // Month labels are turned when there are too many to sit side by side.
    let rotate = chart.bars.len() > 12;
    let (width, left, right, top, plot_h) = (760.0, 64.0, 16.0, 30.0, 220.0);
    let bottom = if rotate { 84.0 } else { 52.0 };
    let plot_w: f64 = width - left - right;
    let height = top + plot_h + bottom;
    let n = chart.bars.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.7).min(48.0);
    let (step, axis_top) = axis(chart_max(chart), chart.counts);
    let base = top + plot_h;
    let y = |v: f64| base - v / axis_top * plot_h;

    svg_open(out, id, title, desc, width, height);
    for t in ticks(step, axis_top) {
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{left:.1}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\"/>\
             <text class=\"tick\" x=\"{2:.1}\" y=\"{0:.1}\" dy=\"0.35em\" text-anchor=\"end\" font-size=\"11\">{3}</text>",
            y(t),
            left + plot_w,
            left - 6.0,
            tick_text(t, step),
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{left:.1}\" y1=\"{top:.1}\" x2=\"{left:.1}\" y2=\"{base:.1}\"/>\n\
         <line class=\"axis\" x1=\"{left:.1}\" y1=\"{base:.1}\" x2=\"{0:.1}\" y2=\"{base:.1}\"/>\n\
         <text class=\"axis-title\" transform=\"translate(16 {1:.1}) rotate(-90)\" text-anchor=\"middle\" \
         font-size=\"12\">{2}</text>\n\
         <text class=\"axis-title\" x=\"{3:.1}\" y=\"{4:.1}\" text-anchor=\"middle\" font-size=\"12\">{5}</text>",
        left + plot_w,
        top + plot_h / 2.0,
        escape(&chart.measure),
        left + plot_w / 2.0,
        height - 8.0,
        escape(&capitalise(&table.dimension)),
    );
    for (i, bar) in chart.bars.iter().enumerate() {
        let centre = left + (i as f64 + 0.5) * slot;
        let x0 = centre - bar_w / 2.0;
        let _ = write!(
            out,
            "<g class=\"item {}\"><title>{}</title>",
            status_class(bar.status),
            escape(&bar_title(bar, rule))
        );
        let end = match bar.mark {
            Mark::Value(v) => {
                let h = if v > 0.0 { (base - y(v)).max(1.0) } else { 0.0 };
                if h > 0.0 {
                    let _ = write!(
                        out,
                        "<rect class=\"bar\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\"/>",
                        base - h
                    );
                }
                base - h
            }
            Mark::Suppressed(Some(v)) => {
                let h = (base - y(v)).max(1.0);
                let _ = write!(
                    out,
                    "<rect class=\"bar-suppressed\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" \
                     fill=\"url(#{id}-hatch)\"/>",
                    base - h
                );
                base - h
            }
            Mark::Suppressed(None) | Mark::Missing => base,
        };
        let missing = matches!(bar.mark, Mark::Missing | Mark::Suppressed(None));
        let _ = write!(
            out,
            "<text class=\"value{}\" x=\"{centre:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
            if missing { " value-missing" } else { "" },
            end - 4.0,
            escape(&value_label(bar)),
        );
        let label = escape(&truncate(&bar.label, 12));
        let label_y = base + 14.0;
        if rotate {
            let _ = writeln!(
                out,
                "<text class=\"xlabel\" x=\"{centre:.1}\" y=\"{label_y:.1}\" text-anchor=\"end\" font-size=\"11\" \
                 transform=\"rotate(-45 {centre:.1} {label_y:.1})\">{label}</text></g>"
            );
        } else {
            let _ = writeln!(
                out,
                "<text class=\"xlabel\" x=\"{centre:.1}\" y=\"{label_y:.1}\" text-anchor=\"middle\" font-size=\"11\">{label}</text></g>"
            );
        }
    }
    out.push_str("</svg>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::{FTE_RATE, PROFILE_BY_MONTH, PROFILE_BY_WARD};
    use crate::population::Population;
    use crate::profile::{Profile, ProfileConfig};
    use crate::testkit::{Outcome, event, outcome, person};
    use crate::window::Window;
    use concord_core::pb::{self, Disposal, event::Body};
    use jiff::civil::date;

    /// A report with a ward table whose counts are 3, 12 and 40 under `rule`,
    /// and a one-row rate table.
    fn wards(rule: Suppression) -> Report {
        let mut report = Report::new("Wards", "Harrow", rule.record());
        let window = Some(Window::new(date(2020, 1, 1), date(2020, 6, 30)).unwrap());
        let mut t = Table::new(&PROFILE_BY_WARD, window, TimeAxis::EventTime, "ward", &["count"]);
        t.push("Greenhill", vec![rule.count(3)]);
        t.push("Marlborough", vec![rule.count(12)]);
        t.push("Wealdstone", vec![rule.count(40)]);
        report.add_table(t);
        let mut fte = Table::new(&FTE_RATE, window, TimeAxis::EventTime, "area", &["first-time entrants", "rate"]);
        fte.push("Harrow", vec![rule.count(3), rule.rate(3, crate::Denominator::Population(23_300), 100_000, 0)]);
        report.add_table(fte);
        report
    }

    /// The first `<svg ...>...</svg>` of the page.
    fn first_svg(html: &str) -> &str {
        let start = html.find("<svg").unwrap();
        let end = html[start..].find("</svg>").unwrap() + start;
        &html[start..end]
    }

    /// The text of every `<text class="value...">` in `svg`.
    fn value_labels(svg: &str) -> Vec<String> {
        svg.split("<text class=\"value")
            .skip(1)
            .map(|s| {
                let from = s.find('>').unwrap() + 1;
                let to = s.find("</text>").unwrap();
                s[from..to].to_string()
            })
            .collect()
    }

    #[test]
    fn escape_replaces_special_characters() {
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;");
        assert_eq!(escape("Fish & \"Chips\""), "Fish &amp; &quot;Chips&quot;");
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(escape("Wealdstone \u{2014} 10-17"), "Wealdstone \u{2014} 10-17");
    }

    #[test]
    fn report_text_is_escaped_everywhere() {
        let rule = Suppression::domain_practice();
        let mut report = Report::new("<script>alert(1)</script> & co", "Harrow \"North\"", rule.record());
        let mut t = Table::new(&PROFILE_BY_WARD, None, TimeAxis::EventTime, "ward", &["count <n>"]);
        t.push("<script>bad()</script>", vec![rule.count(20)]);
        t.push("O'Neill & Sons", vec![rule.count(30)]);
        report.add_table(t);
        report.note("<b>not bold</b>");
        let html = render_html(&report);
        assert!(!html.contains("<script"), "unescaped script tag");
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
        assert!(html.contains("Harrow &quot;North&quot;"));
        assert!(html.contains("O&#x27;Neill &amp; Sons"));
        assert!(html.contains("count &lt;n&gt;"));
        assert!(html.contains("&lt;b&gt;not bold&lt;/b&gt;"));
    }

    #[test]
    fn suppressed_raw_count_never_appears() {
        {
            let html = render_html(&wards(Suppression::domain_practice()));
            let svg = first_svg(&html);
            let labels = value_labels(svg);
            assert_eq!(labels.len(), 3, "{labels:?}");
            assert!(!labels.iter().any(|l| l.trim_end_matches(SUPPRESSED_MARK) == "3"), "{labels:?}");
            assert!(!html.contains(">3<"), "a cell or label shows the raw 3");
            assert!(!svg.contains(": 3"), "a tooltip shows the raw 3");
            // The suppressed ward is a hatched bar, marked, with the published text.
            let greenhill = svg.split("<g class=\"item").find(|g| g.contains("Greenhill")).unwrap();
            assert!(greenhill.contains("class=\"bar-suppressed\"") && greenhill.contains("-hatch)"), "{greenhill}");
            assert!(html.contains("<td class=\"num suppressed\">"));
            assert!(html.contains("class=\"legend\"") && html.contains("Suppressed: a count from 1 to"));
        }
        // Under domain practice the hatched bar spans 1-7, not the published 5:
        // it ends where a value of 7 would on the axis 0-40 (the plot is 420 wide).
        let svg_html = render_html(&wards(Suppression::domain_practice()));
        let svg = first_svg(&svg_html);
        assert!(svg.contains("width=\"73.5\" height=\"16.0\" fill=\"url("), "{svg}");
        let labels = value_labels(svg);
        assert_eq!(labels, vec!["5*", "10", "40"]);
        // The same check finds the raw count in ground truth, so it can fail.
        let truth = render_html(&wards(Suppression::None));
        assert!(truth.contains(">3<"));
        assert!(value_labels(first_svg(&truth)).contains(&"3".to_string()));
    }

    #[test]
    fn ground_truth_banner_only_without_suppression() {
        let html = render_html(&wards(Suppression::domain_practice()));
        assert!(!html.contains("banner ground-truth"));
        assert!(!html.to_lowercase().contains("not for publication"));
        let html = render_html(&wards(Suppression::None));
        assert!(html.contains("<div class=\"banner ground-truth\">"));
        assert!(html.contains("<title>GROUND TRUTH, NOT FOR PUBLICATION: "));
        let banner = html.find("banner ground-truth").unwrap();
        assert!(banner < html.find("<h1>").unwrap(), "the banner comes before the title");
    }

    #[test]
    fn months_are_charted_in_calendar_order() {
        let rule = Suppression::None;
        let mut report = Report::new("Months", "Harrow", rule.record());
        let mut t = Table::new(&PROFILE_BY_MONTH, None, TimeAxis::EventTime, "month", &["count"]);
        for (month, n) in [("2020-03", 30), ("2019-12", 10), ("2020-01", 20), ("2020-02", 0)] {
            t.push(month, vec![rule.count(n)]);
        }
        report.add_table(t);
        let html = render_html(&report);
        let svg = first_svg(&html);
        assert!(svg.contains("Column chart"));
        let positions: Vec<usize> = ["2019-12", "2020-01", "2020-02", "2020-03"]
            .iter()
            .map(|m| svg.find(&format!(">{m}</text>")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert_eq!(value_labels(svg), vec!["10", "20", "0", "30"]);
        // The table keeps the report's order.
        let table = &html[html.find("<table").unwrap()..];
        assert!(table.find(">2020-03<").unwrap() < table.find(">2019-12<").unwrap());
    }

    #[test]
    fn all_zero_chart_is_scaled_and_draws_no_bars() {
        let rule = Suppression::domain_practice();
        let mut report = Report::new("Zeros", "Harrow", rule.record());
        let mut t = Table::new(&PROFILE_BY_WARD, None, TimeAxis::EventTime, "ward", &["count"]);
        t.push("A", vec![rule.count(0)]);
        t.push("B", vec![rule.count(0)]);
        report.add_table(t);
        let html = render_html(&report);
        let svg = first_svg(&html);
        assert!(!svg.contains("NaN") && !svg.contains("=\"inf"));
        assert!(!svg.contains("<rect class=\"bar\""));
        assert!(html.contains("Every charted value is 0."));
        assert_eq!(value_labels(svg), vec!["0", "0"]);
    }

    #[test]
    fn long_tables_are_limited_to_thirty_bars() {
        let many = |rule: Suppression| {
            let mut report = Report::new("Many", "Harrow", rule.record());
            let mut t = Table::new(&PROFILE_BY_WARD, None, TimeAxis::EventTime, "ward", &["count"]);
            for i in 0..40u64 {
                t.push(format!("Ward {i:02}"), vec![rule.count(100 + i)]);
            }
            report.add_table(t);
            render_html(&report)
        };
        // Exact counts: the 29 largest and one Other bar of the remaining 11.
        let truth = many(Suppression::None);
        let labels = value_labels(first_svg(&truth));
        assert_eq!(labels.len(), 30);
        assert_eq!(labels[0], "139");
        let other: u64 = (100..111).sum();
        assert_eq!(labels[29], other.to_string());
        assert!(first_svg(&truth).contains("Other (11 rows)"));
        // Rounded counts are not added together: the first 30 rows, said so.
        let rounded = many(Suppression::domain_practice());
        let svg = first_svg(&rounded);
        assert_eq!(value_labels(svg).len(), 30);
        assert!(!svg.contains("Other ("));
        assert!(svg.contains("Ward 29") && !svg.contains("Ward 30"));
        assert!(rounded.contains("shows the first 30 of 40 rows"));
        // Every row is still in the table.
        assert!(rounded.contains("<th scope=\"row\">Ward 39</th>"));
    }

    fn profile_events() -> Vec<pb::Event> {
        let arrest = |id: &str, who: &str, on, ward: &str| {
            event(
                id,
                vec![person(who)],
                on,
                ward,
                Body::Arrest(pb::Arrest { offence_category: "robbery".into(), ..Default::default() }),
            )
        };
        let mut events = Vec::new();
        for i in 0..12 {
            events.push(arrest(&format!("A{i}"), &format!("P{i}"), date(2020, 2, 10), "Greenhill"));
        }
        events.push(arrest("B1", "Q1", date(2020, 4, 2), "Marlborough"));
        events.push(arrest("B2", "Q2", date(2020, 4, 3), "Marlborough"));
        events.push(arrest("B3", "Q3", date(2020, 5, 3), "Marlborough"));
        for i in 0..9 {
            let o = Outcome::new(Disposal::YouthCaution, true, 14);
            events.push(outcome(&format!("O{i}"), &format!("Y{i}"), date(2020, 3, 1), &o));
        }
        events
    }

    #[test]
    fn a_profile_report_has_a_table_per_table_and_a_chart_per_chartable_table() {
        let config = ProfileConfig {
            window: Some(Window::new(date(2020, 1, 1), date(2020, 6, 30)).unwrap()),
            time_axis: TimeAxis::EventTime,
            borough: Some("Harrow".into()),
            zone: crate::Zone::default(),
        };
        let mut profile = Profile::new(config);
        for e in &profile_events() {
            profile.apply(e);
        }
        let population =
            Population::parse("borough,age,gender,ethnicity,count\nHarrow,14,*,white,5000\nHarrow,14,*,black,2000\n")
                .unwrap();
        let report = profile.report(&population, &Suppression::domain_practice());
        let html = render_html(&report);
        assert_eq!(report.tables.len(), 12);
        assert_eq!(html.matches("<table").count(), 12);
        // Charted: by type, category, ward, month, age band, gender, ethnic
        // group and disproportionality; not the four tables of measures.
        assert_eq!(html.matches("<svg").count(), 8);
        assert_eq!(html.matches("<p class=\"no-chart\">").count(), 4);
        assert_eq!(html.matches("</svg>").count(), 8);
        for (i, t) in report.tables.iter().enumerate() {
            assert!(html.contains(&format!("<a href=\"#{}\">", table_anchor(i, t))), "{}", t.id);
            assert!(html.contains(&format!("id=\"{}\"", definition_anchor(&t.definition.id, t.definition.version))));
        }
        // Marlborough's 3 arrests are suppressed (shown as 5): no 3 in the ward
        // chart. Greenhill has 12 arrests and Wealdstone 9 outcomes: both 10.
        let ward_section = &html[html.find("id=\"t3-profile_by_ward\"").unwrap()..];
        let ward_svg = first_svg(ward_section);
        assert_eq!(value_labels(ward_svg), vec!["10", "5*", "10"]);
        assert!(!ward_svg.contains(">3<") && !ward_svg.contains(": 3"));
        // Months: January to June in order, as a column chart.
        let month_section = &html[html.find("id=\"t4-profile_by_month\"").unwrap()..];
        let month_svg = first_svg(month_section);
        assert!(month_svg.contains("Column chart"));
        let first = month_svg.find(">2020-01</text>").unwrap();
        let last = month_svg.find(">2020-06</text>").unwrap();
        assert!(first < last);
        // Every definition is listed with its text, and the rule in full.
        for d in &report.definitions {
            assert!(html.contains(&escape(&d.text)), "{}", d.id);
        }
        assert!(html.contains(&escape(&report.suppression.description)));
        // Self-contained: no scripts, no links to anything but the SVG namespace.
        assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"));
        assert_eq!(html.matches("http").count(), html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
    }
}
