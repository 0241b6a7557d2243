//! A [`Report`] as one self-contained HTML page, for an analyst or a board
//! member to read: [`render_html`]; or as a fragment of a page that embeds
//! it (the web console's), styled by that page: [`render_fragment`].
//!
//! The page is drawn by compiled, auto-escaping askama templates
//! (`templates/report.html` and the chart it includes): every text from the
//! report is escaped on output. This module only prepares what they draw:
//! anchors, the window in words, the table's cells with their status, the
//! key to the markers used, and each chart's layout from [`crate::chart`].
//!
//! The page has inline CSS and inline SVG charts; no JavaScript, no fonts,
//! images or style sheets fetched from anywhere, so it works offline and can
//! be mailed or archived as one file. It holds:
//!
//! - a header: the report's title and area, the small-number rule in force
//!   (with a warning banner when the report is ground truth, not for
//!   publication), and the report's notes;
//! - a contents list linking to each table;
//! - for each table: its title, definition (id, version and text), window and
//!   time axis, a chart where one makes sense (see [`crate::chart`]), the
//!   table itself and a key to the cell markers it uses;
//! - a "Definitions" section with every definition used and the rule.
//!
//! The page shows only what each [`crate::Cell`] publishes (its `shown`
//! text, and its `number` for charts). A suppressed cell is shown as
//! published and marked `*`.

use askama::Template;

use crate::AnalyticsError;
use crate::chart::{Chart, Layout, capitalise, small_range, status_class, status_words};
use crate::definitions::PublishedDefinition;
use crate::report::{Cell, CellKind, CellStatus, Report, Table};
use crate::suppression::Suppression;
use crate::window::TimeAxis;

/// The report as one self-contained HTML5 page (inline CSS and SVG, no
/// JavaScript, no external resources). See the [module documentation](self)
/// for what the page holds.
pub fn render_html(report: &Report) -> Result<String, AnalyticsError> {
    Ok(Page::new(report, false).render()?)
}

/// The report as an HTML fragment for a page to embed: what the whole
/// page's `<body>` holds, without its style sheet (the embedding page
/// styles the classes; the content sits in an element of class `report`)
/// and with plain divisions where the whole page has its header, main
/// and footer landmarks, since the embedding page has its own. Its first
/// heading is the report's title, an `<h1>`.
pub fn render_fragment(report: &Report) -> Result<String, AnalyticsError> {
    Ok(Fragment(Page::new(report, true)).render()?)
}

/// The whole page.
#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    report: &'a Report,
    /// Drawn as a fragment of another page (see [`render_fragment`]).
    fragment: bool,
    /// No suppression: every count is exact, not for publication.
    ground_truth: bool,
    sections: Vec<Section<'a>>,
    definitions: Vec<DefinitionEntry>,
    /// The rule and its parameters, in words.
    rule_name: String,
}

/// The page's content alone, as [`render_fragment`] draws it.
#[derive(Template)]
#[template(path = "report-fragment.html")]
struct Fragment<'a>(Page<'a>);

impl<'a> std::ops::Deref for Fragment<'a> {
    type Target = Page<'a>;

    fn deref(&self) -> &Page<'a> {
        &self.0
    }
}

/// One table's section.
struct Section<'a> {
    table: &'a Table,
    anchor: String,
    definition_anchor: String,
    window: String,
    time_axis: &'static str,
    definition_text: String,
    /// The chart, or why there is none.
    chart: Result<ChartView, &'static str>,
    dimension: String,
    rows: Vec<RowView<'a>>,
    legend: Vec<LegendItem>,
}

/// A chart with its accessible title and description.
struct ChartView {
    id: String,
    title: String,
    desc: String,
    layout: Layout,
    notes: Vec<String>,
}

/// One row of a table: a cell per column (`None`: the row has no cell there).
struct RowView<'a> {
    label: &'a str,
    cells: Vec<Option<CellView<'a>>>,
}

/// One published cell.
struct CellView<'a> {
    shown: &'a str,
    class: &'static str,
    suppressed: bool,
}

/// One line of a table's key; `marked` lines start with the suppression marker.
struct LegendItem {
    marked: bool,
    text: String,
}

/// One entry of the Definitions section.
struct DefinitionEntry {
    anchor: String,
    definition: PublishedDefinition,
}

