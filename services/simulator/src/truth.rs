//! The ground truth a simulation built in: what it generated, tallied as it
//! generated it (not by reading its events back), so analytics computed from
//! a replay of the same events can be checked against it exactly.
//!
//! It covers what an analyst may see under the sharing agreement's analysts'
//! clause: events with a lawful basis other than consent and not special
//! category (so no CAMHS contacts and no consent-only engagements), by event
//! time.

use std::collections::BTreeMap;

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
    /// Events an analyst may see, by type, one per event, for the types
    /// counted one per event (every type but briefing items, whose updates
    /// repeat an item, and consent records).
    pub events_by_type: BTreeMap<String, u64>,
    /// Children given their first caution or conviction (each once).
    pub first_time_entrants: u64,
    /// Custodial sentences.
    pub custodial_sentences: u64,
}

impl GroundTruth {
    /// Tallies one generated event.
    pub(crate) fn add(&mut self, event: &pb::Event) {
        let analysable = event.classification != pb::Classification::SpecialCategory as i32
            && event.lawful_basis.iter().any(|b| *b != pb::LawfulBasis::Consent as i32);
        let Some(body) = event.body.as_ref().filter(|_| analysable) else { return };
        if !matches!(body, Body::VveBriefingItem(_) | Body::ConsentRecorded(_) | Body::ConsentWithdrawn(_)) {
            *self.events_by_type.entry(EventType::of(body).to_string()).or_default() += 1;
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
