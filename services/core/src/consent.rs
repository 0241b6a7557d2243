//! A subject's consent, as the events about it record it.
//!
//! Consent is event-sourced: a `ConsentRecorded` event gives it (scoped to
//! agencies and purposes, perhaps until a date) and a `ConsentWithdrawn`
//! event with the same `consent_id` takes it back. An event that relies on
//! consent names it (`consent_ref`); [`fold`] replays the consent events that
//! share a subject with it into the [`Consent`] as it stands.

use crate::ids::agency_kind_name;
use crate::millis;
use crate::pb::{self, event::Body};

/// Where a consent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentStatus {
    /// No such consent is recorded for the subject.
    None,
    /// Given and not withdrawn (nor, at the time asked, expired).
    Given,
    /// Withdrawn.
    Withdrawn,
    /// Given until a date that has passed.
    Expired,
}

impl ConsentStatus {
    /// The name the sharing agreement uses: `none`, `given`, `withdrawn`, `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::None => "none",
            ConsentStatus::Given => "given",
            ConsentStatus::Withdrawn => "withdrawn",
            ConsentStatus::Expired => "expired",
        }
    }
}

/// One consent as it stands, with the scope it had when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Where it stands.
    pub status: ConsentStatus,
    /// Agencies it covers, by id.
    pub agency_ids: Vec<String>,
    /// Agency kinds it covers (`police`, `vcs`, ...).
    pub agency_kinds: Vec<String>,
    /// Purposes it covers (`safeguarding`, `case_management`, ...).
    pub purposes: Vec<String>,
    /// When it lapses, in milliseconds since the epoch, if it does.
    pub expires_at: Option<i64>,
}

impl Consent {
    /// No consent.
    pub fn none() -> Self {
        Consent {
            status: ConsentStatus::None,
            agency_ids: Vec::new(),
            agency_kinds: Vec::new(),
            purposes: Vec::new(),
            expires_at: None,
        }
    }

    /// Whether it is given and covers this agency (by id or kind) and purpose.
    pub fn covers(&self, agency_id: &str, agency_kind: &str, purpose: &str) -> bool {
        self.status == ConsentStatus::Given
            && (self.agency_ids.iter().any(|a| a == agency_id) || self.agency_kinds.iter().any(|k| k == agency_kind))
            && self.purposes.iter().any(|p| p == purpose)
    }
}

/// Whether `event` names `LAWFUL_BASIS_CONSENT`.
pub fn relies_on_consent(event: &pb::Event) -> bool {
    event.lawful_basis.contains(&(pb::LawfulBasis::Consent as i32))
}

/// Whether `event` has a lawful basis other than consent.
pub fn has_other_basis(event: &pb::Event) -> bool {
    event
        .lawful_basis
        .iter()
        .any(|b| *b != pb::LawfulBasis::Consent as i32 && *b != pb::LawfulBasis::Unspecified as i32)
}

/// The consent id a consent event records or withdraws.
pub fn consent_id_of(event: &pb::Event) -> Option<&str> {
    match &event.body {
        Some(Body::ConsentRecorded(c)) => Some(&c.consent_id),
        Some(Body::ConsentWithdrawn(c)) => Some(&c.consent_id),
        _ => None,
    }
}

/// The lowercase name of a proto enum value without its prefix.
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase()
}

