//! The definition of every published figure, in one table.
//!
//! Metric definitions change over time (the reoffending cohort went from 12
//! months of disposals to 3; figures can be counted by event time or report
//! time), so every figure carries the id and version of the definition it
//! was computed under, and a report lists the full text of each definition it
//! uses. A change to how a figure is computed is a new version (or a new id)
//! here, never a silent edit of an existing one.

use serde::{Deserialize, Serialize};

/// How one figure is defined: what it counts, over what, in which window, on
/// which time axis, from which events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Definition {
    /// Stable id, e.g. `fte_rate`.
    pub id: &'static str,
    /// Version of the definition under this id, from 1.
    pub version: u32,
    /// Short title for tables and charts.
    pub title: &'static str,
    /// Plain-English definition: numerator, denominator, window, time axis
    /// and which events count.
    pub text: &'static str,
    /// What a rate is expressed per (100,000, 1,000, 100 for a percentage, 1
    /// for a ratio); 0 when the figure is a count.
    pub per: u64,
    /// Decimal places a value is published to.
    pub decimals: u32,
}

impl Definition {
    /// A reference to this definition for a published figure.
    pub fn reference(&self) -> DefinitionRef {
        DefinitionRef { id: self.id.to_string(), version: self.version }
    }
}

/// The id and version of the definition a published figure follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DefinitionRef {
    /// Definition id, e.g. `fte_rate`.
    pub id: String,
    /// Definition version.
    pub version: u32,
}

impl DefinitionRef {
    /// The full definition, if it is in [`DEFINITIONS`].
    pub fn lookup(&self) -> Option<&'static Definition> {
        find(&self.id, self.version)
    }
}

/// A definition as copied into a report, so the report stands alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedDefinition {
    /// Definition id.
    pub id: String,
    /// Definition version.
    pub version: u32,
    /// Short title.
    pub title: String,
    /// Plain-English definition.
    pub text: String,
}

impl From<&Definition> for PublishedDefinition {
    fn from(d: &Definition) -> Self {
        PublishedDefinition { id: d.id.into(), version: d.version, title: d.title.into(), text: d.text.into() }
    }
}

/// The first-time entrant rate by event time, as computed before #21 (the
/// publisher's flag alone, UTC days). Kept so earlier reports stay readable;
/// no longer computed.
pub const FTE_RATE_V1: Definition = Definition {
    id: "fte_rate",
    version: 1,
    title: "First-time entrants per 100,000 children aged 10-17",
    text: "Numerator: children (distinct person subjects) whose first youth justice outcome flagged first_time_entrant \
           falls in the window, where the outcome is a caution or conviction (youth caution, youth conditional caution, \
           referral order, youth rehabilitation order or custody; triage, community resolution and remand are not) and \
           the child was aged 10-17 at the offence; a child counts once however many such outcomes they have, and not \
           at all if an earlier flagged outcome precedes the window. Denominator: the population aged 10-17 of the \
           area, from the population file. Value: numerator / denominator x 100,000, published as a whole number. \
           Window: 12 months ending on the period end (rolling 12 months; nationally to September). Time axis: event \
           time, the outcome's occurred_at (the date of the caution or conviction).",
    per: 100_000,
    decimals: 0,
};

/// The first-time entrant rate by report time, as computed before #21.
/// Kept so earlier reports stay readable; no longer computed.
pub const FTE_RATE_REPORT_TIME_V1: Definition = Definition {
    id: "fte_rate_report_time",
    version: 1,
    title: "First-time entrants per 100,000 children aged 10-17 (by report time)",
    text: "As fte_rate version 1, except that outcomes are placed in the window by report time, the event's \
           recorded_at (when the YOT recorded the outcome), not by when the caution or conviction happened. National \
           data lags, so this differs from the event-time figure for recent periods.",
    per: 100_000,
    decimals: 0,
};

