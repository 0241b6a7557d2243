//! Subject names on the bus: `concord.events.<agency_kind>.<agency_id>.<event_type>`.
//!
//! Agency ids contain dots, so an agency's subjects all sit under the prefix
//! `concord.events.<kind>.<agency_id>.`, which is what its NATS user may
//! publish to. The ledger checks that the subject agrees with the signed event.

use concord_core::ids::agency_kind_name;
use concord_core::{AgencyId, EventType};

/// Where an event was published, parsed back from its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSubject {
    /// The agency named in the subject.
    pub agency: AgencyId,
    /// The event type named in the subject.
    pub event_type: EventType,
}

/// The prefix of every event subject.
pub const EVENTS_PREFIX: &str = "concord.events";

/// The subject an agency publishes an event type on.
pub fn event_subject(agency: &AgencyId, event_type: EventType) -> String {
    format!("{EVENTS_PREFIX}.{}.{agency}.{event_type}", agency_kind_name(agency.kind()))
}

/// The subject prefix an agency may publish under (for NATS permissions).
pub fn agency_prefix(agency: &AgencyId) -> String {
    format!("{EVENTS_PREFIX}.{}.{agency}.", agency_kind_name(agency.kind()))
}

/// The subject an agency's receipts arrive on.
pub fn receipt_subject(agency: &AgencyId) -> String {
    format!("concord.receipts.{agency}")
}

/// The subject an agency's node asks the ledger about consent on.
pub fn consent_subject(agency: &AgencyId) -> String {
    format!("concord.consent.{agency}")
}

/// Parses an event subject; `None` if it is not one.
pub fn parse_event_subject(subject: &str) -> Option<EventSubject> {
    let rest = subject.strip_prefix(EVENTS_PREFIX)?.strip_prefix('.')?;
    let (kind, rest) = rest.split_once('.')?;
    let (agency, event_type) = rest.rsplit_once('.')?;
    let agency = AgencyId::parse(agency).ok()?;
    if agency_kind_name(agency.kind()) != kind {
        return None;
    }
    let event_type = event_type.parse().ok()?;
    Some(EventSubject { agency, event_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let agency = AgencyId::parse("police.met.nw").unwrap();
        let s = event_subject(&agency, EventType::Arrest);
        assert_eq!(s, "concord.events.police.police.met.nw.arrest");
        assert!(s.starts_with(&agency_prefix(&agency)));
        assert_eq!(parse_event_subject(&s), Some(EventSubject { agency, event_type: EventType::Arrest }));
    }

    #[test]
    fn rejects_mismatched_or_foreign_subjects() {
        for bad in [
            "concord.events.camhs.police.met.nw.arrest",
            "concord.events.police.police.met.nw.not_a_type",
            "concord.audit.x",
            "concord.events.police",
            "",
        ] {
            assert_eq!(parse_event_subject(bad), None, "{bad}");
        }
    }
}
