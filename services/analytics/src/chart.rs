//! A report table's chart, decided and laid out apart from drawing it:
//! [`Chart::plan`] chooses what to draw (which column, which bars, in which
//! order, and notes on what was left out), and [`Chart::layout`] computes
//! where everything goes as plain numbers and strings ([`Layout`]), for a
//! template to draw as SVG.
//!
//! A table is charted when it has at least two rows, its rows are categories
//! of one dimension (not a list of different measures) and it has a count or
//! rate column. The charted column is the first rate column with a published
//! number (e.g. outcomes per 1,000 by ethnic group), else the first count
//! column. Months are drawn as a column chart in calendar order; any other
//! dimension as a horizontal bar chart in table order. At most 30 bars are
//! drawn: beyond that, the latest 30 months; or, for categories whose charted
//! values are all exact counts, the 29 largest and one "Other" bar; otherwise
//! the first 30 rows. The chart says which.
//!
//! Only published values are drawn: a suppressed count is a hatched bar
//! spanning the range the rule says the count lies in (e.g. 1 to 7), never a
//! bar at a value, and withheld or not-applicable rates have no bar.

use crate::report::{CellKind, CellStatus, Table};
use crate::suppression::Suppression;

/// The most bars a chart draws.
const MAX_BARS: usize = 30;

/// The marker after a suppressed cell's published value.
pub(crate) const SUPPRESSED_MARK: &str = "*";

/// How one bar is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// A bar at a published value (0 or more).
    Value(f64),
    /// A suppressed count: a hatched bar spanning 0 to the largest value the
    /// count may have under the rule (`None`: the rule gives no range, no bar).
    Suppressed(Option<f64>),
    /// No bar: a withheld or undefined rate, or no published number.
    Missing,
}

/// One bar of a chart, before layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The row's label.
    pub label: String,
    /// The published text (the value label).
    pub shown: String,
    /// How the published value relates to the raw one.
    pub status: CellStatus,
    /// What is drawn.
    pub mark: Mark,
}

/// What to draw for one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The charted column's heading.
    pub measure: String,
    /// What the bars are, e.g. `ward`, `month`.
    pub dimension: String,
    /// Months: a column chart in calendar order; otherwise horizontal bars.
    pub time_series: bool,
    /// Whether the charted column holds counts (whole-number ticks).
    pub counts: bool,
    /// The bars, in drawing order.
    pub bars: Vec<Bar>,
    /// Sentences shown under the chart (what was left out, and why).
    pub notes: Vec<String>,
}

/// Where one line goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// Start, across.
    pub x1: f64,
    /// Start, down.
    pub y1: f64,
    /// End, across.
    pub x2: f64,
    /// End, down.
    pub y2: f64,
}

/// Where one rectangle goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// Which point of a text its position gives (SVG's `text-anchor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts at the position.
    Start,
    /// The text is centred on the position.
    Middle,
    /// The text ends at the position.
    End,
}

impl Anchor {
    /// The SVG attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// One text on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// What it says (plain text; the template escapes it).
    pub text: String,
    /// Its style class: `tick`, `axis-title`, `axis-title strong`, `label`,
    /// `xlabel`, `value` or `value value-missing`.
    pub class: &'static str,
    /// Position, across.
    pub x: f64,
    /// Position, down: the baseline, or the middle when `centred`.
    pub y: f64,
    /// Font size.
    pub size: f64,
    /// Which point of the text the position gives.
    pub anchor: Anchor,
    /// Whether `y` is the text's vertical middle rather than its baseline.
    pub centred: bool,
    /// Degrees the text is turned about its position (negative: anticlockwise).
    pub rotate: Option<f64>,
}

/// One bar, laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct BarLayout {
    /// The status's style class (`exact`, `suppressed`, ...).
    pub class: &'static str,
    /// The tooltip: label, published value and what it means.
    pub title: String,
    /// The bar, if one is drawn.
    pub rect: Option<Rect>,
    /// Whether the bar is hatched (a suppressed count's range).
    pub hatched: bool,
    /// The published value at the bar's end.
    pub value: Text,
    /// The row's label beside or under the bar.
    pub label: Text,
}

/// A chart's geometry, in SVG user units (the `viewBox`), ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The drawing's width.
    pub width: f64,
    /// The drawing's height.
    pub height: f64,
    /// Grid lines, one per tick.
    pub grid: Vec<Line>,
    /// Tick labels, one per grid line.
    pub ticks: Vec<Text>,
    /// The two axes (the category axis first).
    pub axes: Vec<Line>,
    /// The axes' titles.
    pub titles: Vec<Text>,
    /// The bars, in drawing order.
    pub bars: Vec<BarLayout>,
}