/// The custody rate by event time, as computed before #21 (UTC days). Kept
/// so earlier reports stay readable; no longer computed.
pub const CUSTODY_RATE_V1: Definition = Definition {
    id: "custody_rate",
    version: 1,
    title: "Custodial sentences per 1,000 children aged 10-17",
    text: "Numerator: youth justice outcomes with disposal custody (detention and training order) for a child aged \
           10-17 at the offence, in the window; every sentence counts, so a child sentenced twice counts twice; \
           remands are not sentences and do not count. Denominator: the population aged 10-17 of the area, from the \
           population file. Value: numerator / denominator x 1,000, published to 2 decimal places. Window: 12 months \
           ending on the period end. Time axis: event time, the outcome's occurred_at (the date of sentence).",
    per: 1_000,
    decimals: 2,
};

/// The custody rate by report time, as computed before #21. Kept so earlier
/// reports stay readable; no longer computed.
pub const CUSTODY_RATE_REPORT_TIME_V1: Definition = Definition {
    id: "custody_rate_report_time",
    version: 1,
    title: "Custodial sentences per 1,000 children aged 10-17 (by report time)",
    text: "As custody_rate version 1, except that sentences are placed in the window by report time, the event's \
           recorded_at.",
    per: 1_000,
    decimals: 2,
};

macro_rules! cohort_rules {
    () => {
        " Cohort: children (distinct person subjects) aged 10-17 at the offence with a \
     youth justice outcome that is a caution or conviction (youth caution, youth conditional caution, referral order, \
     youth rehabilitation order or custody; triage, community resolution and remand do not qualify) whose occurred_at \
     (the date of the disposal) falls in the cohort window. A child's index offence is the offence of their first \
     qualifying outcome in the cohort window; its date is the outcome's offence_date, or its occurred_at when no \
     offence date is recorded. A re-offence is a Reoffence event about the child (or linked to the index outcome by \
     original_event_id) whose reoffence_date (occurred_at when unset) is after the index offence date and no more \
     than 12 calendar months after it: re-offences are placed by the date of the offence, measured from the \
     original offence date, not by when they were recorded. The measure counts offences, not when they were \
     proven: the national allowance of a further 6 months for a re-offence to be proven is not applied."
    };
}

/// The binary reoffending rate, 12-month cohort, as computed before #21
/// (follow-up from the index offence). Kept so earlier reports stay
/// readable; no longer computed.
pub const REOFFENDING_BINARY_12_V1: Definition = Definition {
    id: "reoffending_binary",
    version: 1,
    title: "Reoffending: share of the cohort who reoffend within 12 months (12-month cohort)",
    text: concat!(
        "Cohort window: 12 months of disposals. Numerator: children in the cohort with at least one re-offence. \
         Denominator: children in the cohort. Value: numerator / denominator x 100, a percentage published to 1 \
         decimal place.",
        cohort_rules!()
    ),
    per: 100,
    decimals: 1,
};

/// The binary reoffending rate, 3-month cohort, as computed before #21
/// (follow-up from the index offence; it called itself the national measure
/// but was not). Kept so earlier reports stay readable; no longer computed.
pub const REOFFENDING_BINARY_3_V2: Definition = Definition {
    id: "reoffending_binary",
    version: 2,
    title: "Reoffending: share of the cohort who reoffend within 12 months (3-month cohort)",
    text: concat!(
        "Cohort window: 3 months of disposals (the national measure since the change from 12-month cohorts). \
         Numerator: children in the cohort with at least one re-offence. Denominator: children in the cohort. Value: \
         numerator / denominator x 100, a percentage published to 1 decimal place. (This version called itself the \
         national measure; it was not: see version 4.)",
        cohort_rules!()
    ),
    per: 100,
    decimals: 1,
};

/// Re-offences per reoffender, 12-month cohort, as computed before #21. Kept
/// so earlier reports stay readable; no longer computed.
pub const REOFFENDING_FREQUENCY_12_V1: Definition = Definition {
    id: "reoffending_frequency",
    version: 1,
    title: "Reoffending: re-offences per reoffender (12-month cohort)",
    text: concat!(
        "Cohort window: 12 months of disposals. Numerator: re-offences by children in the cohort within 12 months of \
         their index offence. Denominator: children in the cohort with at least one re-offence (reoffenders). Value: \
         numerator / denominator, published to 2 decimal places.",
        cohort_rules!()
    ),
    per: 1,
    decimals: 2,
};

