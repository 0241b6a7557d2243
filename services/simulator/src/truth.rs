//! The ground truth a simulation built in: what it generated, tallied as it
//! generated it (not by reading its events back), so analytics computed from
//! a replay of the same events can be checked against it exactly.
//!
//! It covers what an analyst may see under the sharing agreement's analysts'
//! clause: events with a lawful basis other than consent and not special
//! category (so no CAMHS contacts and no consent-only engagements), by event
//! time.

use std::collections::{BTreeMap, BTreeSet};

use concord_core::EventType;
use concord_core::pb::{self, event::Body};
use serde::Serialize;

/// What the simulation generated, by event time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroundTruth {
    /// The first simulated day (`YYYY-MM-DD`).
    pub first_day: String,
    /// The last simulated day.
    pub last_day: String,
    /// Children aged 10-17 in the borough (the population denominator).
    pub population_10_17: u32,
    /// What an analyst may see, by type: one per event, but one per
    /// briefing item however often it was updated; consent records are not
    /// counted.
    pub events_by_type: BTreeMap<String, u64>,
    /// The same, by ward (of an item's first event).
    pub events_by_ward: BTreeMap<String, u64>,
    /// The same, by month of event time (`YYYY-MM`, UTC).
    pub events_by_month: BTreeMap<String, u64>,
    /// Children given their first caution or conviction (each once).
    pub first_time_entrants: u64,
    /// Custodial sentences.
    pub custodial_sentences: u64,
    /// Briefing items already counted.
    #[serde(skip)]
    items: BTreeSet<String>,
    /// Youth justice outcomes: child, decided (s), offence date (s), and
    /// whether a caution or conviction.
    #[serde(skip)]
    outcomes: Vec<(String, i64, i64, bool)>,
    /// Re-offences: child, date (s).
    #[serde(skip)]
    reoffences: Vec<(String, i64)>,
    /// Missing episodes and exploitation concerns per child.
    #[serde(skip)]
    missing_by_child: BTreeMap<String, u64>,
    #[serde(skip)]
    concerns_by_child: BTreeMap<String, u64>,
}

/// Events about children, and the children in two or more of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Repeats {
    /// The events.
    pub events: u64,
    /// The children in them.
    pub children: u64,
    /// Children in two or more.
    pub repeat_children: u64,
    /// The events about those children.
    pub repeat_events: u64,
}

impl Repeats {
    fn of(by_child: &BTreeMap<String, u64>) -> Repeats {
        let repeat = by_child.values().filter(|n| **n >= 2);
        Repeats {
            events: by_child.values().sum(),
            children: by_child.len() as u64,
            repeat_children: repeat.clone().count() as u64,
            repeat_events: repeat.sum(),
        }
    }
}

/// The reoffending measure for one cohort, as built in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reoffending {
    /// Children aged 10-17 whose first caution or conviction in the cohort
    /// window was decided then.
    pub cohort: u64,
    /// Of them, those with a re-offence within 12 months of that index offence.
    pub reoffenders: u64,
    /// Those re-offences.
    pub reoffences: u64,
}

impl GroundTruth {
    /// Nothing generated yet, from `first_day`, for `population_10_17` children.
    pub(crate) fn new(first_day: time::Date, population_10_17: u32) -> Self {
        GroundTruth {
            first_day: first_day.to_string(),
            last_day: first_day.to_string(),
            population_10_17,
            ..GroundTruth::default()
        }
    }

    /// Tallies one generated event.
    pub(crate) fn add(&mut self, event: &pb::Event) {
        // Health data (by classification or by content) is not analysable.
        let analysable = !concord_core::sensitivity::is_special_category(event)
            && event.lawful_basis.iter().any(|b| *b != pb::LawfulBasis::Consent as i32);
        let Some(body) = event.body.as_ref().filter(|_| analysable) else { return };
        let counted = match body {
            Body::ConsentRecorded(_) | Body::ConsentWithdrawn(_) => false,
            Body::VveBriefingItem(item) => self.items.insert(item.item_id.clone()),
            _ => true,
        };
        if counted {
            *self.events_by_type.entry(EventType::of(body).to_string()).or_default() += 1;
            *self.events_by_ward.entry(event.ward.clone()).or_default() += 1;
            if let Some(month) =
                event.occurred_at.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
            {
                let month = format!("{:04}-{:02}", month.year(), u8::from(month.month()));
                *self.events_by_month.entry(month).or_default() += 1;
            }
        }
        let child = event.subjects.first().map(|s| s.key.clone()).unwrap_or_default();
        let (missing, concern) =
            (matches!(body, Body::MissingEpisode(_)), matches!(body, Body::ExploitationConcern(_)));
        if missing || concern {
            let by_child = if missing { &mut self.missing_by_child } else { &mut self.concerns_by_child };
            *by_child.entry(child.clone()).or_default() += 1;
        }
        let seconds = |t: Option<pbjson_types::Timestamp>| t.map(|t| t.seconds);
        if let Body::Reoffence(r) = body
            && let Some(date) = seconds(r.reoffence_date)
        {
            self.reoffences.push((child.clone(), date));
        }
        if let Body::YouthJusticeOutcome(outcome) = body {
            if let Some(decided) = seconds(event.occurred_at) {
                let offence = seconds(outcome.offence_date).unwrap_or(decided);
                let formal = !matches!(
                    pb::Disposal::try_from(outcome.disposal),
                    Ok(pb::Disposal::Triage | pb::Disposal::CommunityResolution | pb::Disposal::Remand)
                );
                self.outcomes.push((child, decided, offence, formal));
            }
            if outcome.first_time_entrant {
                self.first_time_entrants += 1;
            }
            if outcome.disposal == pb::Disposal::Custody as i32 {
                self.custodial_sentences += 1;
            }
        }
    }

    /// Missing episodes, and the children missing twice or more.
    pub fn repeat_missing(&self) -> Repeats {
        Repeats::of(&self.missing_by_child)
    }

    /// Exploitation concerns, and the children subject to two or more.
    pub fn repeat_victims(&self) -> Repeats {
        Repeats::of(&self.concerns_by_child)
    }

    /// The reoffending measure for the cohort of cautions and convictions
    /// decided from `from` to `to` (whole UTC days): each child's index is
    /// their first one in the window, and a re-offence counts when it falls
    /// after the index offence and within 12 calendar months of it.
    pub fn reoffending(&self, from: time::Date, to: time::Date) -> Reoffending {
        let (start, end) = (from.midnight().assume_utc(), to.next_day().unwrap_or(to).midnight().assume_utc());
        let mut index: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (child, decided, offence, formal) in &self.outcomes {
            let in_window = (start.unix_timestamp()..end.unix_timestamp()).contains(decided);
            if *formal && in_window {
                let first = index.entry(child.as_str()).or_insert((*decided, *offence));
                if *decided < first.0 {
                    *first = (*decided, *offence);
                }
            }
        }
        let mut by_child: BTreeMap<&str, u64> = BTreeMap::new();
        for (child, date) in &self.reoffences {
            let Some((_, offence)) = index.get(child.as_str()) else { continue };
            let year_later = time::OffsetDateTime::from_unix_timestamp(*offence)
                .ok()
                .and_then(|t| t.replace_year(t.year() + 1).ok())
                .map_or(i64::MAX, |t| t.unix_timestamp());
            if date > offence && *date <= year_later {
                *by_child.entry(child.as_str()).or_default() += 1;
            }
        }
        Reoffending {
            cohort: index.len() as u64,
            reoffenders: by_child.len() as u64,
            reoffences: by_child.values().sum(),
        }
    }
}
