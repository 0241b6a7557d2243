//! The three national youth justice indicators (domain.md, "Analytics"),
//! computed from replayed events by an incremental projection.
//!
//! [`Indicators`] keeps one small record per youth justice outcome and
//! re-offence it is given ([`Indicators::apply`]); it is serde-serialisable, so
//! a caller can checkpoint it with the log position reached and resume later.
//! The figures are computed on demand for any period:
//!
//! - **First-time entrants** ([`Indicators::first_time_entrants`]): children
//!   10-17 receiving their first caution or conviction in 12 months, per
//!   100,000 of the 10-17 population.
//! - **Reoffending** ([`Indicators::reoffending`]): of a cohort of children
//!   with a caution or conviction in a 3- or 12-month window, the share who
//!   reoffend within 12 months of the index offence (binary rate, %) and the
//!   re-offences per reoffender (frequency).
//! - **Custody** ([`Indicators::custody`]): custodial sentences of children
//!   10-17 in 12 months, per 1,000 of the 10-17 population.
//!
//! Every figure carries its numerator, denominator, unrounded value, window,
//! time axis and the id and version of its [`Definition`]; the definitions'
//! texts say exactly which events count. [`Indicators::report`] publishes them
//! under a small-number [`Suppression`] rule.

use std::collections::BTreeMap;

use concord_core::pb::{self, event::Body};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::AnalyticsError;
use crate::definitions::{self, Definition, DefinitionRef};
use crate::population::{Population, YOUTH_AGES};
use crate::records::{self, Records, first_person, in_borough, is_caution_or_conviction};
use crate::report::{Cell, Report, Table};
use crate::suppression::{Suppression, format_decimals, round_to};
use crate::window::{TimeAxis, Window, add_months, add_months_millis};

/// One computed figure: a rate (or ratio) with what it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// The definition it follows.
    pub definition: DefinitionRef,
    /// The period covered (for reoffending: the cohort window).
    pub window: Window,
    /// Which time placed events in the window.
    pub time_axis: TimeAxis,
    /// The count the rate is of.
    pub numerator: u64,
    /// What it is divided by.
    pub denominator: u64,
    /// The multiplier: 100,000, 1,000, 100 (a percentage) or 1 (a ratio).
    pub per: u64,
    /// Decimal places it is published to.
    pub decimals: u32,
    /// numerator / denominator x per, unrounded; `None` when the denominator is 0.
    pub value: Option<f64>,
}

impl Figure {
    fn new(definition: &Definition, window: Window, time_axis: TimeAxis, numerator: u64, denominator: u64) -> Self {
        let value = (denominator > 0).then(|| numerator as f64 / denominator as f64 * definition.per as f64);
        Figure {
            definition: definition.reference(),
            window,
            time_axis,
            numerator,
            denominator,
            per: definition.per,
            decimals: definition.decimals,
            value,
        }
    }

    /// The value rounded to its published precision (halves away from zero).
    pub fn rounded(&self) -> Option<f64> {
        self.value.map(|v| round_to(v, self.decimals))
    }

    /// The value as published before suppression, e.g. `176`, `36.4`, `0.39`;
    /// `n/a` when undefined.
    pub fn display(&self) -> String {
        self.value.map_or_else(|| "n/a".to_string(), |v| format_decimals(v, self.decimals))
    }
}

/// The length of a reoffending cohort window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CohortPeriod {
    /// 3 months of disposals: the current national measure (definition version 2).
    #[default]
    ThreeMonths,
    /// 12 months of disposals: the former national measure (definition version 1).
    TwelveMonths,
}

impl CohortPeriod {
    /// The window length in months.
    pub fn months(self) -> u32 {
        match self {
            CohortPeriod::ThreeMonths => 3,
            CohortPeriod::TwelveMonths => 12,
        }
    }

    fn definitions(self) -> (&'static Definition, &'static Definition) {
        match self {
            CohortPeriod::ThreeMonths => (&definitions::REOFFENDING_BINARY_3, &definitions::REOFFENDING_FREQUENCY_3),
            CohortPeriod::TwelveMonths => (&definitions::REOFFENDING_BINARY_12, &definitions::REOFFENDING_FREQUENCY_12),
        }
    }
}

/// The parameters of a 12-month count (first-time entrants, custody).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodParams {
    /// The borough (as in the events' `borough` and the population file);
    /// `None`: every borough.
    pub borough: Option<String>,
    /// The last day of the 12 months.
    pub period_end: Date,
    /// Event time (`occurred_at`) or report time (`recorded_at`).
    pub time_axis: TimeAxis,
}

/// The parameters of the reoffending measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReoffendingParams {
    /// The borough of the cohort's outcomes; `None`: every borough.
    /// Re-offences count wherever they were recorded.
    pub borough: Option<String>,
    /// 3 or 12 months of disposals.
    pub cohort: CohortPeriod,
    /// The last day of the cohort window.
    pub cohort_end: Date,
}