/// Re-offences per reoffender, 3-month cohort, as computed before #21. Kept
/// so earlier reports stay readable; no longer computed.
pub const REOFFENDING_FREQUENCY_3_V2: Definition = Definition {
    id: "reoffending_frequency",
    version: 2,
    title: "Reoffending: re-offences per reoffender (3-month cohort)",
    text: concat!(
        "Cohort window: 3 months of disposals. Numerator: re-offences by children in the cohort within 12 months of \
         their index offence. Denominator: children in the cohort with at least one re-offence (reoffenders). Value: \
         numerator / denominator, published to 2 decimal places.",
        cohort_rules!()
    ),
    per: 1,
    decimals: 2,
};

/// The first-time entrant rate by event time (from #21).
pub const FTE_RATE: Definition = Definition {
    id: "fte_rate",
    version: 2,
    title: "First-time entrants per 100,000 children aged 10-17",
    text: "Numerator: children (distinct person subjects) aged 10-17 at the offence whose first caution or \
           conviction (youth caution, youth conditional caution, referral order, youth rehabilitation order or \
           custody; triage, community resolution and remand are not) falls in the window; a child counts once. \
           Which outcome is a child's first is decided from the child's history in the log where the log knows it, \
           from the publisher's first_time_entrant flag where it does not: an outcome is not a first entry when the \
           log holds an earlier caution or conviction of the child (any borough); it is one when the log holds none \
           and the log's events reach back to the child's 10th birthday (the earliest possible, from the age at \
           the offence: offence date minus (age - 9) years), so no earlier one can be missing; otherwise the flag \
           decides. Where the flag and the history disagree the report says how often, in a data note. \
           Denominator: the population aged 10-17 of the area, from the population file. Value: numerator / \
           denominator x 100,000, published as a whole number. Window: 12 months ending on the period end (rolling \
           12 months; nationally to September), whole days in the partnership's time zone (Europe/London unless \
           configured). Time axis: event time, the outcome's occurred_at (the date of the caution or conviction).",
    per: 100_000,
    decimals: 0,
};

/// The first-time entrant rate by report time (from #21).
pub const FTE_RATE_REPORT_TIME: Definition = Definition {
    id: "fte_rate_report_time",
    version: 2,
    title: "First-time entrants per 100,000 children aged 10-17 (by report time)",
    text: "As fte_rate version 2, except that outcomes are placed in the window by report time, the event's \
           recorded_at (when the YOT recorded the outcome), not by when the caution or conviction happened. National \
           data lags, so this differs from the event-time figure for recent periods.",
    per: 100_000,
    decimals: 0,
};

/// The custody rate by event time (from #21).
pub const CUSTODY_RATE: Definition = Definition {
    id: "custody_rate",
    version: 2,
    title: "Custodial sentences per 1,000 children aged 10-17",
    text: "Numerator: youth justice outcomes with disposal custody (detention and training order) for a child aged \
           10-17 at the offence, in the window; every sentence counts, so a child sentenced twice counts twice; \
           remands are not sentences and do not count. Denominator: the population aged 10-17 of the area, from the \
           population file. Value: numerator / denominator x 1,000, published to 2 decimal places. Window: 12 months \
           ending on the period end, whole days in the partnership's time zone. Time axis: event time, the \
           outcome's occurred_at (the date of sentence).",
    per: 1_000,
    decimals: 2,
};

/// The custody rate by report time (from #21).
pub const CUSTODY_RATE_REPORT_TIME: Definition = Definition {
    id: "custody_rate_report_time",
    version: 2,
    title: "Custodial sentences per 1,000 children aged 10-17 (by report time)",
    text: "As custody_rate version 2, except that sentences are placed in the window by report time, the event's \
           recorded_at.",
    per: 1_000,
    decimals: 2,
};

