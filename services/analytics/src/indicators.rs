//! The three national youth justice indicators (domain.md, "Analytics"),
//! computed from replayed events by an incremental projection, as the
//! Ministry of Justice / YJB national measures define them.
//!
//! [`Indicators`] keeps one small record per youth justice outcome,
//! re-offence and release from custody it is given ([`Indicators::apply`]);
//! it is serde-serialisable, so a caller can checkpoint it with the log
//! position reached and resume later. The figures are computed on demand for
//! any period, with days in the partnership's time zone ([`Zone`]):
//!
//! - **First-time entrants** ([`Indicators::first_time_entrants`]): children
//!   10-17 receiving their first caution or conviction in 12 months, per
//!   100,000 of the 10-17 population; "first" from the child's history in
//!   the log where the log knows it, from the publisher's flag where not.
//! - **Reoffending** ([`Indicators::reoffending`]): a cohort of children
//!   cautioned, convicted or released from custody in a 3- or 12-month
//!   window, each followed for 12 months from that date; a re-offence is
//!   committed in the follow-up and proven by its end plus 6 months. Binary
//!   rate (%) and re-offences per reoffender.
//! - **Custody** ([`Indicators::custody`]): custodial sentences of children
//!   10-17 in 12 months, per 1,000 of the 10-17 population.
//!
//! Every figure carries its numerator, denominator, unrounded value, window,
//! time axis and the id and version of its [`Definition`]; the definitions'
//! texts say exactly which events count. [`Indicators::report`] publishes them
//! under a small-number [`Suppression`] rule.

use std::collections::{BTreeMap, BTreeSet};

use concord_core::pb::{self, event::Body};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::AnalyticsError;
use crate::definitions::{self, Definition, DefinitionRef};
use crate::merges::Merges;
use crate::population::{Population, YOUTH_AGES};
use crate::records::{self, Records, first_person, in_borough, is_caution_or_conviction};
use crate::report::{Cell, Report, Table};
use crate::suppression::{Denominator, Suppression, format_decimals, round_to};
use crate::window::{TimeAxis, Window, Zone, add_months};

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
    /// numerator / denominator x per from the exact counts, unrounded;
    /// `None` when the denominator is 0. Never published as it is: see
    /// [`Suppression::rate`].
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

    /// The exact value rounded to its published precision (halves away from zero).
    pub fn rounded(&self) -> Option<f64> {
        self.value.map(|v| round_to(v, self.decimals))
    }

    /// The exact value to its published precision, e.g. `176`, `36.4`,
    /// `0.39` (ground truth, before suppression); `n/a` when undefined.
    pub fn display(&self) -> String {
        self.value.map_or_else(|| "n/a".to_string(), |v| format_decimals(v, self.decimals))
    }
}

/// The length of a reoffending cohort window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CohortPeriod {
    /// 3 months: the current national measure (definition version 4).
    #[default]
    ThreeMonths,
    /// 12 months: the former national cohort period (definition version 3).
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

/// Months a child is followed from their index date.
const FOLLOW_UP_MONTHS: i64 = 12;
/// Months after the follow-up within which a re-offence must be proven.
const PROVEN_WITHIN_MONTHS: i64 = 6;

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
    /// The partnership's time zone, which places events on days.
    pub zone: Zone,
}

/// The parameters of the reoffending measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReoffendingParams {
    /// The borough of the cohort's outcomes and releases; `None`: every
    /// borough. Re-offences count wherever they were recorded.
    pub borough: Option<String>,
    /// 3 or 12 months.
    pub cohort: CohortPeriod,
    /// The last day of the cohort window.
    pub cohort_end: Date,
    /// The partnership's time zone, which places events on days.
    pub zone: Zone,
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
    /// The partnership's time zone, which places events on days.
    pub zone: Zone,
}

impl IndicatorParams {
    /// Figures for the 12 months to `period_end` by event time in
    /// Europe/London, and reoffending for the 3-month cohort ending 18 months
    /// earlier (so that its 12 months of follow-up and 6 months for proving
    /// have run by `period_end`).
    pub fn new(borough: Option<&str>, period_end: Date) -> Self {
        IndicatorParams {
            borough: borough.map(str::to_string),
            period_end,
            time_axis: TimeAxis::EventTime,
            cohort: CohortPeriod::ThreeMonths,
            cohort_end: add_months(period_end, -(FOLLOW_UP_MONTHS + PROVEN_WITHIN_MONTHS)),
            zone: Zone::default(),
        }
    }

    fn period(&self) -> PeriodParams {
        PeriodParams {
            borough: self.borough.clone(),
            period_end: self.period_end,
            time_axis: self.time_axis,
            zone: self.zone.clone(),
        }
    }

