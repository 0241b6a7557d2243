//! A problem profile over a time window, as an incremental projection.
//!
//! [`Profile`] keeps one small, pseudonymous record per event it is given
//! ([`Profile::apply`]) and, when asked, counts them the ways a problem profile
//! or strategic assessment does: by event type and category, ward, month, the
//! people involved by age band, gender and ethnic group; repeats (repeat
//! missing, repeat victims of exploitation, repeat locations); exploitation
//! flags; and disproportionality (youth justice outcome rates per 1,000
//! children by ethnic group, with the relative rate index against White
//! children). [`Profile::figures`] gives the raw counts (ground truth, for the
//! analyst and the simulator's checks); [`Profile::report`] publishes them under
//! a small-number [`Suppression`] rule. The projection is serde-serialisable,
//! so a caller can checkpoint it with the log position reached and resume.
//!
//! A missing episode (every event with one `episode_id`) and a VVE briefing
//! item (every event with one `item_id`) are counted once, placed by their
//! first event; consent records are not counted. People merged
//! (`subjects_merged`, until a `subjects_unmerged` of the pair) are counted
//! as one, the person kept. The definitions in
//! [`crate::definitions`] say exactly what each table counts.

use std::collections::{BTreeMap, BTreeSet};

use concord_core::EventType;
use concord_core::pb::{self, Ethnicity, Gender, event::Body};
use serde::{Deserialize, Serialize};

use crate::definitions::{self, Definition};
use crate::indicators::area_name;
use crate::merges::Merges;
use crate::population::{ETHNIC_GROUPS, Population, YOUTH_AGES, ethnicity_label};
use crate::records::{self, Records, enum_label, in_borough, subjects_of};
use crate::report::{Cell, CellKind, CellStatus, Report, Table};
use crate::suppression::{Denominator, Suppression};
use crate::window::{TimeAxis, Window, Zone, add_months, month_label};

/// People in this many episodes or concerns are repeats.
pub const REPEAT_MIN: u64 = 2;
/// Places and wards with this many incidents are repeat locations.
pub const REPEAT_LOCATION_MIN: u64 = 3;

/// What a profile covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileConfig {
    /// The period; `None`: every event applied.
    pub window: Option<Window>,
    /// Which time places events in the window and in months.
    pub time_axis: TimeAxis,
    /// The borough (the events' `borough`); `None`: every borough.
    pub borough: Option<String>,
    /// The partnership's time zone, which places events on days and months.
    #[serde(default)]
    pub zone: Zone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OutcomeInfo {
    age: u32,
    gender: i32,
    ethnicity: i32,
    disposal: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ProfileRecord {
    event_type: String,
    /// Events with one unit key are one episode, item or event.
    unit: String,
    category: Option<String>,
    borough: String,
    ward: String,
    occurred: Option<i64>,
    recorded: Option<i64>,
    persons: Vec<String>,
    places: Vec<String>,
    /// A missing episode flagged with a linked exploitation concern.
    missing_exploitation: bool,
    outcome: Option<OutcomeInfo>,
}

impl ProfileRecord {
    fn time(&self, axis: TimeAxis) -> Option<i64> {
        match axis {
            TimeAxis::EventTime => self.occurred,
            TimeAxis::ReportTime => self.recorded,
        }
    }
}

fn text_or_unrecorded(text: &str) -> String {
    if text.trim().is_empty() { "(not recorded)".to_string() } else { text.trim().to_string() }
}

fn label_of<E: TryFrom<i32>>(value: i32, name: impl Fn(&E) -> &'static str, prefix: &str) -> String {
    E::try_from(value).map_or_else(|_| "unknown".to_string(), |e| enum_label(name(&e), prefix))
}

fn category(body: &Body) -> Option<String> {
    match body {
        Body::Arrest(a) => Some(text_or_unrecorded(&a.offence_category)),
        Body::StopAndSearch(s) => Some(label_of(s.grounds, pb::SearchGrounds::as_str_name, "SEARCH_GROUNDS_")),
        Body::MissingEpisode(m) => Some(label_of(m.risk, pb::RiskLevel::as_str_name, "RISK_LEVEL_")),
        Body::MashReferral(m) => Some(label_of(m.reason, pb::MashReason::as_str_name, "MASH_REASON_")),
        Body::ExploitationConcern(c) => {
            Some(label_of(c.exploitation_type, pb::ExploitationType::as_str_name, "EXPLOITATION_TYPE_"))
        }
        Body::NrmReferral(n) => {
            Some(label_of(n.exploitation_type, pb::ExploitationType::as_str_name, "EXPLOITATION_TYPE_"))
        }
        Body::VveBriefingItem(v) => Some(label_of(v.risk, pb::RiskLevel::as_str_name, "RISK_LEVEL_")),
        Body::YouthJusticeOutcome(o) => Some(records::disposal_label(o.disposal)),
        Body::Reoffence(r) => Some(text_or_unrecorded(&r.offence_category)),
        Body::AssetPlusRating(a) => {
            Some(label_of(a.intervention_level, pb::InterventionLevel::as_str_name, "INTERVENTION_LEVEL_"))
        }
        Body::VcsEngagement(v) => Some(text_or_unrecorded(&v.programme)),
        // Health detail is special category: counted by type only.
        Body::CamhsContact(_)
        | Body::ConsentRecorded(_)
        | Body::ConsentWithdrawn(_)
        | Body::SubjectIdentified(_)
        | Body::SubjectsMerged(_)
        | Body::SubjectsUnmerged(_)
        | Body::CohortChanged(_)
        | Body::ReleaseFromCustody(_) => None,
    }
}

fn extract(event: &pb::Event, key: &str) -> Option<ProfileRecord> {
    let body = event.body.as_ref()?;
    let event_type = EventType::of(body);
    if matches!(event_type, EventType::ConsentRecorded | EventType::ConsentWithdrawn) {
        return None;
    }
    let unit = match body {
        Body::MissingEpisode(m) if !m.episode_id.is_empty() => format!("missing_episode/{}", m.episode_id),
        Body::VveBriefingItem(v) if !v.item_id.is_empty() => format!("vve_briefing_item/{}", v.item_id),
        _ => format!("event/{key}"),
    };
    let outcome = match body {
        Body::YouthJusticeOutcome(o) => {
            Some(OutcomeInfo { age: o.age, gender: o.gender, ethnicity: o.ethnicity, disposal: o.disposal })
        }
        _ => None,
    };
    Some(ProfileRecord {
        event_type: event_type.as_str().to_string(),
        unit,
        category: category(body),
        borough: event.borough.clone(),
        ward: event.ward.clone(),
        occurred: records::millis(event.occurred_at.as_ref()),
        recorded: records::millis(event.recorded_at.as_ref()),
        persons: subjects_of(event, pb::SubjectKind::Person),
        places: subjects_of(event, pb::SubjectKind::Place),
        missing_exploitation: matches!(body, Body::MissingEpisode(m) if m.exploitation_concern),
        outcome,
    })
}

/// What a person's youth justice outcomes say about them.
#[derive(Debug, Clone, Copy, Default)]
struct Demographics {
    gender: Option<i32>,
    ethnicity: Option<i32>,
    age: Option<u32>,
}

/// One counted thing: an event, or a missing episode or briefing item made of
/// several events.
struct Unit<'a> {
    event_type: &'a str,
    category: Option<&'a str>,
    ward: &'a str,
    time: i64,
    persons: BTreeSet<&'a str>,
    places: BTreeSet<&'a str>,
    missing_exploitation: bool,
    outcome: Option<&'a OutcomeInfo>,
}