macro_rules! national_cohort_rules {
    () => {
        " Cohort: children (distinct person subjects) who, in the cohort window, received a \
     caution or a non-custodial conviction (youth caution, youth conditional caution, referral order, youth \
     rehabilitation order: a youth justice outcome, placed by its occurred_at, the date of the disposal) or were \
     released from custody (a release_from_custody event, placed by its occurred_at, the day of release; a custodial \
     sentence places no one in the cohort, its release does), aged 10-17 then (age at the offence for an outcome, \
     at release for a release). Triage, community resolution and remand do not qualify. A child's index date is \
     their first such date in the window. Follow-up: the 12 calendar months after the index date (from the day \
     after it to the same date 12 months later). A re-offence is an offence committed in the follow-up and proven \
     by a caution or conviction by the end of the follow-up plus 6 months: either (a) a youth justice outcome about \
     the child that is a caution or conviction (custody included) whose offence_date is in the follow-up and whose \
     occurred_at (the date it was proven) is no later than 6 months after the follow-up ends, or (b) a Reoffence \
     event about the child (or linked to one of the child's outcomes by original_event_id) whose reoffence_date is \
     in the follow-up and whose proven_date (or, when unset, recorded_at: it was proven by the time it was \
     recorded) is no later than that, unless its proven_by_event_id names an outcome in the log (that offence is \
     counted once, through the outcome under (a)). Every date is a whole day in the partnership's time zone. The \
     figure is provisional until the events applied reach 18 months after the cohort window ends."
    };
}

/// The binary reoffending rate, 12-month cohort, as the national measure
/// defines it (from #21).
pub const REOFFENDING_BINARY_12: Definition = Definition {
    id: "reoffending_binary",
    version: 3,
    title: "Reoffending: share of the cohort who reoffend within 12 months (12-month cohort)",
    text: concat!(
        "Cohort window: 12 months (the former national cohort period). Numerator: children in the cohort with at \
         least one re-offence. Denominator: children in the cohort. Value: numerator / denominator x 100, a \
         percentage published to 1 decimal place.",
        national_cohort_rules!()
    ),
    per: 100,
    decimals: 1,
};

/// The binary reoffending rate, 3-month cohort: the current national
/// measure (from #21).
pub const REOFFENDING_BINARY_3: Definition = Definition {
    id: "reoffending_binary",
    version: 4,
    title: "Reoffending: share of the cohort who reoffend within 12 months (3-month cohort, national measure)",
    text: concat!(
        "Cohort window: 3 months (the national measure's cohort period). Numerator: children in the cohort with at \
         least one re-offence. Denominator: children in the cohort. Value: numerator / denominator x 100, a \
         percentage published to 1 decimal place.",
        national_cohort_rules!()
    ),
    per: 100,
    decimals: 1,
};

/// Re-offences per reoffender, 12-month cohort (from #21).
pub const REOFFENDING_FREQUENCY_12: Definition = Definition {
    id: "reoffending_frequency",
    version: 3,
    title: "Reoffending: re-offences per reoffender (12-month cohort)",
    text: concat!(
        "Cohort window: 12 months. Numerator: re-offences by children in the cohort. Denominator: children in the \
         cohort with at least one re-offence (reoffenders). Value: numerator / denominator, published to 2 decimal \
         places.",
        national_cohort_rules!()
    ),
    per: 1,
    decimals: 2,
};

/// Re-offences per reoffender, 3-month cohort: the current national
/// measure (from #21).
pub const REOFFENDING_FREQUENCY_3: Definition = Definition {
    id: "reoffending_frequency",
    version: 4,
    title: "Reoffending: re-offences per reoffender (3-month cohort, national measure)",
    text: concat!(
        "Cohort window: 3 months. Numerator: re-offences by children in the cohort. Denominator: children in the \
         cohort with at least one re-offence (reoffenders). Value: numerator / denominator, published to 2 decimal \
         places.",
        national_cohort_rules!()
    ),
    per: 1,
    decimals: 2,
};

macro_rules! profile_scope {
    () => {
        " Events: every event in the window except consent records (ConsentRecorded, \
     ConsentWithdrawn) and events corrected by a later event; a missing episode (all events with one episode_id) \
     and a VVE briefing item (all events with one item_id) count once, placed by their first event. Window and time \
     axis: as stated with the table (event time = occurred_at, report time = recorded_at)."
    };
}

