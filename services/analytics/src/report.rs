//! The published output: a [`Report`] is a list of tables, each with its title,
//! the definition (id and version) it follows, its window and time axis,
//! columns and rows of published cells; plus the suppression rule applied and
//! the full text of every definition used. It renders as one long CSV
//! ([`Report::to_csv`]) or JSON ([`Report::to_json`]), and is plain data for an
//! HTML page to walk.
//!
//! Cells hold only what is published (see [`crate::suppression`]): a
//! suppressed count carries no raw value.

use serde::{Deserialize, Serialize};

use crate::definitions::{Definition, DefinitionRef, PublishedDefinition};
use crate::suppression::SuppressionRecord;
use crate::window::{TimeAxis, Window};

/// What a cell holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    /// A count of people or events derived from the log (suppressed).
    Count,
    /// A rate or ratio (withheld over small numbers).
    Rate,
    /// A population denominator from the population file (public; not suppressed).
    Population,
}

/// How a cell's published value relates to the raw one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// The value as computed (counts), or rounded only to the stated
    /// precision (rates).
    Exact,
    /// A count rounded to the rule's base.
    Rounded,
    /// A small count, replaced as the rule says.
    Suppressed,
    /// A rate not published because it would reveal a small count.
    Withheld,
    /// A rate that is undefined (zero denominator, or no population).
    NotApplicable,
}

impl CellStatus {
    /// The status's name, as written in the CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Exact => "exact",
            CellStatus::Rounded => "rounded",
            CellStatus::Suppressed => "suppressed",
            CellStatus::Withheld => "withheld",
            CellStatus::NotApplicable => "not_applicable",
        }
    }
}

/// One published value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// What the cell holds.
    pub kind: CellKind,
    /// The value as shown, e.g. `10`, `<10`, `36.4`, `withheld`.
    pub shown: String,
    /// The shown value as a number, when it is one (for charts). Never the
    /// raw value of a suppressed cell.
    pub number: Option<f64>,
    /// How the shown value relates to the raw one.
    pub status: CellStatus,
}

impl Cell {
    /// A population denominator (public, published as it is).
    pub fn population(n: u64) -> Cell {
        Cell { kind: CellKind::Population, shown: n.to_string(), number: Some(n as f64), status: CellStatus::Exact }
    }
}

/// One row: a label (the dimension value, e.g. a ward) and a cell per column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The dimension value, e.g. `Harrow`, `Wealdstone`, `2020-03`, `Black`.
    pub label: String,
    /// One cell per column of the table.
    pub cells: Vec<Cell>,
}

/// One published table: one figure, under one definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The figure's id in the CSV, e.g. `fte_rate`, `profile_by_ward`.
    pub id: String,
    /// Title for display.
    pub title: String,
    /// The definition the figure follows.
    pub definition: DefinitionRef,
    /// The period covered (for reoffending: the cohort window); `None`: all
    /// the events replayed, with no window.
    pub window: Option<Window>,
    /// Which time places events in the window.
    pub time_axis: TimeAxis,
    /// What the row labels are, e.g. `area`, `ward`, `month`, `ethnic group`.
    pub dimension: String,
    /// Column headings, one per cell of each row.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Row>,
}