/// The parameters of a full indicators report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorParams {
    /// The borough; `None`: every borough.
    pub borough: Option<String>,
    /// The last day of the 12 months for first-time entrants and custody.
    pub period_end: Date,
    /// The time axis for first-time entrants and custody.
    pub time_axis: TimeAxis,
    /// The reoffending cohort window length.
    pub cohort: CohortPeriod,
    /// The last day of the reoffending cohort window.
    pub cohort_end: Date,
}

impl IndicatorParams {
    /// Figures for the 12 months to `period_end` by event time, and
    /// reoffending for the 3-month cohort ending 12 months earlier (so that
    /// its 12 months of tracking have run by `period_end`).
    pub fn new(borough: Option<&str>, period_end: Date) -> Self {
        IndicatorParams {
            borough: borough.map(str::to_string),
            period_end,
            time_axis: TimeAxis::EventTime,
            cohort: CohortPeriod::ThreeMonths,
            cohort_end: add_months(period_end, -12),
        }
    }

    fn period(&self) -> PeriodParams {
        PeriodParams { borough: self.borough.clone(), period_end: self.period_end, time_axis: self.time_axis }
    }

    fn reoffending(&self) -> ReoffendingParams {
        ReoffendingParams { borough: self.borough.clone(), cohort: self.cohort, cohort_end: self.cohort_end }
    }
}

/// The reoffending figures for one cohort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reoffending {
    /// Reoffenders / cohort x 100.
    pub binary: Figure,
    /// Re-offences / reoffenders.
    pub frequency: Figure,
    /// Children in the cohort.
    pub cohort: u64,
    /// Children in the cohort who reoffended.
    pub reoffenders: u64,
    /// Their re-offences within 12 months.
    pub reoffences: u64,
    /// The last day any cohort member's 12 months of tracking can reach.
    #[serde(with = "crate::window::date_text")]
    pub tracking_ends: Date,
    /// True when the events applied do not yet reach `tracking_ends` (by
    /// report time), so later re-offences may still come in.
    pub provisional: bool,
}

/// All three indicators for one area and period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorFigures {
    /// First-time entrants per 100,000.
    pub first_time_entrants: Figure,
    /// Reoffending binary rate and frequency.
    pub reoffending: Reoffending,
    /// Custodial sentences per 1,000.
    pub custody: Figure,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OutcomeRecord {
    subject: Option<String>,
    borough: String,
    occurred: Option<i64>,
    recorded: Option<i64>,
    offence: Option<i64>,
    disposal: i32,
    fte: bool,
    age: u32,
}

impl OutcomeRecord {
    fn time(&self, axis: TimeAxis) -> Option<i64> {
        match axis {
            TimeAxis::EventTime => self.occurred,
            TimeAxis::ReportTime => self.recorded,
        }
    }

    fn disposal(&self) -> pb::Disposal {
        pb::Disposal::try_from(self.disposal).unwrap_or(pb::Disposal::Unspecified)
    }

