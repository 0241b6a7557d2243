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

/// The subject an agency's node asks for subjects' public sealing keys on.
pub fn seal_keys_subject(agency: &AgencyId) -> String {
    format!("{SEAL_KEYS_PREFIX}.{agency}")
}

/// The prefix of the subjects nodes ask for sealing keys on.
pub const SEAL_KEYS_PREFIX: &str = "concord.keys";

/// The inbox prefix of a NATS user: replies to its requests (JetStream's
/// included) arrive under it, and its user may subscribe under it alone, so
/// no user hears another's replies. A user name's dots become `:` (which no
/// agency id or replica name contains), so the prefix is one subject token
/// and no user's prefix is another's.
pub fn inbox_prefix(user: &str) -> String {
    format!("_INBOX.{}", user.replace('.', ":"))
}

/// The prefix of every audit record subject.
pub const AUDIT_PREFIX: &str = "concord.audit";

/// Who published an audit record, as its subject says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSource {
    /// A query replica (`concord.audit.query.<replica>`): records of reads.
    Query(String),
    /// An agency's node (`concord.audit.node.<agency_id>`): records of its
    /// agency's publishes, and only of those.
    Node(AgencyId),
}

/// Whether `name` may name a replica: letters, digits, `-` and `_` (one
/// subject token, and a valid JetStream consumer name).
pub fn valid_replica_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The subject a query replica publishes its access records on.
pub fn audit_query_subject(replica: &str) -> String {
    format!("{AUDIT_PREFIX}.query.{replica}")
}

/// The subject an agency's node publishes its access records on.
pub fn audit_node_subject(agency: &AgencyId) -> String {
    format!("{AUDIT_PREFIX}.node.{agency}")
}

/// Parses an audit subject; `None` if it is not one.
pub fn parse_audit_subject(subject: &str) -> Option<AuditSource> {
    let rest = subject.strip_prefix(AUDIT_PREFIX)?.strip_prefix('.')?;
    if let Some(replica) = rest.strip_prefix("query.") {
        return valid_replica_name(replica).then(|| AuditSource::Query(replica.to_string()));
    }
    AgencyId::parse(rest.strip_prefix("node.")?).ok().map(AuditSource::Node)
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
    fn audit_subjects_round_trip_and_refuse_others() {
        let agency = AgencyId::parse("police.met.nw").unwrap();
        assert_eq!(parse_audit_subject(&audit_node_subject(&agency)), Some(AuditSource::Node(agency)));
        assert_eq!(parse_audit_subject(&audit_query_subject("serve-1")), Some(AuditSource::Query("serve-1".into())));
        for bad in ["concord.audit.query.a.b", "concord.audit.query.", "concord.audit.node.", "concord.audit.x.y", ""] {
            assert_eq!(parse_audit_subject(bad), None, "{bad}");
        }
        assert!(!valid_replica_name("serve.1") && !valid_replica_name("") && !valid_replica_name("a*"));
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
