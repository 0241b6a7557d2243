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
    pub(crate) items: BTreeSet<String>,
}

impl GroundTruth {
    /// Tallies one generated event.
    pub(crate) fn add(&mut self, event: &pb::Event) {
        let analysable = event.classification != pb::Classification::SpecialCategory as i32
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
        if let Body::YouthJusticeOutcome(outcome) = body {
            if outcome.first_time_entrant {
                self.first_time_entrants += 1;
            }
            if outcome.disposal == pb::Disposal::Custody as i32 {
                self.custodial_sentences += 1;
            }
        }
    }
}