/// Profile: counts by event type.
pub const PROFILE_BY_TYPE: Definition = Definition {
    id: "profile_by_type",
    version: 1,
    title: "Events by type",
    text: concat!(
        "Count of events in the window by event type (the body's name, e.g. arrest, missing_episode), missing \
         episodes and briefing items counted once each.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: counts by category within a type.
pub const PROFILE_BY_CATEGORY: Definition = Definition {
    id: "profile_by_category",
    version: 2,
    title: "Events by category",
    text: concat!(
        "Count of events in the window by type and category: arrests by offence_category; stop and searches by \
         grounds; missing episodes by risk grading; MASH referrals by reason; exploitation concerns and NRM \
         referrals by exploitation type; VVE briefing items by risk; youth justice outcomes by disposal; \
         re-offences by offence_category; AssetPlus ratings by intervention level; VCS engagements by programme. \
         Offence categories and programmes are as the replay codes them: a word of the field's fixed vocabulary, \
         `other` for anything else (version 1 counted the publishers' free strings). CAMHS contacts (special \
         category health data) are counted by type only.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: counts by ward.
pub const PROFILE_BY_WARD: Definition = Definition {
    id: "profile_by_ward",
    version: 1,
    title: "Events by ward",
    text: concat!(
        "Count of events in the window by the event's ward (the envelope's ward; `(not recorded)` when empty).",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: counts by month, UTC months (before #21). Kept so earlier
/// reports stay readable; no longer computed.
pub const PROFILE_BY_MONTH_V1: Definition = Definition {
    id: "profile_by_month",
    version: 1,
    title: "Events by month",
    text: concat!(
        "Count of events in the window by calendar month (YYYY-MM, UTC) of the time axis the table states.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: counts by month.
pub const PROFILE_BY_MONTH: Definition = Definition {
    id: "profile_by_month",
    version: 2,
    title: "Events by month",
    text: concat!(
        "Count of events in the window by calendar month (YYYY-MM) of the time axis the table \
         states, in the partnership's time zone (version 1 used UTC months).",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: people by age band.
pub const PROFILE_PEOPLE_BY_AGE: Definition = Definition {
    id: "profile_people_by_age_band",
    version: 1,
    title: "People by age band",
    text: concat!(
        "Distinct person subjects named in any counted event in the window, by age band (under 10, 10-13, 14-15, \
         16-17, 18+, unknown). Age is the age at the offence on the person's latest youth justice outcome up to the \
         end of the window; people with no such outcome are unknown.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: people by gender.
pub const PROFILE_PEOPLE_BY_GENDER: Definition = Definition {
    id: "profile_people_by_gender",
    version: 1,
    title: "People by gender",
    text: concat!(
        "Distinct person subjects named in any counted event in the window, by the gender on their latest youth \
         justice outcome that records one (any time in the data replayed); unknown otherwise.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: people by ethnic group.
pub const PROFILE_PEOPLE_BY_ETHNICITY: Definition = Definition {
    id: "profile_people_by_ethnicity",
    version: 1,
    title: "People by ethnic group",
    text: concat!(
        "Distinct person subjects named in any counted event in the window, by the ethnic group on their latest \
         youth justice outcome that records one (any time in the data replayed); unknown otherwise.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: repeat missing.
pub const PROFILE_REPEAT_MISSING: Definition = Definition {
    id: "profile_repeat_missing",
    version: 1,
    title: "Repeat missing",
    text: concat!(
        "Missing episodes in the window (distinct episode_id); people reported missing (distinct person subjects \
         of those episodes); people with 2 or more missing episodes in the window (repeat missing) and the number \
         of episodes they account for.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: repeat victims of exploitation.
pub const PROFILE_REPEAT_VICTIMS: Definition = Definition {
    id: "profile_repeat_victims",
    version: 1,
    title: "Repeat victims (exploitation concerns)",
    text: concat!(
        "Exploitation concerns in the window; people (person subjects) named in them; people named in 2 or more \
         exploitation concerns in the window (repeat victims) and the number of concerns about them.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: repeat locations.
pub const PROFILE_REPEAT_LOCATIONS: Definition = Definition {
    id: "profile_repeat_locations",
    version: 1,
    title: "Repeat locations",
    text: concat!(
        "Incidents are arrests, stop and searches, missing episodes, exploitation concerns and VVE briefing items in \
         the window. Rows: places (place subjects) named in incidents; places named in 3 or more incidents \
         (repeat locations) and the incidents at them; then each ward with 3 or more incidents (by the event's \
         ward) and its incident count. Places are not listed one by one: their keys are pseudonyms.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Profile: exploitation flags.
pub const PROFILE_EXPLOITATION_FLAGS: Definition = Definition {
    id: "profile_exploitation_flags",
    version: 1,
    title: "Exploitation flags",
    text: concat!(
        "Missing episodes in the window with a linked exploitation concern (the episode's exploitation_concern flag \
         on any of its events); people missing with such a flag; people named in an exploitation concern in the \
         window; people both reported missing and named in an exploitation concern in the window.",
        profile_scope!()
    ),
    per: 0,
    decimals: 0,
};

/// Disproportionality: outcome rates per 1,000 by ethnic group and the relative rate index.
pub const DISPROPORTIONALITY: Definition = Definition {
    id: "outcome_rate_by_ethnicity",
    version: 1,
    title: "Youth justice outcomes per 1,000 children aged 10-17, by ethnic group",
    text: "Numerator: youth justice outcomes in the window for children aged 10-17 at the offence, by the ethnic \
           group recorded on the outcome; every disposal counts (triage, community resolution, cautions, orders, \
           custody) except remand, and every outcome counts, so a child with two outcomes counts twice. Denominator: \
           that ethnic group's population aged 10-17 in the population file. Rate: numerator / denominator x 1,000, \
           to 2 decimal places. Relative rate index (RRI): the group's rate divided by the White group's rate, to 2 \
           decimal places (1.00 = the same rate as White children). Outcomes with no recorded ethnic group are \
           counted but have no rate.",
    per: 1_000,
    decimals: 2,
};

/// Every definition, in the order reports list them.
pub const DEFINITIONS: &[Definition] = &[
    FTE_RATE_V1,
    FTE_RATE,
    FTE_RATE_REPORT_TIME_V1,
    FTE_RATE_REPORT_TIME,
    REOFFENDING_BINARY_12_V1,
    REOFFENDING_BINARY_3_V2,
    REOFFENDING_BINARY_12,
    REOFFENDING_BINARY_3,
    REOFFENDING_FREQUENCY_12_V1,
    REOFFENDING_FREQUENCY_3_V2,
    REOFFENDING_FREQUENCY_12,
    REOFFENDING_FREQUENCY_3,
    CUSTODY_RATE_V1,
    CUSTODY_RATE,
    CUSTODY_RATE_REPORT_TIME_V1,
    CUSTODY_RATE_REPORT_TIME,
    PROFILE_BY_TYPE,
    PROFILE_BY_CATEGORY,
    PROFILE_BY_WARD,
    PROFILE_BY_MONTH_V1,
    PROFILE_BY_MONTH,
    PROFILE_PEOPLE_BY_AGE,
    PROFILE_PEOPLE_BY_GENDER,
    PROFILE_PEOPLE_BY_ETHNICITY,
    PROFILE_REPEAT_MISSING,
    PROFILE_REPEAT_VICTIMS,
    PROFILE_REPEAT_LOCATIONS,
    PROFILE_EXPLOITATION_FLAGS,
    DISPROPORTIONALITY,
];

/// The definition with this id and version, if there is one.
pub fn find(id: &str, version: u32) -> Option<&'static Definition> {
    DEFINITIONS.iter().find(|d| d.id == id && d.version == version)
}

/// The latest version of the definition with this id, if there is one.
pub fn latest(id: &str) -> Option<&'static Definition> {
    DEFINITIONS.iter().filter(|d| d.id == id).max_by_key(|d| d.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_versions_are_unique_and_texts_filled() {
        for (i, a) in DEFINITIONS.iter().enumerate() {
            assert!(a.version >= 1, "{} has version 0", a.id);
            assert!(a.text.len() > 60, "{} has too short a text", a.id);
            assert!(!a.title.is_empty());
            for b in &DEFINITIONS[i + 1..] {
                assert!(!(a.id == b.id && a.version == b.version), "{} v{} twice", a.id, a.version);
            }
        }
        assert_eq!(latest("reoffending_binary").map(|d| d.version), Some(4));
        assert_eq!(latest("fte_rate").map(|d| d.version), Some(2));
        assert_eq!(find("fte_rate", 1).map(|d| d.decimals), Some(0));
        assert!(find("fte_rate", 9).is_none());
        let r = CUSTODY_RATE.reference();
        assert_eq!(r.lookup(), Some(&CUSTODY_RATE));
    }
}