impl Table {
    /// An empty table for a figure under `definition`.
    pub fn new(
        definition: &Definition,
        window: Option<Window>,
        time_axis: TimeAxis,
        dimension: &str,
        columns: &[&str],
    ) -> Self {
        Table {
            id: definition.id.to_string(),
            title: definition.title.to_string(),
            definition: definition.reference(),
            window,
            time_axis,
            dimension: dimension.to_string(),
            columns: columns.iter().map(|c| (*c).to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn push(&mut self, label: impl Into<String>, cells: Vec<Cell>) {
        self.rows.push(Row { label: label.into(), cells });
    }

    /// The cell in the row labelled `label`, column `column`.
    pub fn cell(&self, label: &str, column: &str) -> Option<&Cell> {
        let index = self.columns.iter().position(|c| c == column)?;
        self.rows.iter().find(|r| r.label == label)?.cells.get(index)
    }
}

/// A published report: every figure with its definition, window and the
/// suppression rule applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What the report is, e.g. `National youth justice indicators`.
    pub title: String,
    /// The area covered: a borough, or `all boroughs`.
    pub area: String,
    /// The small-number rule applied to every count and rate.
    pub suppression: SuppressionRecord,
    /// The full text of every definition the tables follow.
    pub definitions: Vec<PublishedDefinition>,
    /// The tables, in display order.
    pub tables: Vec<Table>,
    /// Caveats: provisional figures, data quality, missing population.
    pub notes: Vec<String>,
}

impl Report {
    /// An empty report under `suppression`.
    pub fn new(title: &str, area: &str, suppression: SuppressionRecord) -> Self {
        let mut notes = Vec::new();
        if suppression.ground_truth_only {
            notes.push("GROUND TRUTH: no small-number suppression was applied. Not for publication.".to_string());
        }
        Report {
            title: title.to_string(),
            area: area.to_string(),
            suppression,
            definitions: Vec::new(),
            tables: Vec::new(),
            notes,
        }
    }

    /// Adds a table, and its definition to the list if it is not there yet.
    pub fn add_table(&mut self, table: Table) {
        if let Some(d) = table.definition.lookup()
            && !self.definitions.iter().any(|p| p.id == d.id && p.version == d.version)
        {
            self.definitions.push(PublishedDefinition::from(d));
        }
        self.tables.push(table);
    }

    /// Adds a caveat.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Appends another report's tables, definitions and notes (e.g. a problem
    /// profile after the indicators). Both should be under the same rule.
    pub fn extend(&mut self, other: Report) {
        for table in other.tables {
            self.add_table(table);
        }
        for note in other.notes {
            self.note(note);
        }
    }

    /// The table with this id (the first, if several).
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Reads a report written by [`Report::to_json`].
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The report as one CSV, one line per published cell:
    /// `figure,title,dimension,label,measure,value,status,definition_id,definition_version,window_from,window_to,time_axis,area,suppression`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "figure,title,dimension,label,measure,value,status,definition_id,definition_version,window_from,\
             window_to,time_axis,area,suppression\n",
        );
        let rule = self.suppression.description.as_str();
        for table in &self.tables {
            for row in &table.rows {
                for (column, cell) in table.columns.iter().zip(&row.cells) {
                    let fields = [
                        table.id.as_str(),
                        table.title.as_str(),
                        table.dimension.as_str(),
                        row.label.as_str(),
                        column.as_str(),
                        cell.shown.as_str(),
                        cell.status.as_str(),
                        table.definition.id.as_str(),
                        &table.definition.version.to_string(),
                        &table.window.map(|w| w.from().to_string()).unwrap_or_default(),
                        &table.window.map(|w| w.to().to_string()).unwrap_or_default(),
                        table.time_axis.as_str(),
                        self.area.as_str(),
                        rule,
                    ];
                    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                    out.push_str(&line.join(","));
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::FTE_RATE;
    use crate::suppression::Suppression;
    use jiff::civil::date;

    fn sample(rule: Suppression) -> Report {
        let mut report = Report::new("Test", "Harrow", rule.record());
        let mut table = Table::new(
            &FTE_RATE,
            Some(Window::months_ending(date(2020, 9, 30), 12)),
            TimeAxis::EventTime,
            "area",
            &["first-time entrants", "rate per 100,000"],
        );
        table.push(
            "Harrow, \"west\"",
            vec![rule.count(3), rule.rate(3, crate::Denominator::Population(23_300), 100_000, 0)],
        );
        report.add_table(table);
        report
    }

    #[test]
    fn csv_has_a_line_per_cell_with_definition_and_rule() {
        let report = sample(Suppression::domain_practice());
        let csv = report.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("figure,title,dimension,label,measure,value,status,definition_id"));
        assert!(lines[1].starts_with("fte_rate,"), "{}", lines[1]);
        assert!(lines[1].contains(
            ",\"Harrow, \"\"west\"\"\",first-time entrants,5,suppressed,fte_rate,2,2019-10-01,2020-09-30,event_time,"
        ));
        assert!(lines[2].contains(",withheld,withheld,fte_rate,2,"));
        assert_eq!(report.definitions.len(), 1);
        assert_eq!(report.definitions[0].id, "fte_rate");
    }

    #[test]
    fn json_round_trips_and_ground_truth_is_marked() {
        let report = sample(Suppression::None);
        assert!(report.notes.iter().any(|n| n.contains("Not for publication")));
        let back = Report::from_json(&report.to_json().unwrap()).unwrap();
        assert_eq!(back, report);
        let cell = back.table("fte_rate").and_then(|t| t.cell("Harrow, \"west\"", "first-time entrants")).cloned();
        assert_eq!(cell.map(|c| c.shown), Some("3".to_string()));
    }
}