/// The style class of a cell or bar of this status.
pub(crate) fn status_class(status: CellStatus) -> &'static str {
    match status {
        CellStatus::Exact => "exact",
        CellStatus::Rounded => "rounded",
        CellStatus::Suppressed => "suppressed",
        CellStatus::Withheld => "withheld",
        CellStatus::NotApplicable => "na",
    }
}

/// The range a suppressed count lies in under `rule`, if the rule suppresses.
pub(crate) fn small_range(rule: &Suppression) -> Option<(u64, u64)> {
    match *rule {
        Suppression::RoundToBase { small_max, .. } if small_max >= 1 => Some((1, small_max)),
        _ => None,
    }
}

/// What a status means, in words, under `rule` (for titles and legends).
pub(crate) fn status_words(status: CellStatus, rule: &Suppression) -> String {
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

/// `text` with its first letter in capitals.
pub(crate) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
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

impl Chart {
    /// The chart for a table under `rule`, or why there is none.
    pub fn plan(table: &Table, rule: &Suppression) -> Result<Chart, &'static str> {
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
                    // The published number of a suppressed count (e.g. 5 for
                    // 1-7) is not a value to draw a bar at.
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
                notes.push(format!(
                    "The chart shows the latest {MAX_BARS} of {total} months; the table has every month."
                ));
            } else if counts && bars.iter().all(|b| b.status == CellStatus::Exact && matches!(b.mark, Mark::Value(_))) {
                let value = |b: &Bar| if let Mark::Value(v) = b.mark { v } else { 0.0 };
                bars.sort_by(|a, b| value(b).total_cmp(&value(a)));
                let rest = bars.split_off(MAX_BARS - 1);
                let sum: f64 = rest.iter().map(value).sum();
                let shown = if sum.fract() == 0.0 { format!("{sum:.0}") } else { sum.to_string() };
                notes.push(format!(
                    "The chart shows the {} largest of {total} rows; the other {} are added together as \
                     \u{201c}Other\u{201d}. The table has every row.",
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
                    "The chart shows the first {MAX_BARS} of {total} rows only: the values are suppressed, rounded \
                     or rates, so the rest are not added together. The table has every row."
                ));
            }
        }

        if bars.iter().any(|b| matches!(b.mark, Mark::Suppressed(Some(_)))) {
            let (lo, hi) = small_range(rule).unwrap_or((1, 1));
            notes.push(format!(
                "Hatched bars ({SUPPRESSED_MARK}) are suppressed small counts: each spans the range the count lies \
                 in ({lo} to {hi}), it is not a value."
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
        Ok(Chart { measure, dimension: table.dimension.clone(), time_series, counts, bars, notes })
    }

    /// The largest value the axis must reach.
    fn max(&self) -> f64 {
        self.bars
            .iter()
            .map(|b| match b.mark {
                Mark::Value(v) | Mark::Suppressed(Some(v)) => v,
                Mark::Suppressed(None) | Mark::Missing => 0.0,
            })
            .fold(0.0, f64::max)
    }

    /// Where everything goes: a column chart for months, horizontal bars
    /// otherwise. `rule` words the bars' tooltips.
    pub fn layout(&self, rule: &Suppression) -> Layout {
        if self.time_series { self.columns(rule) } else { self.horizontal_bars(rule) }
    }

    /// Horizontal bars: labels on the left, values along the bottom.
    fn horizontal_bars(&self, rule: &Suppression) -> Layout {
        let (width, left, right, top, row_h, bar_h) = (760.0, 230.0, 110.0, 34.0, 24.0, 16.0);
        let plot_w: f64 = width - left - right;
        let plot_h = self.bars.len() as f64 * row_h;
        let bottom = top + plot_h;
        let height = bottom + 52.0;
        let (step, axis_top) = axis(self.max(), self.counts);
        let x = |v: f64| left + v / axis_top * plot_w;
        let values = ticks(step, axis_top);

        let bars = self
            .bars
            .iter()
            .enumerate()
            .map(|(i, bar)| {
                let y = top + i as f64 * row_h + (row_h - bar_h) / 2.0;
                let mid = y + bar_h / 2.0;
                let length = match bar.mark {
                    Mark::Value(v) if v > 0.0 => (x(v) - left).max(1.0),
                    Mark::Suppressed(Some(v)) => (x(v) - left).max(1.0),
                    _ => 0.0,
                };
                let rect = (length > 0.0).then_some(Rect { x: left, y, width: length, height: bar_h });
                BarLayout {
                    class: status_class(bar.status),
                    title: bar_title(bar, rule),
                    rect,
                    hatched: matches!(bar.mark, Mark::Suppressed(_)),
                    value: value_text(bar, left + length + 6.0, mid, 12.0, Anchor::Start, true),
                    label: Text {
                        text: truncate(&bar.label, 32),
                        class: "label",
                        x: left - 8.0,
                        y: mid,
                        size: 12.0,
                        anchor: Anchor::End,
                        centred: true,
                        rotate: None,
                    },
                }
            })
            .collect();

        Layout {
            width,
            height,
            grid: values.iter().map(|&t| Line { x1: x(t), y1: top, x2: x(t), y2: bottom }).collect(),
            ticks: values
                .iter()
                .map(|&t| Text {
                    text: tick_text(t, step),
                    class: "tick",
                    x: x(t),
                    y: bottom + 16.0,
                    size: 11.0,
                    anchor: Anchor::Middle,
                    centred: false,
                    rotate: None,
                })
                .collect(),
            axes: vec![
                Line { x1: left, y1: top, x2: left, y2: bottom },
                Line { x1: left, y1: bottom, x2: left + plot_w, y2: bottom },
            ],
            titles: vec![
                Text {
                    text: capitalise(&self.dimension),
                    class: "axis-title strong",
                    x: left - 8.0,
                    y: top - 14.0,
                    size: 12.0,
                    anchor: Anchor::End,
                    centred: false,
                    rotate: None,
                },
                Text {
                    text: self.measure.clone(),
                    class: "axis-title",
                    x: left + plot_w / 2.0,
                    y: height - 10.0,
                    size: 12.0,
                    anchor: Anchor::Middle,
                    centred: false,
                    rotate: None,
                },
            ],
            bars,
        }
    }

    /// Columns in calendar order: months along the bottom, values up the left.
    fn columns(&self, rule: &Suppression) -> Layout {
        // Month labels are turned when there are too many to sit side by side.
        let rotate = self.bars.len() > 12;
        let (width, left, right, top, plot_h) = (760.0, 64.0, 16.0, 30.0, 220.0);
        let plot_w: f64 = width - left - right;
        let base = top + plot_h;
        let height = base + if rotate { 84.0 } else { 52.0 };
        let slot = plot_w / self.bars.len().max(1) as f64;
        let bar_w = (slot * 0.7).min(48.0);
        let (step, axis_top) = axis(self.max(), self.counts);
        let y = |v: f64| base - v / axis_top * plot_h;
        let values = ticks(step, axis_top);

        let bars = self
            .bars
            .iter()
            .enumerate()
            .map(|(i, bar)| {
                let centre = left + (i as f64 + 0.5) * slot;
                let length = match bar.mark {
                    Mark::Value(v) if v > 0.0 => (base - y(v)).max(1.0),
                    Mark::Suppressed(Some(v)) => (base - y(v)).max(1.0),
                    _ => 0.0,
                };
                let rect = (length > 0.0).then_some(Rect {
                    x: centre - bar_w / 2.0,
                    y: base - length,
                    width: bar_w,
                    height: length,
                });
                let label_y = base + 14.0;
                BarLayout {
                    class: status_class(bar.status),
                    title: bar_title(bar, rule),
                    rect,
                    hatched: matches!(bar.mark, Mark::Suppressed(_)),
                    value: value_text(bar, centre, base - length - 4.0, 10.0, Anchor::Middle, false),
                    label: Text {
                        text: truncate(&bar.label, 12),
                        class: "xlabel",
                        x: centre,
                        y: label_y,
                        size: 11.0,
                        anchor: if rotate { Anchor::End } else { Anchor::Middle },
                        centred: false,
                        rotate: rotate.then_some(-45.0),
                    },
                }
            })
            .collect();

        Layout {
            width,
            height,
            grid: values.iter().map(|&t| Line { x1: left, y1: y(t), x2: left + plot_w, y2: y(t) }).collect(),
            ticks: values
                .iter()
                .map(|&t| Text {
                    text: tick_text(t, step),
                    class: "tick",
                    x: left - 6.0,
                    y: y(t),
                    size: 11.0,
                    anchor: Anchor::End,
                    centred: true,
                    rotate: None,
                })
                .collect(),
            axes: vec![
                Line { x1: left, y1: base, x2: left + plot_w, y2: base },
                Line { x1: left, y1: top, x2: left, y2: base },
            ],
            titles: vec![
                Text {
                    text: capitalise(&self.dimension),
                    class: "axis-title",
                    x: left + plot_w / 2.0,
                    y: height - 8.0,
                    size: 12.0,
                    anchor: Anchor::Middle,
                    centred: false,
                    rotate: None,
                },
                Text {
                    text: self.measure.clone(),
                    class: "axis-title",
                    x: 16.0,
                    y: top + plot_h / 2.0,
                    size: 12.0,
                    anchor: Anchor::Middle,
                    centred: false,
                    rotate: Some(-90.0),
                },
            ],
            bars,
        }
    }
}

/// A bar's value label: the published text (marked when suppressed), greyed
/// when the bar has no length to show it.
fn value_text(bar: &Bar, x: f64, y: f64, size: f64, anchor: Anchor, centred: bool) -> Text {
    let missing = matches!(bar.mark, Mark::Missing | Mark::Suppressed(None));
    let text = if bar.status == CellStatus::Suppressed {
        format!("{}{SUPPRESSED_MARK}", bar.shown)
    } else {
        bar.shown.clone()
    };
    Text {
        text,
        class: if missing { "value value-missing" } else { "value" },
        x,
        y,
        size,
        anchor,
        centred,
        rotate: None,
    }
}

/// The tooltip of a bar: label, published value and what it means.
fn bar_title(bar: &Bar, rule: &Suppression) -> String {
    let shown = if bar.shown.is_empty() { "no value" } else { bar.shown.as_str() };
    match bar.status {
        CellStatus::Exact => format!("{}: {shown}", bar.label),
        status => format!("{}: {shown} ({})", bar.label, status_words(status, rule)),
    }
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

/// A tick's label, with as many decimals as the step needs.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::{PROFILE_BY_MONTH, PROFILE_BY_WARD};
    use crate::window::TimeAxis;

    /// A ward table of counts under `rule`.
    fn wards(rule: &Suppression, counts: &[(&str, u64)]) -> Table {
        let mut t = Table::new(&PROFILE_BY_WARD, None, TimeAxis::EventTime, "ward", &["count"]);
        for &(ward, n) in counts {
            t.push(ward, vec![rule.count(n)]);
        }
        t
    }

    fn value_texts(layout: &Layout) -> Vec<&str> {
        layout.bars.iter().map(|b| b.value.text.as_str()).collect()
    }

    #[test]
    fn axes_have_round_steps_and_reach_the_largest_value() {
        // 40 / 5 = 8, rounded up to 10: ticks 0-40 by 10.
        assert_eq!(axis(40.0, true), (10.0, 40.0));
        // 3 / 5 = 0.6 -> 1 (a count's step is at least 1); top 3.
        assert_eq!(axis(3.0, true), (1.0, 3.0));
        // 0.37 / 5 = 0.074 -> 0.1; top 0.4 (a rate keeps its decimals).
        let (step, top) = axis(0.37, false);
        assert!((step - 0.1).abs() < 1e-12 && (top - 0.4).abs() < 1e-12, "{step} {top}");
        assert_eq!(tick_text(0.30000000000000004, step), "0.3");
        // 176 / 5 = 35.2 -> 50; top 200.
        assert_eq!(axis(176.0, false), (50.0, 200.0));
        // Nothing but zeros: 0 to 1.
        assert_eq!(axis(0.0, true), (1.0, 1.0));
        assert_eq!(ticks(10.0, 40.0), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
    }

    #[test]
    fn horizontal_bars_are_placed_by_hand_computed_coordinates() {
        let rule = Suppression::domain_practice();
        let chart =
            Chart::plan(&wards(&rule, &[("Greenhill", 3), ("Marlborough", 12), ("Wealdstone", 40)]), &rule).unwrap();
        assert!(!chart.time_series && chart.counts);
        let layout = chart.layout(&rule);
        // Plot: x from 230 to 650 (760 - 230 - 110 = 420 wide), rows 24 high
        // from y = 34; the drawing is 34 + 3 * 24 + 52 = 158 high.
        assert_eq!((layout.width, layout.height), (760.0, 158.0));
        // Axis 0-40 by 10: ticks at 230 + t / 40 * 420.
        let xs: Vec<f64> = layout.grid.iter().map(|l| l.x1).collect();
        assert_eq!(xs, vec![230.0, 335.0, 440.0, 545.0, 650.0]);
        assert_eq!(layout.grid[0], Line { x1: 230.0, y1: 34.0, x2: 230.0, y2: 106.0 });
        let ticks: Vec<(&str, f64)> = layout.ticks.iter().map(|t| (t.text.as_str(), t.y)).collect();
        assert_eq!(ticks, vec![("0", 122.0), ("10", 122.0), ("20", 122.0), ("30", 122.0), ("40", 122.0)]);
        assert_eq!(layout.axes[1], Line { x1: 230.0, y1: 106.0, x2: 650.0, y2: 106.0 });
        // Greenhill's 3 is suppressed (shown as 5): a hatched bar to where 7
        // would be, 7 / 40 * 420 = 73.5 long, 16 high, 4 below its row's top.
        let greenhill = &layout.bars[0];
        assert_eq!(greenhill.rect, Some(Rect { x: 230.0, y: 38.0, width: 73.5, height: 16.0 }));
        assert!(greenhill.hatched);
        assert_eq!(greenhill.class, "suppressed");
        assert_eq!((greenhill.value.text.as_str(), greenhill.value.x, greenhill.value.y), ("5*", 309.5, 46.0));
        assert_eq!(
            (greenhill.label.text.as_str(), greenhill.label.x, greenhill.label.anchor),
            ("Greenhill", 222.0, Anchor::End)
        );
        assert!(!greenhill.title.contains(": 3"), "{}", greenhill.title);
        // Marlborough's 12 is published as 10: 105 long, at y = 34 + 24 + 4.
        let marlborough = &layout.bars[1];
        assert_eq!(marlborough.rect, Some(Rect { x: 230.0, y: 62.0, width: 105.0, height: 16.0 }));
        assert!(!marlborough.hatched);
        assert_eq!((marlborough.value.text.as_str(), marlborough.value.x), ("10", 341.0));
        assert_eq!(layout.bars[2].rect.map(|r| r.width), Some(420.0));
        // Titles: the dimension above the labels, the measure under the axis.
        assert_eq!((layout.titles[0].text.as_str(), layout.titles[0].x, layout.titles[0].y), ("Ward", 222.0, 20.0));
        assert_eq!((layout.titles[1].text.as_str(), layout.titles[1].x, layout.titles[1].y), ("count", 440.0, 148.0));
    }

    #[test]
    fn months_are_columns_in_calendar_order_by_hand_computed_coordinates() {
        let rule = Suppression::None;
        let mut t = Table::new(&PROFILE_BY_MONTH, None, TimeAxis::EventTime, "month", &["count"]);
        for (month, n) in [("2020-03", 30), ("2019-12", 10), ("2020-01", 20), ("2020-02", 0)] {
            t.push(month, vec![rule.count(n)]);
        }
        let chart = Chart::plan(&t, &rule).unwrap();
        assert!(chart.time_series);
        let labels: Vec<&str> = chart.bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, vec!["2019-12", "2020-01", "2020-02", "2020-03"]);
        let layout = chart.layout(&rule);
        // Plot 680 wide (760 - 64 - 16) from x = 64, 220 high from y = 30 to
        // 250; 4 slots of 170, columns min(0.7 * 170, 48) = 48 wide.
        assert_eq!((layout.width, layout.height), (760.0, 302.0));
        // Axis 0-30 by 10: y = 250 - v / 30 * 220.
        let ys: Vec<f64> = layout.grid.iter().map(|l| l.y1).collect();
        assert_eq!(ys, vec![250.0, 250.0 - 220.0 / 3.0, 250.0 - 440.0 / 3.0, 30.0]);
        // December's 10: centred at 64 + 85 = 149, so from 125; 73.3 high.
        let december = layout.bars[0].rect.unwrap();
        assert_eq!((december.x, december.width), (125.0, 48.0));
        assert!((december.height - 220.0 / 3.0).abs() < 1e-9 && (december.y - (250.0 - 220.0 / 3.0)).abs() < 1e-9);
        // February's 0: no column, its value just above the axis.
        assert_eq!(layout.bars[2].rect, None);
        assert_eq!((layout.bars[2].value.text.as_str(), layout.bars[2].value.y), ("0", 246.0));
        // March's 30 reaches the top; its label sits under its slot's centre
        // (64 + 3.5 * 170 = 659), level.
        assert_eq!(layout.bars[3].rect, Some(Rect { x: 635.0, y: 30.0, width: 48.0, height: 220.0 }));
        assert_eq!((layout.bars[3].label.x, layout.bars[3].label.y, layout.bars[3].label.rotate), (659.0, 264.0, None));
        assert_eq!(value_texts(&layout), vec!["10", "20", "0", "30"]);
        // The measure runs up the left, turned.
        assert_eq!((layout.titles[1].x, layout.titles[1].y, layout.titles[1].rotate), (16.0, 140.0, Some(-90.0)));
    }

    #[test]
    fn more_than_twelve_months_turn_their_labels() {
        let rule = Suppression::None;
        let mut t = Table::new(&PROFILE_BY_MONTH, None, TimeAxis::EventTime, "month", &["count"]);
        for m in 1..=12 {
            t.push(format!("2020-{m:02}"), vec![rule.count(m)]);
        }
        t.push("2021-01", vec![rule.count(13)]);
        let layout = Chart::plan(&t, &rule).unwrap().layout(&rule);
        // 30 + 220 + 84 below for the turned labels.
        assert_eq!(layout.height, 334.0);
        assert!(layout.bars.iter().all(|b| b.label.rotate == Some(-45.0) && b.label.anchor == Anchor::End));
    }

    #[test]
    fn suppressed_withheld_and_zero_values_draw_no_bar_at_a_value() {
        let rule = Suppression::domain_practice();
        let mut t = Table::new(&PROFILE_BY_WARD, None, TimeAxis::EventTime, "ward", &["count", "rate"]);
        t.push("A", vec![rule.count(20), rule.rate(20, crate::Denominator::Population(1000), 1000, 1)]);
        t.push("B", vec![rule.count(3), rule.rate(3, crate::Denominator::Population(1000), 1000, 1)]);
        let chart = Chart::plan(&t, &rule).unwrap();
        // The rate column is charted; B's rate is withheld: no bar, greyed.
        assert!(!chart.counts && chart.measure == "rate");
        assert_eq!(chart.bars[1].mark, Mark::Missing);
        assert!(chart.notes.iter().any(|n| n == "Withheld and not-applicable values have no bar."));
        let layout = chart.layout(&rule);
        assert_eq!(layout.bars[1].rect, None);
        assert_eq!(layout.bars[1].value.class, "value value-missing");
        assert_eq!(layout.bars[1].value.x, 236.0);
        // All zeros: an axis of 0 to 1, no bars, said so.
        let zeros = Chart::plan(&wards(&rule, &[("A", 0), ("B", 0)]), &rule).unwrap();
        assert!(zeros.notes.iter().any(|n| n == "Every charted value is 0."));
        let layout = zeros.layout(&rule);
        assert!(layout.bars.iter().all(|b| b.rect.is_none()));
        assert_eq!(layout.ticks.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(), vec!["0", "1"]);
    }

    #[test]
    fn long_tables_are_limited_to_thirty_bars() {
        let rows: Vec<(String, u64)> = (0..40u64).map(|i| (format!("Ward {i:02}"), 100 + i)).collect();
        let rows: Vec<(&str, u64)> = rows.iter().map(|(w, n)| (w.as_str(), *n)).collect();
        // Exact counts: the 29 largest, then Other adding up 100..=110 = 1155.
        let truth = Chart::plan(&wards(&Suppression::None, &rows), &Suppression::None).unwrap();
        assert_eq!(truth.bars.len(), 30);
        assert_eq!(truth.bars[0].shown, "139");
        assert_eq!((truth.bars[29].label.as_str(), truth.bars[29].shown.as_str()), ("Other (11 rows)", "1155"));
        // Rounded counts are not added together: the first 30 rows, said so.
        let rule = Suppression::domain_practice();
        let rounded = Chart::plan(&wards(&rule, &rows), &rule).unwrap();
        assert_eq!(rounded.bars.len(), 30);
        assert_eq!(rounded.bars[29].label, "Ward 29");
        assert!(rounded.notes.iter().any(|n| n.contains("shows the first 30 of 40 rows")));
    }

    #[test]
    fn tables_of_measures_or_single_rows_are_not_charted() {
        let rule = Suppression::None;
        assert_eq!(Chart::plan(&wards(&rule, &[("A", 1)]), &rule), Err("the table has fewer than two rows."));
        let mut t = wards(&rule, &[("A", 1), ("B", 2)]);
        t.dimension = "measure".into();
        assert!(Chart::plan(&t, &rule).unwrap_err().contains("different measures"));
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        assert_eq!(truncate("Wealdstone", 12), "Wealdstone");
        assert_eq!(truncate("Harrow on the Hill", 12), "Harrow on t\u{2026}");
    }
}
