//! The ground truth a simulation built in, so analytics computed from a
//! replay of its events can be checked against it exactly.
//!
//! Counts of events (by type, ward, month, child) are tallied from the
//! events as they are generated. The youth justice indicators come from the
//! children's histories as the simulation decided them (each caution or
//! conviction, custodial sentence, release and proof of a further offence,
//! on the borough's calendar days), with the national measures' rules
//! written out here on those facts: not from the events' flags, and not
//! with the analytics code.
//!
//! It covers what an analyst may see under the sharing agreement's analysts'
//! clause: events with a lawful basis other than consent and not special
//! category (so no CAMHS contacts and no consent-only engagements), by event
//! time.

use std::collections::{BTreeMap, BTreeSet};

use concord_core::EventType;
use concord_core::pb::{self, event::Body};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
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
    /// The same, by month of event time (`YYYY-MM`, in the borough's zone).
    pub events_by_month: BTreeMap<String, u64>,
    /// Children given their first caution or conviction ever (each once).
    pub first_time_entrants: u64,
    /// Custodial sentences.
    pub custodial_sentences: u64,
    /// Briefing items already counted.
    #[serde(skip)]
    items: BTreeSet<String>,
    /// Children's index days: a caution, a conviction to a community
    /// sentence or a release from custody, aged 10-17.
    #[serde(skip)]
    index_days: Vec<(String, Date)>,
    /// Every proven offence: the child, the day committed and the day proven.
    #[serde(skip)]
    proven: Vec<(String, Date, Date)>,
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
    /// Children cautioned, convicted to a community sentence or released
    /// from custody in the cohort window, aged 10-17.
    pub cohort: u64,
    /// Of them, those who committed an offence in the 12 months from their
    /// first such day in the window, proven within 6 months after.
    pub reoffenders: u64,
    /// Those offences.
    pub reoffences: u64,
}

impl GroundTruth {
    /// Nothing generated yet, from `first_day`, for `population_10_17` children.
    pub(crate) fn new(first_day: Date, population_10_17: u32) -> Self {
        GroundTruth {
            first_day: first_day.to_string(),
            last_day: first_day.to_string(),
            population_10_17,
            ..GroundTruth::default()
        }
    }

    /// Tallies one generated event (its month in `zone`).
    pub(crate) fn add(&mut self, event: &pb::Event, zone: &TimeZone) {
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
            if let Some(at) = event.occurred_at.and_then(|t| Timestamp::from_second(t.seconds).ok()) {
                let day = zone.to_datetime(at).date();
                *self.events_by_month.entry(format!("{:04}-{:02}", day.year(), day.month())).or_default() += 1;
            }
        }
        let child = event.subjects.first().map(|s| s.key.clone()).unwrap_or_default();
        let (missing, concern) =
            (matches!(body, Body::MissingEpisode(_)), matches!(body, Body::ExploitationConcern(_)));
        if missing || concern {
            let by_child = if missing { &mut self.missing_by_child } else { &mut self.concerns_by_child };
            *by_child.entry(child).or_default() += 1;
        }
    }

    /// `child`'s offence committed on `committed` was proven (by a caution or
    /// conviction here, or elsewhere) on `proven`.
    pub(crate) fn proven(&mut self, child: &str, committed: Date, proven: Date) {
        self.proven.push((child.to_string(), committed, proven));
    }

    /// A child's first caution or conviction ever.
    pub(crate) fn first_time_entrant(&mut self) {
        self.first_time_entrants += 1;
    }

    /// A custodial sentence of a child.
    pub(crate) fn custodial_sentence(&mut self) {
        self.custodial_sentences += 1;
    }

    /// `child`, aged 10-17, was cautioned, convicted to a community sentence
    /// or released from custody on `day`.
    pub(crate) fn index(&mut self, child: &str, day: Date) {
        self.index_days.push((child.to_string(), day));
    }

    /// Missing episodes, and the children missing twice or more.
    pub fn repeat_missing(&self) -> Repeats {
        Repeats::of(&self.missing_by_child)
    }

    /// Exploitation concerns, and the children subject to two or more.
    pub fn repeat_victims(&self) -> Repeats {
        Repeats::of(&self.concerns_by_child)
    }

    /// The reoffending measure for the cohort of `from` to `to` (calendar
    /// days of the borough, both included): each child's index day is their
    /// first in the window; an offence counts when committed after that day
    /// and no later than 12 months after it, and proven no later than 6
    /// months after that.
    pub fn reoffending(&self, from: Date, to: Date) -> Reoffending {
        let mut index: BTreeMap<&str, Date> = BTreeMap::new();
        for (child, day) in self.index_days.iter().filter(|(_, day)| from <= *day && *day <= to) {
            let first = index.entry(child.as_str()).or_insert(*day);
            *first = (*first).min(*day);
        }
        let mut by_child: BTreeMap<&str, u64> = BTreeMap::new();
        for (child, committed, proven) in &self.proven {
            let Some(start) = index.get(child.as_str()) else { continue };
            let follow_up_ends = start.saturating_add(12.months());
            let proof_by = follow_up_ends.saturating_add(6.months());
            if start < committed && *committed <= follow_up_ends && *proven <= proof_by {
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