impl<'a> Page<'a> {
    fn new(report: &'a Report, fragment: bool) -> Self {
        let rule = &report.suppression.rule;
        let rule_name = match *rule {
            Suppression::RoundToBase { small_max, small_shown_as, base } => {
                format!("round to base (counts 1-{small_max} shown as {small_shown_as}; others to the nearest {base})")
            }
            Suppression::None => "none (ground truth)".to_string(),
        };
        Page {
            report,
            fragment,
            ground_truth: report.suppression.ground_truth_only || matches!(rule, Suppression::None),
            sections: report.tables.iter().enumerate().map(|(i, t)| Section::new(report, i, t)).collect(),
            definitions: definitions_used(report)
                .into_iter()
                .map(|d| DefinitionEntry { anchor: definition_anchor(&d.id, d.version), definition: d })
                .collect(),
            rule_name,
        }
    }
}

impl<'a> Section<'a> {
    fn new(report: &Report, index: usize, table: &'a Table) -> Self {
        let rule = &report.suppression.rule;
        let anchor = table_anchor(index, table);
        let window = match table.window {
            Some(w) => format!("{} to {} (whole days, inclusive, in the partnership's time zone)", w.from(), w.to()),
            None => "no window: every event replayed".to_string(),
        };
        let chart = Chart::plan(table, rule).map(|chart| chart_view(&anchor, table, &chart, rule));
        let width = table.columns.len();
        let rows = table
            .rows
            .iter()
            .map(|row| RowView {
                label: &row.label,
                cells: (0..width.max(row.cells.len())).map(|i| row.cells.get(i).map(cell_view)).collect(),
            })
            .collect();
        Section {
            table,
            definition_anchor: definition_anchor(&table.definition.id, table.definition.version),
            window,
            time_axis: time_axis_text(table.time_axis),
            definition_text: definition_of(report, table)
                .map_or_else(|| "The text of this definition is not included in the report.".to_string(), |d| d.text),
            chart,
            dimension: capitalise(&table.dimension),
            rows,
            legend: legend(table, rule),
            anchor,
        }
    }
}

fn cell_view(cell: &Cell) -> CellView<'_> {
    CellView { shown: &cell.shown, class: status_class(cell.status), suppressed: cell.status == CellStatus::Suppressed }
}

/// The chart's title and description for screen readers, and its layout.
fn chart_view(anchor: &str, table: &Table, chart: &Chart, rule: &Suppression) -> ChartView {
    let kind = if chart.time_series { "Column chart" } else { "Horizontal bar chart" };
    let bars = chart.bars.len();
    ChartView {
        id: format!("{anchor}-chart"),
        title: format!("{}: {} by {}", table.title, chart.measure, table.dimension),
        desc: format!(
            "{kind} of {} by {}, {bars} bar{}, drawn from the published values in the table below.",
            chart.measure,
            table.dimension,
            if bars == 1 { "" } else { "s" }
        ),
        layout: chart.layout(rule),
        notes: chart.notes.clone(),
    }
}