const INCIDENT_TYPES: [&str; 5] =
    ["arrest", "stop_and_search", "missing_episode", "exploitation_concern", "vve_briefing_item"];

/// Counts of a repeat measure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatCounts {
    /// Episodes or concerns in the window.
    pub events: u64,
    /// Distinct people in them.
    pub people: u64,
    /// People in [`REPEAT_MIN`] or more.
    pub repeat_people: u64,
    /// Episodes or concerns involving a repeat person.
    pub repeat_events: u64,
}

/// Counts of repeat locations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationCounts {
    /// Distinct places named in incidents.
    pub places: u64,
    /// Places named in [`REPEAT_LOCATION_MIN`] or more incidents.
    pub repeat_places: u64,
    /// Incidents naming a repeat place.
    pub incidents_at_repeat_places: u64,
    /// Wards with [`REPEAT_LOCATION_MIN`] or more incidents, and their incidents.
    pub repeat_wards: BTreeMap<String, u64>,
}

/// Counts of exploitation flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExploitationFlags {
    /// Missing episodes with a linked exploitation concern.
    pub missing_episodes_flagged: u64,
    /// People in those episodes.
    pub people_missing_flagged: u64,
    /// People named in an exploitation concern.
    pub people_with_concern: u64,
    /// People both missing and named in an exploitation concern.
    pub people_missing_and_with_concern: u64,
}

/// Outcomes, population, rate and relative rate index of one ethnic group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EthnicRate {
    /// Display label, e.g. `Black`, `Not known`.
    pub group: String,
    /// Youth justice outcomes of children 10-17 in the group.
    pub outcomes: u64,
    /// The group's population aged 10-17; `None` for `Not known`.
    pub population: Option<u64>,
    /// Outcomes per 1,000 of the population, unrounded; `None` without population.
    pub rate: Option<f64>,
    /// The rate divided by the White group's rate, unrounded; `None` when either is undefined or White's is 0.
    pub relative_rate_index: Option<f64>,
}

/// The raw (unsuppressed) figures of a profile: ground truth, not for publication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileFigures {
    /// The profile's window (`None`: every event applied).
    pub window: Option<Window>,
    /// The time axis.
    pub time_axis: TimeAxis,
    /// The area.
    pub area: String,
    /// Counts by event type.
    pub by_type: BTreeMap<String, u64>,
    /// Counts by `type: category`.
    pub by_category: BTreeMap<String, u64>,
    /// Counts by ward.
    pub by_ward: BTreeMap<String, u64>,
    /// Counts by month `YYYY-MM` (every month of the window, zeros included).
    pub by_month: BTreeMap<String, u64>,
    /// People by age band, in band order.
    pub people_by_age_band: Vec<(String, u64)>,
    /// People by gender, in display order.
    pub people_by_gender: Vec<(String, u64)>,
    /// People by ethnic group, in display order.
    pub people_by_ethnicity: Vec<(String, u64)>,
    /// Repeat missing.
    pub repeat_missing: RepeatCounts,
    /// Repeat victims (exploitation concerns).
    pub repeat_victims: RepeatCounts,
    /// Repeat locations.
    pub repeat_locations: LocationCounts,
    /// Exploitation flags.
    pub exploitation: ExploitationFlags,
    /// Outcome rates by ethnic group (White, Mixed, Asian, Black, Other, Not known).
    pub disproportionality: Vec<EthnicRate>,
    /// Episodes, items or events with no time on the axis (not counted).
    pub unplaced: u64,
    /// The first and last day of the counted events, if any.
    pub span: Option<Window>,
}

/// The problem-profile projection. Apply every replayed event in log order,
/// then ask for [`Profile::figures`] or a [`Profile::report`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    config: ProfileConfig,
    records: Records<ProfileRecord>,
    events_applied: u64,
    without_body: u64,
    /// Merges as they stand: a merged pair of people is counted as one.
    #[serde(default)]
    merges: Merges,
}

const AGE_BANDS: [&str; 6] = ["under 10", "10-13", "14-15", "16-17", "18+", "unknown"];

fn age_band(age: Option<u32>) -> &'static str {
    match age {
        None | Some(0) => "unknown",
        Some(a) if a < 10 => "under 10",
        Some(10..=13) => "10-13",
        Some(14 | 15) => "14-15",
        Some(16 | 17) => "16-17",
        Some(_) => "18+",
    }
}