    fn youth(&self) -> bool {
        YOUTH_AGES.contains(&self.age)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ReoffenceRecord {
    subject: Option<String>,
    original_event_id: String,
    /// The re-offence's date (`reoffence_date`, else `occurred_at`).
    date: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Record {
    Outcome(OutcomeRecord),
    Reoffence(ReoffenceRecord),
}

fn extract(event: &pb::Event) -> Option<Record> {
    match event.body.as_ref()? {
        Body::YouthJusticeOutcome(o) => Some(Record::Outcome(OutcomeRecord {
            subject: first_person(event),
            borough: event.borough.clone(),
            occurred: records::millis(event.occurred_at.as_ref()),
            recorded: records::millis(event.recorded_at.as_ref()),
            offence: records::millis(o.offence_date.as_ref()),
            disposal: o.disposal,
            fte: o.first_time_entrant,
            age: o.age,
        })),
        Body::Reoffence(r) => Some(Record::Reoffence(ReoffenceRecord {
            subject: first_person(event),
            original_event_id: r.original_event_id.clone(),
            date: records::millis(r.reoffence_date.as_ref()).or(records::millis(event.occurred_at.as_ref())),
        })),
        _ => None,
    }
}

/// The incremental projection behind the national indicators. Apply every
/// replayed event in log order, then ask for figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Indicators {
    records: Records<Record>,
    events_applied: u64,
    /// The latest `recorded_at` of any event applied (ms since the epoch).
    latest_recorded: Option<i64>,
}

impl Indicators {
    /// Applies one replayed event (any type: those that do not bear on the
    /// indicators are only counted).
    pub fn apply(&mut self, event: &pb::Event) {
        self.events_applied += 1;
        if let Some(recorded) = records::millis(event.recorded_at.as_ref()) {
            self.latest_recorded = Some(self.latest_recorded.map_or(recorded, |l| l.max(recorded)));
        }
        self.records.apply(event, |e, _| extract(e));
    }

    /// How many events have been applied.
    pub fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn outcomes(&self) -> impl Iterator<Item = (&String, &OutcomeRecord)> {
        self.records.iter().filter_map(|(k, r)| match r {
            Record::Outcome(o) => Some((k, o)),
            Record::Reoffence(_) => None,
        })
    }

    fn reoffences(&self) -> impl Iterator<Item = &ReoffenceRecord> {
        self.records.iter().filter_map(|(_, r)| match r {
            Record::Reoffence(o) => Some(o),
            Record::Outcome(_) => None,
        })
    }

    fn youth_population(
        population: &Population,
        borough: Option<&str>,
        figure: &'static str,
    ) -> Result<u64, AnalyticsError> {
        match population.aged_10_to_17(borough) {
            0 => Err(AnalyticsError::NoPopulation { area: area_name(borough), figure }),
            n => Ok(n),
        }
    }

    /// First-time entrants in the 12 months to `params.period_end`, per
    /// 100,000 of the 10-17 population (definition `fte_rate`, or
    /// `fte_rate_report_time` by report time).
    ///
    /// A child whose first flagged outcome precedes the window is not counted,
    /// but only outcomes applied are known: replay from well before the window
    /// (ideally the start of the log) for that rule to bite.
    pub fn first_time_entrants(
        &self,
        params: &PeriodParams,
        population: &Population,
    ) -> Result<Figure, AnalyticsError> {
        let borough = params.borough.as_deref();
        let definition = match params.time_axis {
            TimeAxis::EventTime => &definitions::FTE_RATE,
            TimeAxis::ReportTime => &definitions::FTE_RATE_REPORT_TIME,
        };
        let denominator = Self::youth_population(population, borough, "first-time entrants")?;
        let window = Window::months_ending(params.period_end, 12);
        // Each child's first flagged caution or conviction, at any time.
        let mut first: BTreeMap<&str, i64> = BTreeMap::new();
        for (_, o) in self.outcomes() {
            let qualifies = o.fte && o.youth() && is_caution_or_conviction(o.disposal());
            if !qualifies || !in_borough(&o.borough, borough) {
                continue;
            }
            if let (Some(subject), Some(at)) = (o.subject.as_deref(), o.time(params.time_axis)) {
                let earliest = first.entry(subject).or_insert(at);
                *earliest = (*earliest).min(at);
            }
        }
        let numerator = first.values().filter(|at| window.contains_millis(**at)).count() as u64;
        Ok(Figure::new(definition, window, params.time_axis, numerator, denominator))
    }

    /// Custodial sentences of children 10-17 in the 12 months to
    /// `params.period_end`, per 1,000 of the 10-17 population (definition
    /// `custody_rate`, or `custody_rate_report_time` by report time).
    pub fn custody(&self, params: &PeriodParams, population: &Population) -> Result<Figure, AnalyticsError> {
        let borough = params.borough.as_deref();
        let definition = match params.time_axis {
            TimeAxis::EventTime => &definitions::CUSTODY_RATE,
            TimeAxis::ReportTime => &definitions::CUSTODY_RATE_REPORT_TIME,
        };
        let denominator = Self::youth_population(population, borough, "the custody rate")?;
        let window = Window::months_ending(params.period_end, 12);
        let numerator = self
            .outcomes()
            .filter(|(_, o)| o.disposal() == pb::Disposal::Custody && o.youth() && in_borough(&o.borough, borough))
            .filter(|(_, o)| o.time(params.time_axis).is_some_and(|at| window.contains_millis(at)))
            .count() as u64;
        Ok(Figure::new(definition, window, params.time_axis, numerator, denominator))
    }

    /// The reoffending binary rate and frequency for the cohort window ending
    /// `params.cohort_end` (definitions `reoffending_binary` and
    /// `reoffending_frequency`, version 1 for 12-month cohorts, 2 for 3-month).
    ///
    /// Replay from the start of the cohort window to at least
    /// [`Reoffending::tracking_ends`] (plus recording lag): re-offences after
    /// the events applied are unknown, which the figure flags as provisional.
    /// Re-offences count wherever they were recorded (the borough filter
    /// applies to the cohort's outcomes only).
    pub fn reoffending(&self, params: &ReoffendingParams) -> Reoffending {
        let borough = params.borough.as_deref();
        let window = Window::months_ending(params.cohort_end, params.cohort.months());
        // Each child's index: their first qualifying disposal in the window.
        // (disposal time, event key) orders ties deterministically.
        let mut index: BTreeMap<&str, (i64, &str, i64)> = BTreeMap::new();
        let mut subject_of_outcome: BTreeMap<&str, &str> = BTreeMap::new();
        for (key, o) in self.outcomes() {
            if let Some(subject) = o.subject.as_deref() {
                subject_of_outcome.insert(key.as_str(), subject);
            }
            let qualifies = o.youth() && is_caution_or_conviction(o.disposal()) && in_borough(&o.borough, borough);
            let (Some(subject), Some(decided)) = (o.subject.as_deref(), o.occurred) else { continue };
            if !qualifies || !window.contains_millis(decided) {
                continue;
            }
            let offence = o.offence.unwrap_or(decided);
            let candidate = (decided, key.as_str(), offence);
            let entry = index.entry(subject).or_insert(candidate);
            if (candidate.0, candidate.1) < (entry.0, entry.1) {
                *entry = candidate;
            }
        }
        let mut reoffences_by: BTreeMap<&str, u64> = BTreeMap::new();
        for r in self.reoffences() {
            let subject =
                r.subject.as_deref().or_else(|| subject_of_outcome.get(r.original_event_id.as_str()).copied());
            let (Some(subject), Some(date)) = (subject, r.date) else { continue };
            let Some((_, _, offence)) = index.get(subject) else { continue };
            if date > *offence && date <= add_months_millis(*offence, 12) {
                *reoffences_by.entry(subject).or_default() += 1;
            }
        }
        let cohort = index.len() as u64;
        let reoffenders = reoffences_by.len() as u64;
        let reoffences: u64 = reoffences_by.values().sum();
        let (binary_definition, frequency_definition) = params.cohort.definitions();
        let tracking_ends = add_months(window.to(), 12);
        let tracking_end_millis =
            Window::new(tracking_ends, tracking_ends).map_or(i64::MAX, |w| w.end_millis_exclusive());
        Reoffending {
            binary: Figure::new(binary_definition, window, TimeAxis::EventTime, reoffenders, cohort),
            frequency: Figure::new(frequency_definition, window, TimeAxis::EventTime, reoffences, reoffenders),
            cohort,
            reoffenders,
            reoffences,
            tracking_ends,
            provisional: self.latest_recorded.is_none_or(|latest| latest < tracking_end_millis),
        }
    }

    /// All three indicators.
    pub fn figures(
        &self,
        params: &IndicatorParams,
        population: &Population,
    ) -> Result<IndicatorFigures, AnalyticsError> {
        Ok(IndicatorFigures {
            first_time_entrants: self.first_time_entrants(&params.period(), population)?,
            reoffending: self.reoffending(&params.reoffending()),
            custody: self.custody(&params.period(), population)?,
        })
    }

    /// Data-quality caveats about the records behind the indicators.
    pub fn data_notes(&self, borough: Option<&str>) -> Vec<String> {
        let mut no_subject = 0u64;
        let mut fte_not_formal = 0u64;
        let mut no_age = 0u64;
        for (_, o) in self.outcomes().filter(|(_, o)| in_borough(&o.borough, borough)) {
            no_subject += u64::from(o.subject.is_none());
            fte_not_formal += u64::from(o.fte && !is_caution_or_conviction(o.disposal()));
            no_age += u64::from(o.age == 0);
        }
        let unlinked = self.reoffences().filter(|r| r.subject.is_none()).count();
        let mut notes = Vec::new();
        if no_subject > 0 {
            notes.push(format!(
                "{no_subject} youth justice outcome(s) name no person subject: not counted as first-time entrants or in the reoffending cohort."
            ));
        }
        if fte_not_formal > 0 {
            notes.push(format!(
                "{fte_not_formal} outcome(s) flagged first-time entrant are not a caution or conviction (triage, community resolution, remand): not counted as first-time entrants."
            ));
        }
        if no_age > 0 {
            notes.push(format!("{no_age} youth justice outcome(s) record no age: not counted in any indicator."));
        }
        if unlinked > 0 {
            notes.push(format!(
                "{unlinked} re-offence(s) name no person subject: counted only when linked by original_event_id."
            ));
        }
        notes
    }

    /// The indicators as a published report under `suppression`.
    pub fn report(
        &self,
        params: &IndicatorParams,
        population: &Population,
        suppression: &Suppression,
    ) -> Result<Report, AnalyticsError> {
        let figures = self.figures(params, population)?;
        let area = area_name(params.borough.as_deref());
        let mut report = Report::new("National youth justice indicators", &area, suppression.record());

        let fte = &figures.first_time_entrants;
        report.add_table(rate_table(fte, &area, "first-time entrants", "rate per 100,000", suppression)?);

        let r = &figures.reoffending;
        let mut binary = table_for(&r.binary, "cohort", &["children in cohort", "reoffenders", "binary rate (%)"])?;
        binary.push(
            area.clone(),
            vec![
                suppression.count(r.cohort),
                suppression.count(r.reoffenders),
                suppression.rate(r.reoffenders, Some(r.cohort), r.binary.value, r.binary.decimals),
            ],
        );
        report.add_table(binary);
        let mut frequency =
            table_for(&r.frequency, "cohort", &["reoffenders", "re-offences", "re-offences per reoffender"])?;
        frequency.push(
            area.clone(),
            vec![
                suppression.count(r.reoffenders),
                suppression.count(r.reoffences),
                suppression.rate(r.reoffences, Some(r.reoffenders), r.frequency.value, r.frequency.decimals),
            ],
        );
        report.add_table(frequency);
        if r.provisional {
            report.note(format!(
                "Reoffending is provisional: the events applied do not reach {}, the end of the cohort's 12 months of tracking.",
                r.tracking_ends
            ));
        }

        let custody = &figures.custody;
        report.add_table(rate_table(custody, &area, "custodial sentences", "rate per 1,000", suppression)?);
        for note in self.data_notes(params.borough.as_deref()) {
            report.note(note);
        }
        Ok(report)
    }
}

/// The name of an area in reports.
pub(crate) fn area_name(borough: Option<&str>) -> String {
    borough.map_or_else(|| "all boroughs".to_string(), |b| b.trim().to_string())
}

fn table_for(figure: &Figure, dimension: &str, columns: &[&str]) -> Result<Table, AnalyticsError> {
    let definition =
        figure.definition.lookup().ok_or_else(|| AnalyticsError::UnknownDefinition(figure.definition.clone()))?;
    Ok(Table::new(definition, Some(figure.window), figure.time_axis, dimension, columns))
}

fn rate_table(
    figure: &Figure,
    area: &str,
    count: &str,
    rate: &str,
    suppression: &Suppression,
) -> Result<Table, AnalyticsError> {
    let mut table = table_for(figure, "area", &[count, "population aged 10-17", rate])?;
    table.push(
        area,
        vec![
            suppression.count(figure.numerator),
            Cell::population(figure.denominator),
            suppression.rate(figure.numerator, None, figure.value, figure.decimals),
        ],
    );
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CellStatus;
    use crate::testkit::{Outcome, event, outcome, person, plus, reoffence};
    use pb::Disposal;
    use time::macros::date;

    /// A population file whose 10-17 total for Harrow is `total` (spread over
    /// the eight ages), with 9- and 18-year-olds and another borough that must
    /// not count.
    fn population(total: u64) -> Population {
        let mut text = String::from("borough,age,gender,ethnicity,count\nHarrow,9,*,*,3100\nHarrow,18,*,*,2950\n");
        let each = total / 8;
        for age in 10..=17u64 {
            let n = if age == 17 { total - each * 7 } else { each };
            text.push_str(&format!("Harrow,{age},*,*,{n}\n"));
        }
        text.push_str("Brent,14,*,*,4000\n");
        Population::parse(&text).unwrap()
    }

    fn apply_all(events: &[pb::Event]) -> Indicators {
        let mut ind = Indicators::default();
        for e in events {
            ind.apply(e);
        }
        ind
    }

    const PERIOD_END: Date = date!(2020 - 09 - 30);

    fn period(axis: TimeAxis) -> PeriodParams {
        PeriodParams { borough: Some("Harrow".into()), period_end: PERIOD_END, time_axis: axis }
    }

    /// 41 first-time entrants in the 12 months to 2020-09-30, among outcomes
    /// that must not count.
    fn fte_events() -> Vec<pb::Event> {
        let start = date!(2019 - 10 - 01);
        let disposals = [
            Disposal::YouthCaution,
            Disposal::YouthConditionalCaution,
            Disposal::ReferralOrder,
            Disposal::YouthRehabilitationOrder,
            Disposal::Custody,
        ];
        let mut events = Vec::new();
        for i in 0..40i64 {
            let o = Outcome::new(disposals[i as usize % disposals.len()], true, 10 + (i % 8) as u32);
            events.push(outcome(&format!("E-{i}"), &format!("C-{i:03}"), plus(start, i * 9), &o));
        }
        // The 41st: on the last day of the window (out of it by report time).
        events.push(outcome("E-40", "C-040", PERIOD_END, &Outcome::new(Disposal::YouthCaution, true, 15)));
        // Repeat flagged outcome for the same child: counted once.
        events.push(outcome("E-rep", "C-001", date!(2020 - 08 - 01), &Outcome::new(Disposal::ReferralOrder, true, 14)));
        // First flagged outcome before the window, another inside it: not a first-time entrant now.
        events.push(outcome("E-old", "C-100", date!(2019 - 09 - 20), &Outcome::new(Disposal::YouthCaution, true, 13)));
        events.push(outcome(
            "E-old2",
            "C-100",
            date!(2020 - 01 - 20),
            &Outcome::new(Disposal::ReferralOrder, true, 13),
        ));
        // Aged 18 at the offence.
        events.push(outcome(
            "E-age18",
            "C-101",
            date!(2020 - 02 - 01),
            &Outcome::new(Disposal::YouthCaution, true, 18),
        ));
        // Flagged, but triage and community resolution are not cautions.
        events.push(outcome("E-tri", "C-102", date!(2020 - 02 - 02), &Outcome::new(Disposal::Triage, true, 12)));
        events.push(outcome(
            "E-cr",
            "C-108",
            date!(2020 - 02 - 03),
            &Outcome::new(Disposal::CommunityResolution, true, 12),
        ));
        // After the window.
        events.push(outcome("E-late", "C-103", date!(2020 - 10 - 01), &Outcome::new(Disposal::YouthCaution, true, 12)));
        // Not flagged.
        events.push(outcome("E-nf", "C-104", date!(2020 - 03 - 01), &Outcome::new(Disposal::ReferralOrder, false, 16)));
        // Another borough.
        let mut brent =
            outcome("E-brent", "C-105", date!(2020 - 03 - 02), &Outcome::new(Disposal::YouthCaution, true, 14));
        brent.borough = "Brent".into();
        events.push(brent);
        // Flagged, then corrected: the correction says it was not a first entry.
        events.push(outcome(
            "E-wrong",
            "C-106",
            date!(2020 - 04 - 01),
            &Outcome::new(Disposal::YouthCaution, true, 14),
        ));
        let mut fix =
            outcome("E-fix", "C-106", date!(2020 - 04 - 01), &Outcome::new(Disposal::YouthCaution, false, 14));
        fix.corrects = "E-wrong".into();
        events.push(fix);
        // Unrelated events are ignored.
        events.push(event(
            "E-arrest",
            vec![person("C-107")],
            date!(2020 - 04 - 02),
            "Wealdstone",
            Body::Arrest(pb::Arrest { offence_category: "robbery".into(), ..Default::default() }),
        ));
        events
    }

    #[test]
    fn first_time_entrants_reproduce_harrow_176_per_100k() {
        let ind = apply_all(&fte_events());
        let fte = ind.first_time_entrants(&period(TimeAxis::EventTime), &population(23_300)).unwrap();
        assert_eq!((fte.numerator, fte.denominator), (41, 23_300));
        assert_eq!(fte.display(), "176");
        assert_eq!(fte.rounded(), Some(176.0));
        assert_eq!((fte.definition.id.as_str(), fte.definition.version), ("fte_rate", 1));
        assert_eq!(fte.window, Window::months_ending(PERIOD_END, 12));

        // By report time the last-day outcome (recorded a day later) falls out.
        let by_report = ind.first_time_entrants(&period(TimeAxis::ReportTime), &population(23_300)).unwrap();
        assert_eq!(by_report.numerator, 40);
        assert_eq!(by_report.definition.id, "fte_rate_report_time");

        // Published under domain practice, 41 is rounded to 40 but the rate stands.
        let report = ind.report(&params(), &population(23_300), &Suppression::domain_practice()).unwrap();
        let table = report.table("fte_rate").unwrap();
        assert_eq!(table.cell("Harrow", "first-time entrants").unwrap().shown, "40");
        assert_eq!(table.cell("Harrow", "rate per 100,000").unwrap().shown, "176");
        assert!(report.notes.iter().any(|n| n.contains("flagged first-time entrant are not a caution")));
    }

    #[test]
    fn missing_population_is_an_error() {
        let ind = apply_all(&fte_events());
        let mut p = period(TimeAxis::EventTime);
        p.borough = Some("Ealing".into());
        let err = ind.first_time_entrants(&p, &population(23_300)).unwrap_err();
        assert!(err.to_string().contains("Ealing"), "{err}");
    }

    fn params() -> IndicatorParams {
        IndicatorParams::new(Some("Harrow"), PERIOD_END)
    }

    /// A cohort of `cohort` children with caution/conviction disposals in the
    /// window, `reoffenders` of whom reoffend, with `reoffences` re-offences in
    /// all (spread over the reoffenders), plus events that must not count.
    fn cohort_events(window: Window, cohort: usize, reoffenders: usize, reoffences: usize) -> Vec<pb::Event> {
        let disposals =
            [Disposal::YouthCaution, Disposal::ReferralOrder, Disposal::YouthRehabilitationOrder, Disposal::Custody];
        let days = (window.to() - window.from()).whole_days();
        let mut events = Vec::new();
        let mut left = reoffences;
        for i in 0..cohort {
            let subject = format!("R-{i:03}");
            let decided = plus(window.from(), (i as i64 * 7) % (days + 1));
            let o = Outcome::new(disposals[i % disposals.len()], i % 2 == 0, 12 + (i % 6) as u32);
            let offence = plus(decided, -o.offence_days_before);
            events.push(outcome(&format!("O-{i}"), &subject, decided, &o));
            // A later outcome for the same child: still one cohort member.
            events.push(outcome(
                &format!("O2-{i}"),
                &subject,
                plus(decided, 1),
                &Outcome::new(Disposal::ReferralOrder, false, 15),
            ));
            if i < reoffenders {
                let share = left.div_ceil(reoffenders - i);
                left -= share;
                for k in 0..share {
                    let on = plus(offence, 10 + k as i64 * 11);
                    let mut e = reoffence(&format!("X-{i}-{k}"), &subject, offence, on);
                    if i == 0 && k == 0 {
                        // Linked by the outcome's id only, with no subject.
                        e.subjects.clear();
                        if let Some(Body::Reoffence(r)) = e.body.as_mut() {
                            r.original_event_id = format!("O-{i}");
                        }
                    }
                    events.push(e);
                }
                // More than 12 months after the index offence: not counted.
                events.push(reoffence(&format!("XL-{i}"), &subject, offence, plus(offence, 400)));
            } else {
                // Non-reoffenders: one re-offence too late, one before the index offence.
                events.push(reoffence(&format!("XL-{i}"), &subject, offence, plus(offence, 367)));
                events.push(reoffence(&format!("XE-{i}"), &subject, offence, plus(offence, -5)));
            }
        }
        // Not in the cohort: diversion only, too old, before the window, elsewhere, remand.
        let outside = [
            ("N-1", Outcome::new(Disposal::Triage, false, 14), window.from()),
            ("N-2", Outcome::new(Disposal::CommunityResolution, false, 14), window.from()),
            ("N-3", Outcome::new(Disposal::YouthCaution, true, 18), window.from()),
            ("N-4", Outcome::new(Disposal::YouthCaution, true, 14), plus(window.from(), -1)),
            ("N-5", Outcome::new(Disposal::ReferralOrder, false, 14), plus(window.to(), 1)),
            ("N-6", Outcome::new(Disposal::Remand, false, 14), window.to()),
        ];
        for (subject, o, on) in outside {
            events.push(outcome(&format!("O-{subject}"), subject, on, &o));
            events.push(reoffence(&format!("X-{subject}"), subject, on, plus(on, 20)));
        }
        let mut elsewhere = outcome("O-N-7", "N-7", window.to(), &Outcome::new(Disposal::YouthCaution, true, 14));
        elsewhere.borough = "Brent".into();
        events.push(elsewhere);
        events.push(reoffence("X-N-7", "N-7", window.to(), plus(window.to(), 20)));
        events
    }

    fn reoffending_for(
        cohort: CohortPeriod,
        end: Date,
        size: usize,
        reoffenders: usize,
        reoffences: usize,
    ) -> Reoffending {
        let window = Window::months_ending(end, cohort.months());
        let ind = apply_all(&cohort_events(window, size, reoffenders, reoffences));
        ind.reoffending(&ReoffendingParams { borough: Some("Harrow".into()), cohort, cohort_end: end })
    }

    #[test]
    fn reoffending_harrow_12_of_33_is_36_4_percent() {
        let r = reoffending_for(CohortPeriod::ThreeMonths, date!(2019 - 06 - 30), 33, 12, 30);
        assert_eq!((r.cohort, r.reoffenders), (33, 12));
        assert_eq!(r.binary.display(), "36.4");
        assert_eq!((r.binary.definition.id.as_str(), r.binary.definition.version), ("reoffending_binary", 2));
        assert_eq!(r.binary.window, Window::new(date!(2019 - 04 - 01), date!(2019 - 06 - 30)).unwrap());
        assert_eq!(r.reoffences, 30);
        assert_eq!(r.frequency.display(), "2.50");
    }

    #[test]
    fn reoffending_havering_15_of_72_is_20_8_percent() {
        let r = reoffending_for(CohortPeriod::TwelveMonths, date!(2018 - 12 - 31), 72, 15, 40);
        assert_eq!((r.cohort, r.reoffenders, r.reoffences), (72, 15, 40));
        assert_eq!(r.binary.display(), "20.8");
        assert_eq!(r.binary.definition.version, 1);
        assert_eq!(r.frequency.definition.id, "reoffending_frequency");
        assert_eq!(r.tracking_ends, date!(2019 - 12 - 31));
    }

    #[test]
    fn reoffending_westminster_frequency_is_4_90() {
        let r = reoffending_for(CohortPeriod::ThreeMonths, date!(2019 - 03 - 31), 25, 10, 49);
        assert_eq!((r.reoffenders, r.reoffences), (10, 49));
        assert_eq!(r.frequency.display(), "4.90");
        assert_eq!(r.binary.display(), "40.0");
    }

    #[test]
    fn empty_cohort_has_no_rate() {
        let r = Indicators::default().reoffending(&ReoffendingParams {
            borough: None,
            cohort: CohortPeriod::ThreeMonths,
            cohort_end: date!(2019 - 03 - 31),
        });
        assert_eq!((r.cohort, r.binary.value, r.frequency.value), (0, None, None));
        assert_eq!(r.binary.display(), "n/a");
        assert!(r.provisional);
    }

    fn custody_events() -> Vec<pb::Event> {
        let mut events = Vec::new();
        for i in 0..8i64 {
            let o = Outcome::new(Disposal::Custody, false, 14 + (i % 4) as u32);
            events.push(outcome(&format!("K-{i}"), &format!("K{i:02}"), plus(date!(2019 - 10 - 15), i * 40), &o));
        }
        // A second custodial sentence for one child counts again: 9 sentences.
        events.push(outcome("K-8", "K00", date!(2020 - 09 - 01), &Outcome::new(Disposal::Custody, false, 15)));
        // Not custodial sentences of children in the window.
        events.push(outcome("K-remand", "K20", date!(2020 - 01 - 10), &Outcome::new(Disposal::Remand, false, 15)));
        events.push(outcome("K-18", "K21", date!(2020 - 01 - 11), &Outcome::new(Disposal::Custody, false, 18)));
        events.push(outcome("K-early", "K22", date!(2019 - 09 - 30), &Outcome::new(Disposal::Custody, false, 16)));
        events.push(outcome(
            "K-yro",
            "K23",
            date!(2020 - 01 - 12),
            &Outcome::new(Disposal::YouthRehabilitationOrder, false, 16),
        ));
        events
    }

    #[test]
    fn custody_havering_9_is_0_39_per_1000() {
        let ind = apply_all(&custody_events());
        let c = ind.custody(&period(TimeAxis::EventTime), &population(23_000)).unwrap();
        assert_eq!((c.numerator, c.denominator), (9, 23_000));
        assert_eq!(c.display(), "0.39");
        assert_eq!((c.definition.id.as_str(), c.per), ("custody_rate", 1_000));
        // Published: 9 rounds to 10, the rate stands; under a threshold of 10 the rate is withheld.
        let report = ind.report(&params(), &population(23_000), &Suppression::domain_practice()).unwrap();
        let t = report.table("custody_rate").unwrap();
        assert_eq!(t.cell("Harrow", "custodial sentences").unwrap().shown, "10");
        assert_eq!(t.cell("Harrow", "rate per 1,000").unwrap().shown, "0.39");
        let strict = ind.report(&params(), &population(23_000), &Suppression::Threshold { below: 10 }).unwrap();
        let t = strict.table("custody_rate").unwrap();
        assert_eq!(t.cell("Harrow", "custodial sentences").unwrap().shown, "<10");
        assert_eq!(t.cell("Harrow", "rate per 1,000").unwrap().status, CellStatus::Withheld);
        assert!(!strict.to_json().unwrap().contains("0.39"));
    }

    #[test]
    fn checkpoint_and_resume_gives_the_same_report() {
        let mut events = fte_events();
        events.extend(custody_events());
        // A cohort window (April-June 2019) clear of the other events' outcomes.
        let cohort_window = Window::months_ending(date!(2019 - 06 - 30), 3);
        events.extend(cohort_events(cohort_window, 33, 12, 30));
        let mut params = params();
        params.cohort_end = date!(2019 - 06 - 30);
        let pop = population(23_300);
        let rule = Suppression::domain_practice();
        let whole = apply_all(&events).report(&params, &pop, &rule).unwrap();
        for split in [0, 1, events.len() / 3, events.len() - 1, events.len()] {
            let first = apply_all(&events[..split]);
            let saved = serde_json::to_string(&first).unwrap();
            let mut resumed: Indicators = serde_json::from_str(&saved).unwrap();
            for e in &events[split..] {
                resumed.apply(e);
            }
            assert_eq!(resumed, apply_all(&events));
            assert_eq!(resumed.report(&params, &pop, &rule).unwrap(), whole, "split at {split}");
        }
        let r = whole.table("reoffending_binary").unwrap();
        assert_eq!(r.cell("Harrow", "children in cohort").unwrap().shown, "35");
        assert_eq!(r.cell("Harrow", "binary rate (%)").unwrap().shown, "36.4");
        assert!(whole.definitions.iter().any(|d| d.id == "reoffending_binary" && d.version == 2));
    }
}