/// The key to the markers and statuses a table uses.
fn legend(table: &Table, rule: &Suppression) -> Vec<LegendItem> {
    let cells = || table.rows.iter().flat_map(|r| &r.cells);
    let has = |status: CellStatus| cells().any(|c| c.status == status);
    let mut items = Vec::new();
    if has(CellStatus::Suppressed) {
        let range = match small_range(rule) {
            Some((lo, hi)) => format!("a count from {lo} to {hi}"),
            None => "a small count".to_string(),
        };
        items.push(LegendItem {
            marked: true,
            text: format!("Suppressed: {range}, shown as the rule publishes it (the true count is not published)."),
        });
    }
    let mut say = |text: String| items.push(LegendItem { marked: false, text });
    if has(CellStatus::Rounded) {
        say(format!("Counts that are not small are {} (the rule).", status_words(CellStatus::Rounded, rule)));
    }
    if has(CellStatus::Withheld) {
        say("withheld: a rate not published because it would reveal a small count.".to_string());
    }
    if has(CellStatus::NotApplicable) {
        say("n/a: not applicable; the rate is undefined (a zero denominator or no population).".to_string());
    }
    if cells().any(|c| c.kind == CellKind::Population) {
        say("Population figures come from the population file and are published as they are.".to_string());
    }
    items
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

    fn render(report: &Report) -> String {
        render_html(report).unwrap()
    }

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

    /// `text` as the page shows it: the characters special in HTML as
    /// numeric entities (written out here, not taken from the renderer).
    fn escaped(text: &str) -> String {
        text.replace('&', "&#38;")
            .replace('<', "&#60;")
            .replace('>', "&#62;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;")
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
    fn hostile_agency_ward_and_definition_text_is_escaped() {
        let hostile = "\"><script>alert('x')</script>";
        let escaped = "&#34;&#62;&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;";
        let rule = Suppression::domain_practice();
        let mut report = Report::new(&format!("Agencies {hostile}"), &format!("Harrow {hostile}"), rule.record());
        let mut t = Table::new(
            &PROFILE_BY_WARD,
            None,
            TimeAxis::EventTime,
            &format!("agency {hostile}"),
            &["count \" onmouseover=\"alert(1)"],
        );
        t.push(format!("police.met {hostile}"), vec![rule.count(20)]);
        t.push(format!("Ward {hostile}"), vec![rule.count(30)]);
        t.push("O'Neill & Sons", vec![rule.count(40)]);
        report.add_table(t);
        report.definitions[0].title = format!("Counts {hostile}");
        report.definitions[0].text = format!("Counted {hostile} by hand");
        report.note("<b>not bold</b>");
        let html = render(&report);
        assert!(!html.contains("<script"), "an unescaped script tag");
        assert!(!html.contains("<b>"), "an unescaped tag from a note");
        assert!(!html.contains("\" onmouseover=\""), "a quote ends an attribute");
        assert!(!html.contains("'x'"), "an unescaped apostrophe");
        // Escaped wherever they are shown: title, area, dimension, the
        // agency's and ward's rows, the definition, in the table and the chart.
        for shown in [
            format!("Agencies {escaped}"),
            format!("Harrow {escaped}"),
            format!("Agency {escaped}"),
            format!("police.met {escaped}"),
            format!("Counts {escaped}"),
            format!("Counted {escaped} by hand"),
            "O&#39;Neill &#38; Sons".to_string(),
            "count &#34; onmouseover=&#34;alert(1)".to_string(),
            "&#60;b&#62;not bold&#60;/b&#62;".to_string(),
        ] {
            assert!(html.contains(&shown), "{shown} is not in the page");
        }
        let svg = first_svg(&html);
        assert!(svg.contains(&format!("<title>police.met {escaped}: 20 (rounded")), "the bar's title");
        assert!(svg.contains(">O&#39;Neill &#38; Sons</text>"), "the bar's label");
    }

    #[test]
    fn suppressed_raw_count_never_appears() {
        let html = render(&wards(Suppression::domain_practice()));
        let svg = first_svg(&html);
        assert_eq!(value_labels(svg), vec!["5*", "10", "40"]);
        assert!(!html.contains(">3<"), "a cell or label shows the raw 3");
        assert!(!svg.contains(": 3"), "a tooltip shows the raw 3");
        // The suppressed ward is a hatched bar spanning 1-7 (73.5 of the 420
        // wide plot for an axis to 40), marked, with the published text.
        let greenhill = svg.split("<g class=\"item").find(|g| g.contains("Greenhill")).unwrap();
        assert!(
            greenhill.contains(
                "<rect class=\"bar-suppressed\" x=\"230.0\" y=\"38.0\" width=\"73.5\" height=\"16.0\" fill=\"url(#t1-profile_by_ward-chart-hatch)\"/>"
            ),
            "{greenhill}"
        );
        assert!(html.contains("<td class=\"num suppressed\">5<span class=\"mark\" aria-hidden=\"true\">*</span>"));
        assert!(html.contains("<li><span class=\"mark\">*</span> Suppressed: a count from 1 to 7"));
        // The same checks find the raw count in ground truth, so they can fail.
        let truth = render(&wards(Suppression::None));
        assert!(truth.contains(">3<"));
        assert!(value_labels(first_svg(&truth)).contains(&"3".to_string()));
    }

    #[test]
    fn ground_truth_banner_only_without_suppression() {
        let html = render(&wards(Suppression::domain_practice()));
        assert!(!html.contains("banner ground-truth"));
        assert!(!html.to_lowercase().contains("not for publication"));
        let html = render(&wards(Suppression::None));
        assert_eq!(html.matches("<div class=\"banner ground-truth\">").count(), 2, "above the title and at the end");
        assert!(html.contains("<title>GROUND TRUTH, NOT FOR PUBLICATION: Wards — Harrow</title>"));
        let banner = html.find("banner ground-truth").unwrap();
        assert!(banner < html.find("<h1>").unwrap(), "the banner comes before the title");
    }

    #[test]
    fn a_table_section_says_its_definition_window_and_axis() {
        let html = render(&wards(Suppression::domain_practice()));
        let section = &html[html.find("id=\"t2-fte_rate\"").unwrap()..];
        assert!(section.contains("<a href=\"#def-fte_rate-v2\">fte_rate, version 2</a>"), "{section}");
        assert!(
            section.contains("2020-01-01 to 2020-06-30 (whole days, inclusive, in the partnership&#39;s time zone)")
        );
        assert!(section.contains("event time: events are placed by when they happened (occurred_at)"));
        assert!(section.contains("<p class=\"no-chart\">Not charted: the table has fewer than two rows.</p>"));
        assert!(section.contains(
            "<thead><tr><th scope=\"col\">Area</th><th scope=\"col\">first-time entrants</th><th scope=\"col\">rate</th></tr></thead>"
        ));
        assert!(section.contains("<li>withheld: a rate not published because it would reveal a small count.</li>"));
        assert!(html.contains("<dt id=\"def-fte_rate-v2\">"));
        assert!(
            html.contains(
                "<p><strong>Rule:</strong> round to base (counts 1-7 shown as 5; others to the nearest 5).</p>"
            )
        );
    }

    #[test]
    fn months_are_charted_in_calendar_order_and_tabled_in_report_order() {
        let rule = Suppression::None;
        let mut report = Report::new("Months", "Harrow", rule.record());
        let mut t = Table::new(&PROFILE_BY_MONTH, None, TimeAxis::EventTime, "month", &["count"]);
        for (month, n) in [("2020-03", 30), ("2019-12", 10), ("2020-01", 20), ("2020-02", 0)] {
            t.push(month, vec![rule.count(n)]);
        }
        report.add_table(t);
        let html = render(&report);
        let svg = first_svg(&html);
        assert!(svg.contains("Column chart"));
        let positions: Vec<usize> = ["2019-12", "2020-01", "2020-02", "2020-03"]
            .iter()
            .map(|m| svg.find(&format!(">{m}</text>")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert_eq!(value_labels(svg), vec!["10", "20", "0", "30"]);
        // The measure's title runs up the left: turned about its position.
        assert!(svg.contains("x=\"16.0\" y=\"140.0\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 16.0 140.0)\">count</text>"));
        let table = &html[html.find("<table").unwrap()..];
        assert!(table.find(">2020-03<").unwrap() < table.find(">2019-12<").unwrap());
    }

    #[test]
    fn the_fragment_is_the_page_content_without_its_style_or_landmarks() {
        let report = wards(Suppression::domain_practice());
        let (page, fragment) = (render(&report), render_fragment(&report).unwrap());
        assert!(fragment.starts_with("<div class=\"report\">"), "{fragment}");
        for absent in ["<style", "<html", "<body", "<main", "<header", "<footer", "<!DOCTYPE"] {
            assert!(page.contains(absent) || absent == "<footer", "{absent} is not in the whole page");
            assert!(!fragment.contains(absent), "{absent} in the fragment");
        }
        // The same report: its title, tables, charts and marked cells.
        assert!(fragment.contains("<h1>Wards</h1>"));
        assert_eq!(fragment.matches("<table").count(), page.matches("<table").count());
        assert_eq!(fragment.matches("<svg").count(), page.matches("<svg").count());
        assert_eq!(value_labels(first_svg(&fragment)), vec!["5*", "10", "40"]);
        assert!(fragment.contains("<div class=\"report-main\">"));
    }

    #[test]
    fn a_table_without_rows_says_so() {
        let rule = Suppression::None;
        let mut report = Report::new("Empty", "Harrow", rule.record());
        report.add_table(Table::new(&PROFILE_BY_WARD, None, TimeAxis::EventTime, "ward", &["count", "rate"]));
        let html = render(&report);
        assert!(html.contains("<tr><td colspan=\"3\">No rows.</td></tr>"));
        assert!(!html.contains("class=\"legend\""));
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
        let html = render(&report);
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
        assert!(month_svg.find(">2020-01</text>").unwrap() < month_svg.find(">2020-06</text>").unwrap());
        // Every definition is listed with its text, and the rule in full.
        for d in &report.definitions {
            assert!(html.contains(&escaped(&d.text)), "{}", d.id);
        }
        assert!(html.contains(&escaped(&report.suppression.description)));
        // Self-contained: no scripts, no links to anything but the SVG namespace.
        assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"));
        assert_eq!(html.matches("http").count(), html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
    }
}