fn gender_label(value: i32) -> &'static str {
    match Gender::try_from(value).unwrap_or(Gender::Unspecified) {
        Gender::Female => "Female",
        Gender::Male => "Male",
        Gender::Other => "Other",
        Gender::NotKnown | Gender::Unspecified => "Not known",
    }
}

const GENDER_LABELS: [&str; 4] = ["Female", "Male", "Other", "Not known"];

fn ethnicity_of(value: i32) -> Ethnicity {
    Ethnicity::try_from(value).unwrap_or(Ethnicity::Unspecified)
}

/// Counts `(events, people, repeat people, events involving repeat people)`
/// over units of one type.
fn repeats(units: &[&Unit<'_>]) -> RepeatCounts {
    let mut per_person: BTreeMap<&str, u64> = BTreeMap::new();
    for unit in units {
        for p in &unit.persons {
            *per_person.entry(p).or_default() += 1;
        }
    }
    let repeaters: BTreeSet<&str> = per_person.iter().filter(|(_, n)| **n >= REPEAT_MIN).map(|(p, _)| *p).collect();
    RepeatCounts {
        events: units.len() as u64,
        people: per_person.len() as u64,
        repeat_people: repeaters.len() as u64,
        repeat_events: units.iter().filter(|u| u.persons.iter().any(|p| repeaters.contains(p))).count() as u64,
    }
}

impl Profile {
    /// A profile of `config`'s window, time axis and borough.
    pub fn new(config: ProfileConfig) -> Self {
        Profile { config, ..Profile::default() }
    }

    /// What the profile covers.
    pub fn config(&self) -> &ProfileConfig {
        &self.config
    }

    /// Applies one replayed event.
    pub fn apply(&mut self, event: &pb::Event) {
        self.events_applied += 1;
        if event.body.is_none() {
            self.without_body += 1;
        }
        self.records.apply(event, extract);
        self.merges.apply(event);
    }

    /// How many events have been applied.
    pub fn events_applied(&self) -> u64 {
        self.events_applied
    }

    /// Groups the records into units; returns the units in scope and how many
    /// units had no time on the axis.
    fn units(&self) -> (Vec<Unit<'_>>, u64) {
        let axis = self.config.time_axis;
        let mut groups: BTreeMap<&str, Vec<&ProfileRecord>> = BTreeMap::new();
        for (_, r) in self.records.iter() {
            groups.entry(r.unit.as_str()).or_default().push(r);
        }
        let mut units = Vec::new();
        let mut unplaced = 0;
        for records in groups.values() {
            // The unit is placed by its first event on the axis (ties: key order).
            let Some(first) = records.iter().filter(|r| r.time(axis).is_some()).min_by_key(|r| r.time(axis)) else {
                unplaced += 1;
                continue;
            };
            let Some(time) = first.time(axis) else { continue };
            if !in_borough(&first.borough, self.config.borough.as_deref())
                || self.config.window.is_some_and(|w| !w.contains_millis(time, &self.config.zone))
            {
                continue;
            }
            units.push(Unit {
                event_type: &first.event_type,
                category: first.category.as_deref(),
                ward: &first.ward,
                time,
                persons: records.iter().flat_map(|r| r.persons.iter().map(|p| self.merges.kept(p))).collect(),
                places: records.iter().flat_map(|r| r.places.iter().map(String::as_str)).collect(),
                missing_exploitation: records.iter().any(|r| r.missing_exploitation),
                outcome: first.outcome.as_ref(),
            });
        }
        (units, unplaced)
    }

    /// Each person's latest known gender, ethnic group and age (at the window's
    /// end) from their youth justice outcomes.
    fn demographics(&self) -> BTreeMap<&str, Demographics> {
        let axis = self.config.time_axis;
        let window_end = self.config.window.map(|w| w.end_millis_exclusive(&self.config.zone));
        let mut outcomes: BTreeMap<&str, Vec<(i64, &OutcomeInfo)>> = BTreeMap::new();
        for (_, r) in self.records.iter() {
            if let (Some(o), Some(p), Some(t)) = (r.outcome.as_ref(), r.persons.first(), r.time(axis)) {
                outcomes.entry(self.merges.kept(p)).or_default().push((t, o));
            }
        }
        let mut out = BTreeMap::new();
        for (person, mut list) in outcomes {
            list.sort_by_key(|(t, _)| *t);
            let gender = list.iter().rev().map(|(_, o)| o.gender).find(|g| *g != Gender::Unspecified as i32);
            let ethnicity = list.iter().rev().map(|(_, o)| o.ethnicity).find(|e| *e != Ethnicity::Unspecified as i32);
            let age = list
                .iter()
                .rev()
                .filter(|(t, _)| window_end.is_none_or(|end| *t < end))
                .map(|(_, o)| o.age)
                .find(|a| *a > 0);
            out.insert(person, Demographics { gender, ethnicity, age });
        }
        out
    }

    /// The raw counts: ground truth, not for publication (see [`Profile::report`]).
    pub fn figures(&self, population: &Population) -> ProfileFigures {
        let (units, unplaced) = self.units();
        let borough = self.config.borough.as_deref();
        let mut f = ProfileFigures {
            window: self.config.window,
            time_axis: self.config.time_axis,
            area: area_name(borough),
            unplaced,
            ..ProfileFigures::default()
        };
        if let Some(w) = self.config.window {
            let mut month = w.from().first_of_month();
            while month <= w.to() {
                f.by_month.insert(month_label(month), 0);
                month = add_months(month, 1);
            }
        }
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for u in &units {
            *f.by_type.entry(u.event_type.to_string()).or_default() += 1;
            if let Some(c) = u.category {
                *f.by_category.entry(format!("{}: {c}", u.event_type)).or_default() += 1;
            }
            *f.by_ward.entry(text_or_unrecorded(u.ward)).or_default() += 1;
            *f.by_month.entry(month_label(self.config.zone.date_of(u.time))).or_default() += 1;
            first = first.min(u.time);
            last = last.max(u.time);
        }
        if first <= last {
            let day = |ms| self.config.zone.date_of(ms);
            f.span = Window::new(day(first), day(last)).ok();
        }

        // People.
        let people: BTreeSet<&str> = units.iter().flat_map(|u| u.persons.iter().copied()).collect();
        let demographics = self.demographics();
        let mut ages: BTreeMap<&str, u64> = AGE_BANDS.iter().map(|b| (*b, 0)).collect();
        let mut genders: BTreeMap<&str, u64> = GENDER_LABELS.iter().map(|g| (*g, 0)).collect();
        let mut ethnicities: BTreeMap<&str, u64> = BTreeMap::new();
        for p in &people {
            let Demographics { gender, ethnicity, age } = demographics.get(p).copied().unwrap_or_default();
            *ages.entry(age_band(age)).or_default() += 1;
            *genders.entry(gender.map_or("Not known", gender_label)).or_default() += 1;
            *ethnicities.entry(ethnicity_label(ethnicity.map_or(Ethnicity::NotKnown, ethnicity_of))).or_default() += 1;
        }
        f.people_by_age_band = AGE_BANDS.iter().map(|b| (b.to_string(), ages[b])).collect();
        f.people_by_gender = GENDER_LABELS.iter().map(|g| (g.to_string(), genders[g])).collect();
        let ethnic_labels = ETHNIC_GROUPS.iter().map(|e| ethnicity_label(*e)).chain(["Not known"]);
        f.people_by_ethnicity =
            ethnic_labels.map(|l| (l.to_string(), ethnicities.get(l).copied().unwrap_or(0))).collect();

        // Repeats and exploitation flags.
        let of_type = |t: &str| -> Vec<&Unit<'_>> { units.iter().filter(|u| u.event_type == t).collect() };
        let missing = of_type(EventType::MissingEpisode.as_str());
        let concerns = of_type(EventType::ExploitationConcern.as_str());
        f.repeat_missing = repeats(&missing);
        f.repeat_victims = repeats(&concerns);
        let flagged: Vec<&&Unit<'_>> = missing.iter().filter(|u| u.missing_exploitation).collect();
        let missing_people: BTreeSet<&str> = missing.iter().flat_map(|u| u.persons.iter().copied()).collect();
        let concern_people: BTreeSet<&str> = concerns.iter().flat_map(|u| u.persons.iter().copied()).collect();
        f.exploitation = ExploitationFlags {
            missing_episodes_flagged: flagged.len() as u64,
            people_missing_flagged: flagged.iter().flat_map(|u| u.persons.iter()).collect::<BTreeSet<_>>().len() as u64,
            people_with_concern: concern_people.len() as u64,
            people_missing_and_with_concern: missing_people.intersection(&concern_people).count() as u64,
        };

        // Repeat locations.
        let incidents: Vec<&Unit<'_>> = units.iter().filter(|u| INCIDENT_TYPES.contains(&u.event_type)).collect();
        let mut per_place: BTreeMap<&str, u64> = BTreeMap::new();
        let mut per_ward: BTreeMap<&str, u64> = BTreeMap::new();
        for u in &incidents {
            for p in &u.places {
                *per_place.entry(p).or_default() += 1;
            }
            if !u.ward.trim().is_empty() {
                *per_ward.entry(u.ward.trim()).or_default() += 1;
            }
        }
        let repeat_places: BTreeSet<&str> =
            per_place.iter().filter(|(_, n)| **n >= REPEAT_LOCATION_MIN).map(|(p, _)| *p).collect();
        f.repeat_locations = LocationCounts {
            places: per_place.len() as u64,
            repeat_places: repeat_places.len() as u64,
            incidents_at_repeat_places: incidents
                .iter()
                .filter(|u| u.places.iter().any(|p| repeat_places.contains(p)))
                .count() as u64,
            repeat_wards: per_ward
                .into_iter()
                .filter(|(_, n)| *n >= REPEAT_LOCATION_MIN)
                .map(|(w, n)| (w.to_string(), n))
                .collect(),
        };

        // Disproportionality.
        let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
        for u in &units {
            let Some(o) = u.outcome else { continue };
            let disposal = pb::Disposal::try_from(o.disposal).unwrap_or(pb::Disposal::Unspecified);
            if YOUTH_AGES.contains(&o.age) && disposal != pb::Disposal::Remand {
                *outcomes.entry(ethnicity_label(ethnicity_of(o.ethnicity))).or_default() += 1;
            }
        }
        let populations = population.aged_10_to_17_by_ethnicity(borough);
        let rate_of = |e: Ethnicity| -> (u64, u64, Option<f64>) {
            let n = outcomes.get(ethnicity_label(e)).copied().unwrap_or(0);
            let pop = populations.get(&e).copied().unwrap_or(0);
            (n, pop, (pop > 0).then(|| n as f64 / pop as f64 * 1_000.0))
        };
        let white_rate = rate_of(Ethnicity::White).2.filter(|r| *r > 0.0);
        for e in ETHNIC_GROUPS {
            let (n, pop, rate) = rate_of(e);
            f.disproportionality.push(EthnicRate {
                group: ethnicity_label(e).to_string(),
                outcomes: n,
                population: Some(pop),
                rate,
                relative_rate_index: rate.zip(white_rate).map(|(r, w)| r / w),
            });
        }
        f.disproportionality.push(EthnicRate {
            group: "Not known".to_string(),
            outcomes: outcomes.get("Not known").copied().unwrap_or(0),
            population: None,
            rate: None,
            relative_rate_index: None,
        });
        f
    }

    /// The profile as a published report under `suppression`.
    pub fn report(&self, population: &Population, suppression: &Suppression) -> Report {
        let f = self.figures(population);
        let mut report = Report::new("Problem profile", &f.area, suppression.record());
        let (window, axis) = (f.window, f.time_axis);
        let table = |d: &Definition, dimension: &str, columns: &[&str]| Table::new(d, window, axis, dimension, columns);
        let counts = |d: &Definition, dimension: &str, rows: &mut dyn Iterator<Item = (String, u64)>| {
            let mut t = table(d, dimension, &["count"]);
            for (label, n) in rows {
                t.push(label, vec![suppression.count(n)]);
            }
            t
        };

        report.add_table(counts(&definitions::PROFILE_BY_TYPE, "event type", &mut f.by_type.clone().into_iter()));
        report.add_table(counts(&definitions::PROFILE_BY_CATEGORY, "category", &mut f.by_category.clone().into_iter()));
        report.add_table(counts(&definitions::PROFILE_BY_WARD, "ward", &mut f.by_ward.clone().into_iter()));
        report.add_table(counts(&definitions::PROFILE_BY_MONTH, "month", &mut f.by_month.clone().into_iter()));
        report.add_table(counts(
            &definitions::PROFILE_PEOPLE_BY_AGE,
            "age band",
            &mut f.people_by_age_band.clone().into_iter(),
        ));
        report.add_table(counts(
            &definitions::PROFILE_PEOPLE_BY_GENDER,
            "gender",
            &mut f.people_by_gender.clone().into_iter(),
        ));
        report.add_table(counts(
            &definitions::PROFILE_PEOPLE_BY_ETHNICITY,
            "ethnic group",
            &mut f.people_by_ethnicity.clone().into_iter(),
        ));

        let m = &f.repeat_missing;
        report.add_table(counts(
            &definitions::PROFILE_REPEAT_MISSING,
            "measure",
            &mut [
                ("missing episodes", m.events),
                ("people reported missing", m.people),
                ("people missing 2+ times (repeat missing)", m.repeat_people),
                ("episodes of people missing 2+ times", m.repeat_events),
            ]
            .into_iter()
            .map(|(l, n)| (l.to_string(), n)),
        ));
        let v = &f.repeat_victims;
        report.add_table(counts(
            &definitions::PROFILE_REPEAT_VICTIMS,
            "measure",
            &mut [
                ("exploitation concerns", v.events),
                ("people named in a concern", v.people),
                ("people named in 2+ concerns (repeat victims)", v.repeat_people),
                ("concerns about repeat victims", v.repeat_events),
            ]
            .into_iter()
            .map(|(l, n)| (l.to_string(), n)),
        ));
        let l = &f.repeat_locations;
        let mut location_rows: Vec<(String, u64)> = vec![
            ("places named in incidents".into(), l.places),
            ("places named in 3+ incidents (repeat locations)".into(), l.repeat_places),
            ("incidents at repeat locations".into(), l.incidents_at_repeat_places),
        ];
        location_rows.extend(l.repeat_wards.iter().map(|(w, n)| (format!("ward with 3+ incidents: {w}"), *n)));
        report.add_table(counts(&definitions::PROFILE_REPEAT_LOCATIONS, "measure", &mut location_rows.into_iter()));
        let x = &f.exploitation;
        report.add_table(counts(
            &definitions::PROFILE_EXPLOITATION_FLAGS,
            "measure",
            &mut [
                ("missing episodes with a linked exploitation concern", x.missing_episodes_flagged),
                ("people missing with a linked exploitation concern", x.people_missing_flagged),
                ("people named in an exploitation concern", x.people_with_concern),
                ("people both missing and named in an exploitation concern", x.people_missing_and_with_concern),
            ]
            .into_iter()
            .map(|(l, n)| (l.to_string(), n)),
        ));

        let mut d = table(
            &definitions::DISPROPORTIONALITY,
            "ethnic group",
            &["outcomes", "population aged 10-17", "rate per 1,000", "relative rate index (White = 1.00)"],
        );
        let (per, decimals) = (definitions::DISPROPORTIONALITY.per, definitions::DISPROPORTIONALITY.decimals);
        let white = f.disproportionality.first();
        let (white_outcomes, white_population) = white.map_or((0, 0), |w| (w.outcomes, w.population.unwrap_or(0)));
        for g in &f.disproportionality {
            let population = g.population.unwrap_or(0);
            let population_cell = g.population.map_or_else(
                || Cell {
                    kind: CellKind::Population,
                    shown: "n/a".into(),
                    number: None,
                    status: CellStatus::NotApplicable,
                },
                Cell::population,
            );
            d.push(
                g.group.clone(),
                vec![
                    suppression.count(g.outcomes),
                    population_cell,
                    suppression.rate(g.outcomes, Denominator::Population(population), per, decimals),
                    suppression.ratio_of_rates((g.outcomes, population), (white_outcomes, white_population), decimals),
                ],
            );
        }
        report.add_table(d);

        if f.window.is_none() {
            let span = f.span.map_or_else(|| "no events".to_string(), |s| s.to_string());
            report.note(format!("No window: every event applied is counted ({span})."));
        }
        if f.unplaced > 0 {
            report.note(format!(
                "{} episode(s), item(s) or event(s) have no {} and are not counted.",
                f.unplaced,
                match axis {
                    TimeAxis::EventTime => "occurred_at",
                    TimeAxis::ReportTime => "recorded_at",
                }
            ));
        }
        if self.without_body > 0 {
            report.note(format!("{} event(s) had no body and are not counted.", self.without_body));
        }
        if f.disproportionality.iter().take(ETHNIC_GROUPS.len()).any(|g| g.population == Some(0)) {
            report.note(
                "The population file gives no 10-17 population for some ethnic groups in this area: their rates are n/a.",
            );
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Outcome, event, outcome, person, place, plus};
    use jiff::civil::{Date, date};
    use pb::Disposal;

    fn config() -> ProfileConfig {
        ProfileConfig {
            window: Some(Window::new(date(2020, 1, 1), date(2020, 6, 30)).unwrap()),
            time_axis: TimeAxis::EventTime,
            borough: Some("Harrow".into()),
            zone: crate::Zone::default(),
        }
    }

    fn missing(id: &str, child: &str, episode: &str, on: Date, flagged: bool) -> pb::Event {
        event(
            id,
            vec![person(child)],
            on,
            "Wealdstone",
            Body::MissingEpisode(pb::MissingEpisode {
                episode_id: episode.into(),
                risk: pb::RiskLevel::Medium as i32,
                exploitation_concern: flagged,
                ..Default::default()
            }),
        )
    }

    fn concern(id: &str, subjects: Vec<pb::SubjectRef>, on: Date, kind: pb::ExploitationType) -> pb::Event {
        event(
            id,
            subjects,
            on,
            "Greenhill",
            Body::ExploitationConcern(pb::ExploitationConcern {
                exploitation_type: kind as i32,
                risk: pb::RiskLevel::High as i32,
                adult: false,
            }),
        )
    }

    fn arrest(id: &str, subjects: Vec<pb::SubjectRef>, on: Date, ward: &str) -> pb::Event {
        event(
            id,
            subjects,
            on,
            ward,
            Body::Arrest(pb::Arrest { offence_category: "robbery".into(), gravity_score: 3, ..Default::default() }),
        )
    }

    /// A small borough's half year, with events that must not count.
    fn events() -> Vec<pb::Event> {
        let mut e = vec![
            // Child A: three missing episodes (the first reported and returned, flagged on return).
            missing("M1a", "A", "ME-1", date(2020, 1, 5), false),
            missing("M1b", "A", "ME-1", date(2020, 1, 6), true),
            missing("M2", "A", "ME-2", date(2020, 2, 10), false),
            missing("M3", "A", "ME-3", date(2020, 3, 3), false),
            // B once, flagged; C once before the window and once in it.
            missing("M4", "B", "ME-4", date(2020, 4, 1), true),
            missing("M5", "C", "ME-5", date(2019, 12, 20), false),
            missing("M6", "C", "ME-6", date(2020, 5, 1), false),
            // Exploitation concerns: A twice, D once at place PL-1, E after the window.
            concern("X1", vec![person("A")], date(2020, 1, 20), pb::ExploitationType::Criminal),
            concern("X2", vec![person("A")], date(2020, 3, 20), pb::ExploitationType::Sexual),
            concern("X3", vec![person("D"), place("PL-1")], date(2020, 2, 1), pb::ExploitationType::Criminal),
            concern("X4", vec![person("E")], date(2020, 7, 5), pb::ExploitationType::Criminal),
            // Incidents at PL-1 (four with X3) and one at PL-2.
            arrest("R1", vec![person("F"), place("PL-1")], date(2020, 2, 14), "Greenhill"),
            arrest("R2", vec![person("G"), place("PL-1")], date(2020, 3, 14), "Greenhill"),
            arrest("R3", vec![person("H"), place("PL-2")], date(2020, 3, 15), "Marlborough"),
            event(
                "S1",
                vec![person("S"), place("PL-1")],
                date(2020, 4, 14),
                "Greenhill",
                Body::StopAndSearch(pb::StopAndSearch {
                    grounds: pb::SearchGrounds::Drugs as i32,
                    find: false,
                    outcome: pb::SearchOutcome::NoFurtherAction as i32,
                }),
            ),
            // One briefing item, updated: counted once.
            event(
                "V1a",
                vec![person("A")],
                date(2020, 1, 10),
                "Wealdstone",
                Body::VveBriefingItem(pb::VveBriefingItem {
                    item_id: "V-1".into(),
                    area: "Wealdstone".into(),
                    risk: pb::RiskLevel::High as i32,
                    actions: vec![],
                }),
            ),
            event(
                "V1b",
                vec![person("A")],
                date(2020, 1, 12),
                "Wealdstone",
                Body::VveBriefingItem(pb::VveBriefingItem {
                    item_id: "V-1".into(),
                    area: "Wealdstone".into(),
                    risk: pb::RiskLevel::Medium as i32,
                    actions: vec![],
                }),
            ),
            event(
                "Q1",
                vec![person("A")],
                date(2020, 2, 2),
                "Wealdstone",
                Body::MashReferral(pb::MashReferral {
                    reason: pb::MashReason::Exploitation as i32,
                    ..Default::default()
                }),
            ),
            // Consent records are not counted.
            event(
                "K1",
                vec![person("A")],
                date(2020, 2, 3),
                "Wealdstone",
                Body::ConsentRecorded(pb::ConsentRecorded { consent_id: "c1".into(), ..Default::default() }),
            ),
            outcome(
                "Y1",
                "A",
                date(2020, 5, 5),
                &Outcome {
                    gender: pb::Gender::Female,
                    ..Outcome::new(Disposal::ReferralOrder, true, 15).ethnicity(pb::Ethnicity::Black)
                },
            ),
            outcome("Y2", "F", date(2020, 5, 6), &Outcome::new(Disposal::YouthCaution, true, 17)),
        ];
        // Y2 corrected: the child was 16.
        let mut fix = outcome("Y2b", "F", date(2020, 5, 6), &Outcome::new(Disposal::YouthCaution, true, 16));
        fix.corrects = "Y2".into();
        e.push(fix);
        // Another borough.
        let mut brent = arrest("R9", vec![person("Z"), place("PL-1")], date(2020, 2, 20), "Greenhill");
        brent.borough = "Brent".into();
        e.push(brent);
        e
    }

    fn population() -> Population {
        Population::parse(
            "borough,age,gender,ethnicity,count\n\
             Harrow,14,*,white,5000\nHarrow,14,*,black,2000\nHarrow,14,*,asian,4000\n\
             Harrow,14,*,mixed,1000\nHarrow,14,*,other,500\n",
        )
        .unwrap()
    }

    fn profile_of(events: &[pb::Event]) -> Profile {
        let mut p = Profile::new(config());
        for e in events {
            p.apply(e);
        }
        p
    }

    #[test]
    fn counts_types_categories_months_and_people() {
        let f = profile_of(&events()).figures(&population());
        let by_type: Vec<(&str, u64)> = f.by_type.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            by_type,
            vec![
                ("arrest", 3),
                ("exploitation_concern", 3),
                ("mash_referral", 1),
                ("missing_episode", 5),
                ("stop_and_search", 1),
                ("vve_briefing_item", 1),
                ("youth_justice_outcome", 2),
            ]
        );
        assert_eq!(f.by_category["arrest: robbery"], 3);
        assert_eq!(f.by_category["exploitation_concern: criminal"], 2);
        assert_eq!(f.by_category["exploitation_concern: sexual"], 1);
        assert_eq!(f.by_category["mash_referral: exploitation"], 1);
        assert_eq!(f.by_category["stop_and_search: drugs"], 1);
        // The briefing item is placed (and categorised) by its first event.
        assert_eq!(f.by_category["vve_briefing_item: high"], 1);
        assert_eq!(f.by_category["youth_justice_outcome: youth_caution"], 1);
        assert_eq!(f.by_ward["Greenhill"], 6);
        assert_eq!(f.by_ward["Marlborough"], 1);
        assert_eq!(f.by_ward["Wealdstone"], 9);
        let months: Vec<(&str, u64)> = f.by_month.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            months,
            vec![("2020-01", 3), ("2020-02", 4), ("2020-03", 4), ("2020-04", 2), ("2020-05", 3), ("2020-06", 0)]
        );
        // People A, B, C, D, F, G, H, S: A 14-15 (female, Black), F 16-17 after the correction.
        let ages: BTreeMap<&str, u64> = f.people_by_age_band.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!((ages["14-15"], ages["16-17"], ages["unknown"], ages["18+"]), (1, 1, 6, 0));
        let genders: BTreeMap<&str, u64> = f.people_by_gender.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!((genders["Female"], genders["Male"], genders["Not known"]), (1, 1, 6));
        let groups: BTreeMap<&str, u64> = f.people_by_ethnicity.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!((groups["Black"], groups["White"], groups["Not known"]), (1, 1, 6));
    }

    #[test]
    fn repeats_and_exploitation_flags() {
        let f = profile_of(&events()).figures(&population());
        assert_eq!(f.repeat_missing, RepeatCounts { events: 5, people: 3, repeat_people: 1, repeat_events: 3 });
        assert_eq!(f.repeat_victims, RepeatCounts { events: 3, people: 2, repeat_people: 1, repeat_events: 2 });
        assert_eq!(f.repeat_locations.places, 2);
        assert_eq!(f.repeat_locations.repeat_places, 1);
        assert_eq!(f.repeat_locations.incidents_at_repeat_places, 4);
        // Incidents by ward: Wealdstone 5 missing + 1 briefing item; Greenhill 3 concerns + 2 arrests + 1 search.
        let wards: Vec<(&str, u64)> = f.repeat_locations.repeat_wards.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(wards, vec![("Greenhill", 6), ("Wealdstone", 6)]);
        assert_eq!(
            f.exploitation,
            ExploitationFlags {
                missing_episodes_flagged: 2,
                people_missing_flagged: 2,
                people_with_concern: 2,
                people_missing_and_with_concern: 1,
            }
        );
    }

    #[test]
    fn a_merged_pair_of_people_is_one_person_until_unmerged() {
        let merge =
            |id: &str, body: Body| event(id, vec![person("C"), person("B")], date(2020, 7, 10), "Wealdstone", body);
        // B, missing once, is found to be C, missing once in the window: one
        // person missing twice, a repeat, though the merge came after the window.
        let mut events = events();
        events.push(merge("J1", Body::SubjectsMerged(pb::SubjectsMerged {})));
        let f = profile_of(&events).figures(&population());
        assert_eq!(f.repeat_missing, RepeatCounts { events: 5, people: 2, repeat_people: 2, repeat_events: 5 });
        assert_eq!(f.exploitation.people_missing_flagged, 2, "A and C, who is B");
        let people: u64 = f.people_by_gender.iter().map(|(_, n)| n).sum();
        assert_eq!(people, 7, "A, C (B), D, F, G, H, S");
        // Unmerged, they are two again.
        events.push(merge("J2", Body::SubjectsUnmerged(pb::SubjectsUnmerged {})));
        let f = profile_of(&events).figures(&population());
        assert_eq!(f.repeat_missing, RepeatCounts { events: 5, people: 3, repeat_people: 1, repeat_events: 3 });
        assert_eq!(f.people_by_gender.iter().map(|(_, n)| n).sum::<u64>(), 8);
    }

    /// Outcomes by ethnic group over a population of 5,000 White, 2,000 Black,
    /// 4,000 Asian, 1,000 Mixed and 500 Other children aged 10-17.
    fn disproportionality_events() -> Vec<pb::Event> {
        let mut events = Vec::new();
        let disposals =
            [Disposal::Triage, Disposal::CommunityResolution, Disposal::YouthCaution, Disposal::ReferralOrder];
        let groups = [
            (pb::Ethnicity::White, 10),
            (pb::Ethnicity::Black, 12),
            (pb::Ethnicity::Asian, 8),
            (pb::Ethnicity::Other, 3),
        ];
        for (group, n) in groups {
            for i in 0..n {
                let o = Outcome::new(disposals[i % disposals.len()], false, 10 + (i % 8) as u32).ethnicity(group);
                let id = format!("{}-{i}", group.as_str_name());
                events.push(outcome(&id, &id, plus(date(2020, 1, 10), i as i64 * 5), &o));
            }
        }
        // Not counted: remand, aged 18, outside the window.
        let remand = Outcome::new(Disposal::Remand, false, 15).ethnicity(pb::Ethnicity::White);
        events.push(outcome("W-remand", "W-remand", date(2020, 2, 1), &remand));
        let adult = Outcome::new(Disposal::ReferralOrder, false, 18).ethnicity(pb::Ethnicity::Black);
        events.push(outcome("B-18", "B-18", date(2020, 2, 1), &adult));
        let late = Outcome::new(Disposal::ReferralOrder, false, 15).ethnicity(pb::Ethnicity::Black);
        events.push(outcome("B-late", "B-late", date(2020, 7, 1), &late));
        // Counted, with no ethnic group recorded.
        let unknown = Outcome::new(Disposal::YouthCaution, false, 15).ethnicity(pb::Ethnicity::NotKnown);
        events.push(outcome("U-1", "U-1", date(2020, 3, 1), &unknown));
        events
    }

    #[test]
    fn disproportionality_rates_and_relative_rate_index() {
        let p = profile_of(&disproportionality_events());
        let f = p.figures(&population());
        let group = |name: &str| f.disproportionality.iter().find(|g| g.group == name).cloned().unwrap();
        let (white, black, asian, mixed) = (group("White"), group("Black"), group("Asian"), group("Mixed"));
        assert_eq!((white.outcomes, white.population), (10, Some(5_000)));
        assert_eq!((black.outcomes, black.population), (12, Some(2_000)));
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        // White: 10 per 5,000 = 2.0 per 1,000; Black: 12 per 2,000 = 6.0; RRI 6.0 / 2.0 = 3.0.
        assert!(close(white.rate, 2.0) && close(black.rate, 6.0), "{white:?} {black:?}");
        assert!(close(black.relative_rate_index, 3.0));
        assert!(close(white.relative_rate_index, 1.0));
        assert!(close(asian.relative_rate_index, 1.0));
        assert!(close(mixed.rate, 0.0) && close(mixed.relative_rate_index, 0.0));
        assert_eq!((group("Not known").outcomes, group("Not known").rate), (1, None));

        // Published, from the published counts (Black 12 -> 10, White 10 ->
        // 10): Black's rate 10 / 2,000 x 1,000 = 5.00; its RRI (10 / 2,000) /
        // (10 / 5,000) = 0.005 / 0.002 = 2.50. Other's 3 outcomes are small,
        // so its count is shown as 5 and its rate and RRI withheld.
        let report = p.report(&population(), &Suppression::domain_practice());
        let t = report.table("outcome_rate_by_ethnicity").unwrap();
        let column = "relative rate index (White = 1.00)";
        assert_eq!(t.cell("Black", column).unwrap().shown, "2.50");
        assert_eq!(t.cell("Black", "rate per 1,000").unwrap().shown, "5.00");
        assert_eq!(t.cell("Other", "outcomes").unwrap().shown, "5");
        assert_eq!(t.cell("Other", "rate per 1,000").unwrap().status, CellStatus::Withheld);
        assert_eq!(t.cell("Other", column).unwrap().status, CellStatus::Withheld);
        assert_eq!(t.cell("Not known", "rate per 1,000").unwrap().status, CellStatus::NotApplicable);
        assert_eq!(t.definition.id, "outcome_rate_by_ethnicity");

        // Without a population broken down by ethnicity the rates are n/a, with a note.
        let flat = Population::parse("borough,age,gender,ethnicity,count\nHarrow,14,*,*,12500\n").unwrap();
        let report = p.report(&flat, &Suppression::domain_practice());
        let t = report.table("outcome_rate_by_ethnicity").unwrap();
        assert_eq!(t.cell("Black", column).unwrap().status, CellStatus::NotApplicable);
        assert!(report.notes.iter().any(|n| n.contains("no 10-17 population for some ethnic groups")));
    }

    #[test]
    fn report_publishes_every_table_with_its_definition() {
        let report = profile_of(&events()).report(&population(), &Suppression::domain_practice());
        assert_eq!(report.tables.len(), 12);
        for t in &report.tables {
            assert!(t.definition.lookup().is_some(), "{}", t.id);
            assert!(report.definitions.iter().any(|d| d.id == t.definition.id), "{}", t.id);
            assert_eq!(t.window, config().window);
            assert!(t.rows.iter().all(|r| r.cells.len() == t.columns.len()), "{}", t.id);
        }
        let missing = report.table("profile_repeat_missing").unwrap();
        // 5 episodes: small, shown as 5; 3 people: shown as 5.
        assert_eq!(missing.cell("missing episodes", "count").unwrap().status, CellStatus::Suppressed);
        let truth = profile_of(&events()).report(&population(), &Suppression::None);
        let missing = truth.table("profile_repeat_missing").unwrap();
        assert_eq!(missing.cell("people reported missing", "count").unwrap().shown, "3");
        assert!(truth.suppression.ground_truth_only);
        let csv = truth.to_csv();
        assert!(csv.contains("profile_by_ward,Events by ward,ward,Greenhill,count,6,exact,profile_by_ward,1,2020-01-01,2020-06-30,event_time,Harrow,"));
    }

    #[test]
    fn checkpoint_and_resume_gives_the_same_report() {
        let mut all = events();
        all.extend(disproportionality_events());
        let pop = population();
        let rule = Suppression::domain_practice();
        let whole = profile_of(&all);
        let expected = whole.report(&pop, &rule);
        for split in [0, 1, 7, all.len() / 2, all.len() - 1, all.len()] {
            let checkpoint = crate::Checkpoint { position: split as u64, projection: profile_of(&all[..split]) };
            let saved = checkpoint.to_json().unwrap();
            let restored: crate::Checkpoint<Profile> = crate::Checkpoint::from_json(&saved).unwrap();
            assert_eq!(restored.position, split as u64);
            let mut resumed = restored.projection;
            for e in &all[split..] {
                resumed.apply(e);
            }
            assert_eq!(resumed, whole, "split at {split}");
            assert_eq!(resumed.report(&pop, &rule), expected, "split at {split}");
        }
        // The report does depend on the events: dropping the last one changes it.
        assert_ne!(profile_of(&all[..all.len() - 1]).report(&pop, &rule), expected);
    }

    #[test]
    fn report_time_axis_moves_events() {
        // Recorded a day after occurring: an event on 30 June is in the window by
        // event time, and in July by report time.
        let e = vec![arrest("R1", vec![person("F")], date(2020, 6, 30), "Greenhill")];
        let by_event = profile_of(&e).figures(&population());
        let mut config = config();
        config.time_axis = TimeAxis::ReportTime;
        let mut p = Profile::new(config);
        p.apply(&e[0]);
        let by_report = p.figures(&population());
        assert_eq!(by_event.by_type.get("arrest"), Some(&1));
        assert_eq!(by_report.by_type.get("arrest"), None);
        assert_eq!(by_report.time_axis, TimeAxis::ReportTime);
    }
}