    fn reoffending(&self) -> ReoffendingParams {
        ReoffendingParams {
            borough: self.borough.clone(),
            cohort: self.cohort,
            cohort_end: self.cohort_end,
            zone: self.zone.clone(),
        }
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
    /// Their re-offences.
    pub reoffences: u64,
    /// The last day by which a cohort member's re-offence can be proven (the
    /// cohort window's end plus 12 months of follow-up plus 6 months).
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

    /// A caution or conviction: proven, and a first entry if the first.
    fn formal(&self) -> bool {
        is_caution_or_conviction(self.disposal())
    }

    /// When the offence was committed (the outcome's date when not recorded).
    fn offence_or_decided(&self) -> Option<i64> {
        self.offence.or(self.occurred)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ReoffenceRecord {
    subject: Option<String>,
    original_event_id: String,
    /// When the further offence was committed (`reoffence_date`, else `occurred_at`).
    date: Option<i64>,
    /// When it was proven (`proven_date`, else `recorded_at`).
    #[serde(default)]
    proven: Option<i64>,
    /// Whether `proven_date` was set (else `proven` is the recorded time).
    #[serde(default)]
    proven_date_given: bool,
    /// The outcome that proved it, if named.
    #[serde(default)]
    proven_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ReleaseRecord {
    subject: Option<String>,
    borough: String,
    /// The day of release.
    occurred: Option<i64>,
    /// Age on release.
    age: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Record {
    Outcome(OutcomeRecord),
    Reoffence(ReoffenceRecord),
    Release(ReleaseRecord),
}

fn extract(event: &pb::Event) -> Option<Record> {
    let millis = |t| records::millis(t);
    match event.body.as_ref()? {
        Body::YouthJusticeOutcome(o) => Some(Record::Outcome(OutcomeRecord {
            subject: first_person(event),
            borough: event.borough.clone(),
            occurred: millis(event.occurred_at.as_ref()),
            recorded: millis(event.recorded_at.as_ref()),
            offence: millis(o.offence_date.as_ref()),
            disposal: o.disposal,
            fte: o.first_time_entrant,
            age: o.age,
        })),
        Body::Reoffence(r) => Some(Record::Reoffence(ReoffenceRecord {
            subject: first_person(event),
            original_event_id: r.original_event_id.clone(),
            date: millis(r.reoffence_date.as_ref()).or(millis(event.occurred_at.as_ref())),
            proven: millis(r.proven_date.as_ref()).or(millis(event.recorded_at.as_ref())),
            proven_date_given: r.proven_date.is_some(),
            proven_by: r.proven_by_event_id.clone(),
        })),
        Body::ReleaseFromCustody(r) => Some(Record::Release(ReleaseRecord {
            subject: first_person(event),
            borough: event.borough.clone(),
            occurred: millis(event.occurred_at.as_ref()),
            age: r.age,
        })),
        _ => None,
    }
}

/// How one child's first caution or conviction in the log was judged a
/// first entry or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstEntry {
    /// The log reaches back to the child's 10th birthday: it is the first.
    KnownFirst {
        /// The publisher's flag said it was not.
        flag_disagrees: bool,
    },
    /// The log does not reach back that far: the publisher's flag decides.
    ByFlag(bool),
}

impl FirstEntry {
    fn is_first(self) -> bool {
        matches!(self, FirstEntry::KnownFirst { .. } | FirstEntry::ByFlag(true))
    }
}

/// Data notes' tallies of how first entries were decided.
#[derive(Debug, Default)]
struct FirstEntryTally {
    /// Later cautions or convictions flagged first-time entrant although the
    /// log holds an earlier one.
    flagged_but_earlier: u64,
    /// First ones the flag says are not, though the log reaches back to age 10.
    unflagged_but_first: u64,
    /// First ones decided by the flag alone.
    by_flag: u64,
}

/// The incremental projection behind the national indicators. Apply every
/// replayed event in log order, then ask for figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Indicators {
    records: Records<Record>,
    events_applied: u64,
    /// The latest `recorded_at` of any event applied (ms since the epoch).
    latest_recorded: Option<i64>,
    /// The earliest `occurred_at` of any event applied: how far back the
    /// log's history is known.
    #[serde(default)]
    earliest_occurred: Option<i64>,
    /// Merges as they stand: a merged pair of people is one child.
    #[serde(default)]
    merges: Merges,
}

impl Indicators {
    /// Applies one replayed event (any type: those that do not bear on the
    /// indicators are only counted, and date how far back the log reaches).
    pub fn apply(&mut self, event: &pb::Event) {
        self.events_applied += 1;
        if let Some(recorded) = records::millis(event.recorded_at.as_ref()) {
            self.latest_recorded = Some(self.latest_recorded.map_or(recorded, |l| l.max(recorded)));
        }
        if let Some(occurred) = records::millis(event.occurred_at.as_ref()) {
            self.earliest_occurred = Some(self.earliest_occurred.map_or(occurred, |e| e.min(occurred)));
        }
        self.records.apply(event, |e, _| extract(e));
        self.merges.apply(event);
    }

    /// The child a record's person subject is, as merges stand.
    fn person<'a>(&'a self, subject: &'a Option<String>) -> Option<&'a str> {
        subject.as_deref().map(|s| self.merges.kept(s))
    }

    /// How many events have been applied.
    pub fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn outcomes(&self) -> impl Iterator<Item = (&String, &OutcomeRecord)> {
        self.records.iter().filter_map(|(k, r)| match r {
            Record::Outcome(o) => Some((k, o)),
            _ => None,
        })
    }

    fn reoffences(&self) -> impl Iterator<Item = &ReoffenceRecord> {
        self.records.iter().filter_map(|(_, r)| match r {
            Record::Reoffence(o) => Some(o),
            _ => None,
        })
    }

    fn releases(&self) -> impl Iterator<Item = (&String, &ReleaseRecord)> {
        self.records.iter().filter_map(|(k, r)| match r {
            Record::Release(o) => Some((k, o)),
            _ => None,
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

    /// Each child's first caution or conviction in the log (any borough, by
    /// event time, ties by event key) and how it was judged; with the tally
    /// of where the flag and the history disagree.
    fn first_entries(&self, zone: &Zone) -> (BTreeMap<&str, (&OutcomeRecord, FirstEntry)>, FirstEntryTally) {
        let mut first: BTreeMap<&str, (i64, &str, &OutcomeRecord)> = BTreeMap::new();
        let mut tally = FirstEntryTally::default();
        for (key, o) in self.outcomes().filter(|(_, o)| o.formal()) {
            let (Some(subject), Some(at)) = (self.person(&o.subject), o.occurred) else { continue };
            let candidate = (at, key.as_str(), o);
            match first.get(subject) {
                Some(current) if (current.0, current.1) <= (at, key.as_str()) => {}
                _ => {
                    first.insert(subject, candidate);
                }
            }
        }
        // Later ones the publisher flagged as first, though the log holds an earlier one.
        for (key, o) in self.outcomes().filter(|(_, o)| o.formal() && o.fte) {
            let Some(subject) = self.person(&o.subject) else { continue };
            if first.get(subject).is_some_and(|f| f.1 != key.as_str()) {
                tally.flagged_but_earlier += 1;
            }
        }
        let judged = first
            .into_iter()
            .map(|(subject, (_, _, o))| {
                let judged = if self.knows_history_of(o, zone) {
                    tally.unflagged_but_first += u64::from(!o.fte);
                    FirstEntry::KnownFirst { flag_disagrees: !o.fte }
                } else {
                    tally.by_flag += 1;
                    FirstEntry::ByFlag(o.fte)
                };
                (subject, (o, judged))
            })
            .collect();
        (judged, tally)
    }

    /// Whether the events applied reach back to the earliest day the child
    /// of `outcome` can have turned 10 (aged A at an offence on day D: born
    /// after D minus A+1 years, so 10 after D minus A-9 years), so that no
    /// earlier caution or conviction of theirs can be missing from the log.
    fn knows_history_of(&self, outcome: &OutcomeRecord, zone: &Zone) -> bool {
        let (Some(earliest), Some(offence)) = (self.earliest_occurred, outcome.offence_or_decided()) else {
            return false;
        };
        if outcome.age < 10 {
            return false;
        }
        let earliest_tenth_birthday = add_months(zone.date_of(offence), -12 * i64::from(outcome.age - 9));
        zone.date_of(earliest) <= earliest_tenth_birthday
    }

    /// First-time entrants in the 12 months to `params.period_end`, per
    /// 100,000 of the 10-17 population (definition `fte_rate` version 2, or
    /// `fte_rate_report_time` version 2 by report time).
    ///
    /// A child's first caution or conviction is decided from the log where
    /// it knows the child's history, from the publisher's flag where not
    /// (see the definition): replay from the start of the log.
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
        let (firsts, _) = self.first_entries(&params.zone);
        let numerator = firsts
            .values()
            .filter(|(o, judged)| judged.is_first() && o.youth() && in_borough(&o.borough, borough))
            .filter(|(o, _)| o.time(params.time_axis).is_some_and(|at| window.contains_millis(at, &params.zone)))
            .count() as u64;
        Ok(Figure::new(definition, window, params.time_axis, numerator, denominator))
    }

    /// Custodial sentences of children 10-17 in the 12 months to
    /// `params.period_end`, per 1,000 of the 10-17 population (definition
    /// `custody_rate` version 2, or `custody_rate_report_time` by report time).
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
            .filter(|(_, o)| o.time(params.time_axis).is_some_and(|at| window.contains_millis(at, &params.zone)))
            .count() as u64;
        Ok(Figure::new(definition, window, params.time_axis, numerator, denominator))
    }

    /// Each cohort member's index date: their first caution, non-custodial
    /// conviction or release from custody in `window`, aged 10-17.
    fn index_dates(&self, window: Window, borough: Option<&str>, zone: &Zone) -> BTreeMap<&str, Date> {
        let outcomes = self
            .outcomes()
            .filter(|(_, o)| o.formal() && o.disposal() != pb::Disposal::Custody && o.youth())
            .map(|(_, o)| (self.person(&o.subject), o.occurred, o.borough.as_str()));
        let releases = self
            .releases()
            .filter(|(_, r)| YOUTH_AGES.contains(&r.age))
            .map(|(_, r)| (self.person(&r.subject), r.occurred, r.borough.as_str()));
        let mut index: BTreeMap<&str, Date> = BTreeMap::new();
        for (subject, at, place) in outcomes.chain(releases) {
            let (Some(subject), Some(at)) = (subject, at) else { continue };
            let day = zone.date_of(at);
            if !window.contains(day) || !in_borough(place, borough) {
                continue;
            }
            let first = index.entry(subject).or_insert(day);
            *first = (*first).min(day);
        }
        index
    }

    /// The reoffending binary rate and frequency for the cohort window ending
    /// `params.cohort_end` (definitions `reoffending_binary` and
    /// `reoffending_frequency`, version 4 for 3-month cohorts, 3 for
    /// 12-month): the national measure (see the definitions' texts).
    ///
    /// Replay from the start of the cohort window to at least
    /// [`Reoffending::tracking_ends`] (plus recording lag): re-offences proven
    /// after the events applied are unknown, which the figure flags as
    /// provisional. Re-offences count wherever they were recorded (the
    /// borough filter applies to the cohort).
    pub fn reoffending(&self, params: &ReoffendingParams) -> Reoffending {
        let zone = &params.zone;
        let window = Window::months_ending(params.cohort_end, params.cohort.months());
        let index = self.index_dates(window, params.borough.as_deref(), zone);
        // The day a child's follow-up ends, and the last day an offence in it may be proven.
        let follow_up = |start: Date| {
            let end = add_months(start, FOLLOW_UP_MONTHS);
            (start, end, add_months(end, PROVEN_WITHIN_MONTHS))
        };
        let counts = |start: Date, committed: i64, proven: i64| {
            let (start, end, deadline) = follow_up(start);
            let committed = zone.date_of(committed);
            start < committed && committed <= end && zone.date_of(proven) <= deadline
        };
        let mut reoffences_by: BTreeMap<&str, u64> = BTreeMap::new();
        let mut subject_of_outcome: BTreeMap<&str, &str> = BTreeMap::new();
        // (a) New cautions and convictions for offences in the follow-up.
        for (key, o) in self.outcomes() {
            let Some(subject) = self.person(&o.subject) else { continue };
            subject_of_outcome.insert(key.as_str(), subject);
            let (Some(start), Some(committed), Some(proven)) = (index.get(subject), o.offence, o.occurred) else {
                continue;
            };
            if o.formal() && counts(*start, committed, proven) {
                *reoffences_by.entry(subject).or_default() += 1;
            }
        }
        // (b) Re-offences published as such, unless proven by an outcome in the log (counted under (a)).
        let outcome_keys: BTreeSet<&str> = subject_of_outcome.keys().copied().collect();
        for r in self.reoffences() {
            if !r.proven_by.is_empty() && outcome_keys.contains(r.proven_by.as_str()) {
                continue;
            }
            let subject =
                self.person(&r.subject).or_else(|| subject_of_outcome.get(r.original_event_id.as_str()).copied());
            let (Some(subject), Some(committed), Some(proven)) = (subject, r.date, r.proven) else { continue };
            if index.get(subject).is_some_and(|start| counts(*start, committed, proven)) {
                *reoffences_by.entry(subject).or_default() += 1;
            }
        }
        let cohort = index.len() as u64;
        let reoffenders = reoffences_by.len() as u64;
        let reoffences: u64 = reoffences_by.values().sum();
        let (binary_definition, frequency_definition) = params.cohort.definitions();
        let (_, _, tracking_ends) = follow_up(window.to());
        let tracking_end_millis = Window::months_ending(tracking_ends, 0).end_millis_exclusive(zone);
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

    /// Data-quality caveats about the records behind the indicators, days
    /// placed in `zone`.
    pub fn data_notes(&self, borough: Option<&str>, zone: &Zone) -> Vec<String> {
        let mut no_subject = 0u64;
        let mut fte_not_formal = 0u64;
        let mut no_age = 0u64;
        for (_, o) in self.outcomes().filter(|(_, o)| in_borough(&o.borough, borough)) {
            no_subject += u64::from(o.subject.is_none());
            fte_not_formal += u64::from(o.fte && !o.formal());
            no_age += u64::from(o.age == 0);
        }
        let unlinked = self.reoffences().filter(|r| r.subject.is_none()).count();
        let unproven = self.reoffences().filter(|r| !r.proven_date_given).count();
        let (_, tally) = self.first_entries(zone);
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
        if tally.flagged_but_earlier > 0 {
            notes.push(format!(
                "{} caution(s) or conviction(s) flagged first-time entrant follow an earlier caution or conviction of the same child in the log: the flag disagrees with the child's history, and the history is used.",
                tally.flagged_but_earlier
            ));
        }
        if tally.unflagged_but_first > 0 {
            notes.push(format!(
                "{} child(ren)'s first caution or conviction is not flagged first-time entrant, though the log reaches back to their 10th birthday and holds no earlier one: the flag disagrees with the child's history, and the history is used.",
                tally.unflagged_but_first
            ));
        }
        if tally.by_flag > 0 {
            notes.push(format!(
                "{} child(ren)'s first caution or conviction in the log was judged a first entry or not by the publisher's flag alone: the log does not reach back to their 10th birthday.",
                tally.by_flag
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
        if unproven > 0 {
            notes.push(format!(
                "{unproven} re-offence(s) carry no proven date: taken as proven when recorded (recorded_at)."
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
                suppression.rate(r.reoffenders, Denominator::Counted(r.cohort), r.binary.per, r.binary.decimals),
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
                suppression.rate(
                    r.reoffences,
                    Denominator::Counted(r.reoffenders),
                    r.frequency.per,
                    r.frequency.decimals,
                ),
            ],
        );
        report.add_table(frequency);
        if r.provisional {
            report.note(format!(
                "Reoffending is provisional: the events applied do not reach {}, the last day a re-offence in the cohort's 12 months of follow-up can be proven.",
                r.tracking_ends
            ));
        }

        let custody = &figures.custody;
        report.add_table(rate_table(custody, &area, "custodial sentences", "rate per 1,000", suppression)?);
        let computed: Vec<String> =
            [&fte.definition, &r.binary.definition, &r.frequency.definition, &custody.definition]
                .iter()
                .map(|d| format!("{} version {}", d.id, d.version))
                .collect();
        report.note(format!("Computed under {}; days in the {} time zone.", computed.join(", "), params.zone));
        for note in self.data_notes(params.borough.as_deref(), &params.zone) {
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
            suppression.rate(
                figure.numerator,
                Denominator::Population(figure.denominator),
                figure.per,
                figure.decimals,
            ),
        ],
    );
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CellStatus;
    use crate::testkit::{Outcome, at, event, outcome, person, plus, reoffence};
    use jiff::civil::date;
    use pb::Disposal;

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

    const PERIOD_END: Date = date(2020, 9, 30);

    fn period(axis: TimeAxis) -> PeriodParams {
        PeriodParams { borough: Some("Harrow".into()), period_end: PERIOD_END, time_axis: axis, zone: Zone::default() }
    }

    /// 41 first-time entrants in the 12 months to 2020-09-30, among outcomes
    /// that must not count.
    fn fte_events() -> Vec<pb::Event> {
        let start = date(2019, 10, 1);
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
        events.push(outcome("E-rep", "C-001", date(2020, 8, 1), &Outcome::new(Disposal::ReferralOrder, true, 14)));
        // First flagged outcome before the window, another inside it: not a first-time entrant now.
        events.push(outcome("E-old", "C-100", date(2019, 9, 20), &Outcome::new(Disposal::YouthCaution, true, 13)));
        events.push(outcome("E-old2", "C-100", date(2020, 1, 20), &Outcome::new(Disposal::ReferralOrder, true, 13)));
        // Aged 18 at the offence.
        events.push(outcome("E-age18", "C-101", date(2020, 2, 1), &Outcome::new(Disposal::YouthCaution, true, 18)));
        // Flagged, but triage and community resolution are not cautions.
        events.push(outcome("E-tri", "C-102", date(2020, 2, 2), &Outcome::new(Disposal::Triage, true, 12)));
        events.push(outcome("E-cr", "C-108", date(2020, 2, 3), &Outcome::new(Disposal::CommunityResolution, true, 12)));
        // After the window.
        events.push(outcome("E-late", "C-103", date(2020, 10, 1), &Outcome::new(Disposal::YouthCaution, true, 12)));
        // Not flagged.
        events.push(outcome("E-nf", "C-104", date(2020, 3, 1), &Outcome::new(Disposal::ReferralOrder, false, 16)));
        // Another borough.
        let mut brent = outcome("E-brent", "C-105", date(2020, 3, 2), &Outcome::new(Disposal::YouthCaution, true, 14));
        brent.borough = "Brent".into();
        events.push(brent);
        // Flagged, then corrected: the correction says it was not a first entry.
        events.push(outcome("E-wrong", "C-106", date(2020, 4, 1), &Outcome::new(Disposal::YouthCaution, true, 14)));
        let mut fix = outcome("E-fix", "C-106", date(2020, 4, 1), &Outcome::new(Disposal::YouthCaution, false, 14));
        fix.corrects = "E-wrong".into();
        events.push(fix);
        // Unrelated events are ignored.
        events.push(event(
            "E-arrest",
            vec![person("C-107")],
            date(2020, 4, 2),
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
        assert_eq!((fte.definition.id.as_str(), fte.definition.version), ("fte_rate", 2));
        assert_eq!(fte.window, Window::months_ending(PERIOD_END, 12));

        // By report time the last-day outcome (recorded a day later) falls out.
        let by_report = ind.first_time_entrants(&period(TimeAxis::ReportTime), &population(23_300)).unwrap();
        assert_eq!(by_report.numerator, 40);
        assert_eq!(by_report.definition.id, "fte_rate_report_time");

        // Published under domain practice, 41 is rounded to 40 and the rate
        // is of the 40: 40 / 23,300 x 100,000 = 171.67 -> 172.
        let report = ind.report(&params(), &population(23_300), &Suppression::domain_practice()).unwrap();
        let table = report.table("fte_rate").unwrap();
        assert_eq!(table.cell("Harrow", "first-time entrants").unwrap().shown, "40");
        assert_eq!(table.cell("Harrow", "rate per 100,000").unwrap().shown, "172");
        assert!(report.notes.iter().any(|n| n.contains("flagged first-time entrant are not a caution")));
    }

    #[test]
    fn a_merged_pair_of_children_enters_once_until_unmerged() {
        let merge =
            |id: &str, body: Body| event(id, vec![person("C-001"), person("C-002")], PERIOD_END, "Wealdstone", body);
        let fte = |events: &[pb::Event]| {
            let ind = apply_all(events);
            ind.first_time_entrants(&period(TimeAxis::EventTime), &population(23_300)).unwrap().numerator
        };
        // C-002 is found to be C-001: one child, whose first entry is C-001's.
        let mut events = fte_events();
        events.push(merge("E-merge", Body::SubjectsMerged(pb::SubjectsMerged {})));
        assert_eq!(fte(&events), 40);
        events.push(merge("E-unmerge", Body::SubjectsUnmerged(pb::SubjectsUnmerged {})));
        assert_eq!(fte(&events), 41);
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

    /// A cohort of `cohort` children with non-custodial caution/conviction
    /// disposals in the window, `reoffenders` of whom reoffend in the 12
    /// months after it, with `reoffences` re-offences in all (spread over the
    /// reoffenders), plus events that must not count.
    fn cohort_events(window: Window, cohort: usize, reoffenders: usize, reoffences: usize) -> Vec<pb::Event> {
        let disposals = [
            Disposal::YouthCaution,
            Disposal::ReferralOrder,
            Disposal::YouthRehabilitationOrder,
            Disposal::YouthConditionalCaution,
        ];
        let days = i64::from((window.to() - window.from()).get_days());
        let mut events = Vec::new();
        let mut left = reoffences;
        for i in 0..cohort {
            let subject = format!("R-{i:03}");
            let decided = plus(window.from(), (i as i64 * 7) % (days + 1));
            let o = Outcome::new(disposals[i % disposals.len()], i % 2 == 0, 12 + (i % 6) as u32);
            let offence = plus(decided, -o.offence_days_before);
            events.push(outcome(&format!("O-{i}"), &subject, decided, &o));
            // The follow-up runs from the day after the disposal.
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
                    let on = plus(decided, 10 + k as i64 * 11);
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
                // More than 12 months after the disposal: not counted.
                events.push(reoffence(&format!("XL-{i}"), &subject, offence, plus(decided, 400)));
            } else {
                // Non-reoffenders: one re-offence too late, one between the
                // index offence and its disposal (before the follow-up).
                events.push(reoffence(&format!("XL-{i}"), &subject, offence, plus(decided, 367)));
                events.push(reoffence(&format!("XE-{i}"), &subject, offence, plus(decided, -5)));
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
        ind.reoffending(&ReoffendingParams {
            borough: Some("Harrow".into()),
            cohort,
            cohort_end: end,
            zone: Zone::default(),
        })
    }

    #[test]
    fn reoffending_harrow_12_of_33_is_36_4_percent() {
        let r = reoffending_for(CohortPeriod::ThreeMonths, date(2019, 6, 30), 33, 12, 30);
        assert_eq!((r.cohort, r.reoffenders), (33, 12));
        assert_eq!(r.binary.display(), "36.4");
        assert_eq!((r.binary.definition.id.as_str(), r.binary.definition.version), ("reoffending_binary", 4));
        assert_eq!(r.binary.window, Window::new(date(2019, 4, 1), date(2019, 6, 30)).unwrap());
        assert_eq!(r.reoffences, 30);
        assert_eq!(r.frequency.display(), "2.50");
    }

    #[test]
    fn reoffending_havering_15_of_72_is_20_8_percent() {
        let r = reoffending_for(CohortPeriod::TwelveMonths, date(2018, 12, 31), 72, 15, 40);
        assert_eq!((r.cohort, r.reoffenders, r.reoffences), (72, 15, 40));
        assert_eq!(r.binary.display(), "20.8");
        assert_eq!(r.binary.definition.version, 3);
        assert_eq!(r.frequency.definition.id, "reoffending_frequency");
        // 12 months of follow-up and 6 to be proven after 2018-12-31.
        assert_eq!(r.tracking_ends, date(2020, 6, 30));
    }

    #[test]
    fn reoffending_westminster_frequency_is_4_90() {
        let r = reoffending_for(CohortPeriod::ThreeMonths, date(2019, 3, 31), 25, 10, 49);
        assert_eq!((r.reoffenders, r.reoffences), (10, 49));
        assert_eq!(r.frequency.display(), "4.90");
        assert_eq!(r.binary.display(), "40.0");
    }

    #[test]
    fn empty_cohort_has_no_rate() {
        let r = Indicators::default().reoffending(&ReoffendingParams {
            zone: Zone::default(),
            borough: None,
            cohort: CohortPeriod::ThreeMonths,
            cohort_end: date(2019, 3, 31),
        });
        assert_eq!((r.cohort, r.binary.value, r.frequency.value), (0, None, None));
        assert_eq!(r.binary.display(), "n/a");
        assert!(r.provisional);
    }

    fn custody_events() -> Vec<pb::Event> {
        let mut events = Vec::new();
        for i in 0..8i64 {
            let o = Outcome::new(Disposal::Custody, false, 14 + (i % 4) as u32);
            events.push(outcome(&format!("K-{i}"), &format!("K{i:02}"), plus(date(2019, 10, 15), i * 40), &o));
        }
        // A second custodial sentence for one child counts again: 9 sentences.
        events.push(outcome("K-8", "K00", date(2020, 9, 1), &Outcome::new(Disposal::Custody, false, 15)));
        // Not custodial sentences of children in the window.
        events.push(outcome("K-remand", "K20", date(2020, 1, 10), &Outcome::new(Disposal::Remand, false, 15)));
        events.push(outcome("K-18", "K21", date(2020, 1, 11), &Outcome::new(Disposal::Custody, false, 18)));
        events.push(outcome("K-early", "K22", date(2019, 9, 30), &Outcome::new(Disposal::Custody, false, 16)));
        events.push(outcome(
            "K-yro",
            "K23",
            date(2020, 1, 12),
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
        // Published: 9 rounds to 10, and the rate is of the published count:
        // 10 / 23,000 x 1,000 = 0.4348 -> 0.43 (0.39 would give 9 back).
        let report = ind.report(&params(), &population(23_000), &Suppression::domain_practice()).unwrap();
        let t = report.table("custody_rate").unwrap();
        assert_eq!(t.cell("Harrow", "custodial sentences").unwrap().shown, "10");
        assert_eq!(t.cell("Harrow", "rate per 1,000").unwrap().shown, "0.43");
        assert!(!report.to_json().unwrap().contains("0.39"));
        assert_eq!(t.definition.version, 2);
    }

    #[test]
    fn checkpoint_and_resume_gives_the_same_report() {
        let mut events = fte_events();
        events.extend(custody_events());
        // A cohort window (April-June 2019) clear of the other events' outcomes.
        let cohort_window = Window::months_ending(date(2019, 6, 30), 3);
        events.extend(cohort_events(cohort_window, 33, 12, 30));
        let mut params = params();
        params.cohort_end = date(2019, 6, 30);
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
        // 33 publishes 35 and 12 publishes 10: 10 / 35 x 100 = 28.57 -> 28.6.
        assert_eq!(r.cell("Harrow", "children in cohort").unwrap().shown, "35");
        assert_eq!(r.cell("Harrow", "binary rate (%)").unwrap().shown, "28.6");
        assert!(whole.definitions.iter().any(|d| d.id == "reoffending_binary" && d.version == 4));
        assert!(whole.notes.iter().any(|n| n.contains("reoffending_binary version 4")
            && n.contains("fte_rate version 2")
            && n.contains("custody_rate version 2")
            && n.contains("Europe/London")));
    }

    fn three_months_to_june_2019(zone: Zone) -> ReoffendingParams {
        ReoffendingParams {
            borough: Some("Harrow".into()),
            cohort: CohortPeriod::ThreeMonths,
            cohort_end: date(2019, 6, 30),
            zone,
        }
    }

    /// A re-offence committed on `committed`, proven on `proven`.
    fn proven_reoffence(id: &str, subject: &str, committed: Date, proven: Date) -> pb::Event {
        let mut e = reoffence(id, subject, plus(committed, -60), committed);
        if let Some(Body::Reoffence(r)) = e.body.as_mut() {
            r.proven_date = Some(at(proven, 0));
        }
        e
    }

    /// A release from custody of `subject`, aged `age`, on `on`.
    fn release(id: &str, subject: &str, on: Date, age: u32) -> pb::Event {
        event(
            id,
            vec![person(subject)],
            on,
            "Wealdstone",
            Body::ReleaseFromCustody(pb::ReleaseFromCustody { sentence_event_id: String::new(), age }),
        )
    }

    /// Rule 1 of #21: the follow-up runs from the caution or conviction, and
    /// a re-offence counts when proven by the follow-up's end plus 6 months.
    #[test]
    fn follow_up_starts_at_the_disposal_and_counts_what_is_proven_in_time() {
        // Cohort window 2019-04-01 to 2019-06-30.
        let events = vec![
            // A: cautioned 2019-05-10 (offence 2019-04-10). Follow-up
            // 2019-05-11 to 2020-05-10; proven by 2020-11-10.
            outcome("O-A", "A", date(2019, 5, 10), &Outcome::new(Disposal::YouthCaution, true, 15)),
            // Committed after the index offence but before the caution: not
            // in the follow-up (the earlier definition counted it).
            proven_reoffence("A1", "A", date(2019, 4, 20), date(2019, 6, 1)),
            // In the follow-up, proven within 6 months of its end: counts.
            proven_reoffence("A2", "A", date(2020, 5, 1), date(2020, 10, 1)),
            // In the follow-up, proven after 2020-11-10: does not.
            proven_reoffence("A3", "A", date(2020, 5, 5), date(2020, 12, 1)),
            // The follow-up's last day, proven on the last allowed day: counts.
            proven_reoffence("A4", "A", date(2020, 5, 10), date(2020, 11, 10)),
            // The day after the follow-up: does not.
            proven_reoffence("A5", "A", date(2020, 5, 11), date(2020, 6, 1)),
            // B: referral order 2019-06-30, no re-offence.
            outcome("O-B", "B", date(2019, 6, 30), &Outcome::new(Disposal::ReferralOrder, true, 16)),
            // C: triage only, not in the cohort.
            outcome("O-C", "C", date(2019, 5, 1), &Outcome::new(Disposal::Triage, true, 14)),
            proven_reoffence("C1", "C", date(2019, 8, 1), date(2019, 9, 1)),
        ];
        let r = apply_all(&events).reoffending(&three_months_to_june_2019(Zone::default()));
        // Cohort {A, B} = 2; reoffenders {A} = 1; re-offences A2, A4 = 2.
        // Binary 1 / 2 x 100 = 50.0; frequency 2 / 1 = 2.00.
        assert_eq!((r.cohort, r.reoffenders, r.reoffences), (2, 1, 2));
        assert_eq!((r.binary.display(), r.frequency.display()), ("50.0".to_string(), "2.00".to_string()));
        // The window's last day 2019-06-30, + 12 months = 2020-06-30, + 6
        // months = 2020-12-30 (the same day of the month).
        assert_eq!(r.tracking_ends, date(2020, 12, 30));
    }

    /// Rule 1 of #21: a release from custody places a child in the cohort
    /// (the sentence does not); new court outcomes count as re-offences, once.
    #[test]
    fn releases_place_children_and_new_outcomes_count_once() {
        let mut caution_for_d1 = Outcome::new(Disposal::YouthCaution, false, 16);
        caution_for_d1.offence_days_before = 30;
        let mut proven_by_outcome = proven_reoffence("D1-dup", "D", date(2019, 8, 2), date(2019, 9, 1));
        if let Some(Body::Reoffence(r)) = proven_by_outcome.body.as_mut() {
            r.proven_by_event_id = "O-D1".into();
        }
        let events = vec![
            // D: sentenced 2018-12-01, released 2019-04-15 aged 16: index
            // 2019-04-15, follow-up to 2020-04-15, proven by 2020-10-15.
            outcome("O-D", "D", date(2018, 12, 1), &Outcome::new(Disposal::Custody, true, 15)),
            release("R-D", "D", date(2019, 4, 15), 16),
            // D1: a caution on 2019-09-01 for an offence on 2019-08-02: counts.
            outcome("O-D1", "D", date(2019, 9, 1), &caution_for_d1),
            // The same offence published as a re-offence proven by O-D1: not again.
            proven_by_outcome,
            // D2: a re-offence committed 2019-11-01, proven 2019-12-01: counts.
            proven_reoffence("D2", "D", date(2019, 11, 1), date(2019, 12, 1)),
            // Triage for an offence in the follow-up: not proven, not counted.
            outcome("O-D3", "D", date(2019, 10, 31), &Outcome::new(Disposal::Triage, false, 16)),
            // E: sentenced to custody in the window, not released in it: not
            // in the cohort (the earlier definition placed E by sentence).
            outcome("O-E", "E", date(2019, 5, 1), &Outcome::new(Disposal::Custody, true, 15)),
            proven_reoffence("E1", "E", date(2019, 7, 1), date(2019, 8, 1)),
            // F: released in the window aged 18: not a child.
            release("R-F", "F", date(2019, 5, 20), 18),
            proven_reoffence("F1", "F", date(2019, 7, 1), date(2019, 8, 1)),
        ];
        let r = apply_all(&events).reoffending(&three_months_to_june_2019(Zone::default()));
        // Cohort {D} = 1; reoffenders {D} = 1; re-offences D1, D2 = 2.
        assert_eq!((r.cohort, r.reoffenders, r.reoffences), (1, 1, 2));
        assert_eq!(r.binary.display(), "100.0");
    }

    /// Rule 1 of #21: days are the partnership's days, not UTC days.
    #[test]
    fn cohort_days_are_london_days() {
        let at_utc = |date: Date, hours: i64, id: &str, subject: &str| {
            let mut e = outcome(id, subject, date, &Outcome::new(Disposal::YouthCaution, true, 14));
            // testkit places events at noon UTC: move to 23:30 UTC.
            e.occurred_at = Some(pbjson_types::Timestamp { seconds: at(date, hours).seconds + 1_800, nanos: 0 });
            e
        };
        let events = vec![
            // G: 2019-06-30 23:30 UTC is 00:30 BST on 1 July: after the window in London.
            at_utc(date(2019, 6, 30), 11, "O-G", "G"),
            // H: 2019-03-31 23:30 UTC is 00:30 BST on 1 April: in the window in London.
            at_utc(date(2019, 3, 31), 11, "O-H", "H"),
        ];
        let ind = apply_all(&events);
        // London: cohort {H} = 1. UTC: cohort {G} = 1.
        let london = ind.reoffending(&three_months_to_june_2019(Zone::default()));
        assert_eq!(london.cohort, 1);
        let utc = ind.reoffending(&three_months_to_june_2019(Zone::utc()));
        assert_eq!(utc.cohort, 1);
        // Not the same child: G by UTC days, H by London days. A re-offence
        // by H alone makes a reoffender in London only.
        let mut with_h = events.clone();
        with_h.push(proven_reoffence("H1", "H", date(2019, 5, 1), date(2019, 6, 1)));
        let ind = apply_all(&with_h);
        assert_eq!(ind.reoffending(&three_months_to_june_2019(Zone::default())).reoffenders, 1);
        assert_eq!(ind.reoffending(&three_months_to_june_2019(Zone::utc())).reoffenders, 0);
    }

    /// Rule 3 of #21: a first entry from the child's history in the log where
    /// known, the flag where not, and a data note where they disagree.
    #[test]
    fn first_time_entrants_from_history_where_known() {
        let caution = |id: &str, child: &str, on: Date, fte: bool, age: u32| {
            outcome(id, child, on, &Outcome::new(Disposal::YouthCaution, fte, age))
        };
        let events = vec![
            // The log reaches back to 2013-01-01.
            event(
                "E-first",
                vec![person("Z")],
                date(2013, 1, 1),
                "Wealdstone",
                Body::Arrest(pb::Arrest { offence_category: "theft".into(), ..Default::default() }),
            ),
            // J: aged 12 at an offence on 2020-01-01, cautioned 2020-01-31,
            // not flagged. Earliest 10th birthday 2017-01-01 >= 2013-01-01:
            // history known, none earlier: a first entry. Disagrees.
            caution("J", "J", date(2020, 1, 31), false, 12),
            // K: cautioned 2018-05-01 (in the log, known), then convicted
            // 2020-03-01 flagged again: not a first entry now. Disagrees.
            caution("K-1", "K", date(2018, 5, 1), true, 10),
            outcome("K-2", "K", date(2020, 3, 1), &Outcome::new(Disposal::ReferralOrder, true, 12)),
            // L: aged 17 at an offence on 2020-03-02: earliest 10th birthday
            // 2012-03-02, before the log: the flag decides (true).
            caution("L", "L", date(2020, 4, 1), true, 17),
            // N: triage flagged (wrongly) 2019-12-01, then a caution
            // 2020-02-01 not flagged, aged 15 at 2020-01-02: earliest 10th
            // birthday 2014-01-02, history known: a first entry. Disagrees.
            outcome("N-1", "N", date(2019, 12, 1), &Outcome::new(Disposal::Triage, true, 15)),
            caution("N-2", "N", date(2020, 2, 1), false, 15),
        ];
        let ind = apply_all(&events);
        let fte = ind.first_time_entrants(&period(TimeAxis::EventTime), &population(23_300)).unwrap();
        // J, L, N = 3 (the flags alone would give L only: K's first flagged
        // outcome is 2018). 3 / 23,300 x 100,000 = 12.88 -> 13.
        assert_eq!(fte.numerator, 3);
        assert_eq!(fte.display(), "13");
        let notes = ind.data_notes(Some("Harrow"), &Zone::default());
        let has = |needle: &str| notes.iter().any(|n| n.starts_with(needle));
        // K-2 flagged though K-1 is earlier.
        assert!(has("1 caution(s) or conviction(s) flagged first-time entrant follow an earlier"), "{notes:?}");
        // J and N unflagged though first and known.
        assert!(has("2 child(ren)'s first caution or conviction is not flagged"), "{notes:?}");
        // L by the flag alone.
        assert!(has("1 child(ren)'s first caution or conviction in the log was judged"), "{notes:?}");
        // N-1: a flagged triage.
        assert!(has("1 outcome(s) flagged first-time entrant are not a caution"), "{notes:?}");
        // Published: 3 is small (shown as 5) and its rate withheld.
        let report = ind.report(&params(), &population(23_300), &Suppression::domain_practice()).unwrap();
        let t = report.table("fte_rate").unwrap();
        assert_eq!(t.cell("Harrow", "first-time entrants").unwrap().shown, "5");
        assert_eq!(t.cell("Harrow", "rate per 100,000").unwrap().status, CellStatus::Withheld);
    }
}