/// Replays `history` (consent events in log order) into the state of consent
/// `consent_id` for any of `subjects`, at `now` (milliseconds since the epoch;
/// `None` ignores expiry). Events about other subjects or other consents are
/// skipped, so agencies that happen to reuse a consent id do not mix.
pub fn fold<'a>(
    history: impl IntoIterator<Item = &'a pb::Event>,
    consent_id: &str,
    subjects: &[pb::SubjectRef],
    now: Option<i64>,
) -> Consent {
    let mut consent = Consent::none();
    for event in history {
        if consent_id_of(event) != Some(consent_id) || !event.subjects.iter().any(|s| subjects.contains(s)) {
            continue;
        }
        match &event.body {
            Some(Body::ConsentRecorded(c)) => {
                consent = Consent {
                    status: ConsentStatus::Given,
                    agency_ids: c.agency_ids.clone(),
                    agency_kinds: c
                        .agency_kinds
                        .iter()
                        .filter_map(|k| pb::AgencyKind::try_from(*k).ok())
                        .map(|k| agency_kind_name(k).to_string())
                        .collect(),
                    purposes: c
                        .purposes
                        .iter()
                        .filter_map(|p| pb::Purpose::try_from(*p).ok())
                        .map(|p| short(p.as_str_name(), "PURPOSE_"))
                        .collect(),
                    expires_at: c.expires_at.as_ref().map(millis),
                };
            }
            Some(Body::ConsentWithdrawn(_)) => consent.status = ConsentStatus::Withdrawn,
            _ => {}
        }
    }
    if let (ConsentStatus::Given, Some(expires), Some(now)) = (consent.status, consent.expires_at, now)
        && now >= expires
    {
        consent.status = ConsentStatus::Expired;
    }
    consent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(key: &str) -> pb::SubjectRef {
        pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
    }

    fn recorded(id: &str, key: &str, expires: Option<i64>) -> pb::Event {
        pb::Event {
            subjects: vec![subject(key)],
            body: Some(Body::ConsentRecorded(pb::ConsentRecorded {
                consent_id: id.into(),
                given_by: pb::ConsentGiver::Child as i32,
                agency_kinds: vec![pb::AgencyKind::Vcs as i32],
                agency_ids: vec!["yot.harrow".into()],
                purposes: vec![pb::Purpose::Safeguarding as i32],
                expires_at: expires.map(|ms| pbjson_types::Timestamp { seconds: ms / 1000, nanos: 0 }),
            })),
            ..Default::default()
        }
    }

    fn withdrawn(id: &str, key: &str) -> pb::Event {
        pb::Event {
            subjects: vec![subject(key)],
            body: Some(Body::ConsentWithdrawn(pb::ConsentWithdrawn { consent_id: id.into() })),
            ..Default::default()
        }
    }

    #[test]
    fn consent_is_given_then_withdrawn_per_subject() {
        let s = [subject("P-1")];
        assert_eq!(fold([], "C-1", &s, None).status, ConsentStatus::None);
        let given = [recorded("C-1", "P-1", None)];
        let c = fold(&given, "C-1", &s, None);
        assert_eq!(c.status, ConsentStatus::Given);
        assert!(c.covers("vcs.harrow.youthclub", "vcs", "safeguarding"));
        assert!(c.covers("yot.harrow", "yot", "safeguarding"));
        assert!(!c.covers("police.met.nw", "police", "safeguarding"));
        assert!(!c.covers("yot.harrow", "yot", "analysis"));

        let history = [recorded("C-1", "P-1", None), withdrawn("C-1", "P-1")];
        let c = fold(&history, "C-1", &s, None);
        assert_eq!(c.status, ConsentStatus::Withdrawn);
        assert!(!c.covers("yot.harrow", "yot", "safeguarding"));

        // Another subject's consent with the same id, and its withdrawal, do not count.
        let history = [recorded("C-1", "P-2", None), withdrawn("C-1", "P-2"), recorded("C-1", "P-1", None)];
        assert_eq!(fold(&history, "C-1", &s, None).status, ConsentStatus::Given);
        assert_eq!(fold(&history[..2], "C-1", &s, None).status, ConsentStatus::None);
    }

    #[test]
    fn consent_expires() {
        let s = [subject("P-1")];
        let given = [recorded("C-1", "P-1", Some(10_000))];
        assert_eq!(fold(&given, "C-1", &s, Some(9_999)).status, ConsentStatus::Given);
        assert_eq!(fold(&given, "C-1", &s, Some(10_000)).status, ConsentStatus::Expired);
        assert_eq!(fold(&given, "C-1", &s, None).status, ConsentStatus::Given);
    }
}
