//! A subject's consent, as the events about it record it.
//!
//! Consent is event-sourced: a `ConsentRecorded` event gives it (scoped to
//! agencies and purposes, perhaps until a date) and a `ConsentWithdrawn`
//! event with the same `consent_id` takes it back. An event that relies on
//! consent names it (`consent_ref`); [`fold`] replays the consent's events
//! into the [`Consent`] as it stands for that event's subjects.
//!
//! A consent belongs to the agency that first recorded it: only that agency's
//! later events amend or withdraw it (another agency's are refused at the
//! node and the ledger, and ignored here). It covers only the people it
//! names: an event about someone else it does not name is not covered, even
//! if it also names someone who consented.

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
    /// Who gave it.
    pub given_by: pb::ConsentGiver,
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
            given_by: pb::ConsentGiver::Unspecified,
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

/// Whether `event` records or withdraws a consent, or relies on one: the events whose
/// order the ledger judges by the log, so a publisher that must see them all appended
/// (a simulation publishing days in seconds, a bulk load) waits for each one's receipt
/// before publishing anything later.
pub fn touches_consent(event: &pb::Event) -> bool {
    consent_id_of(event).is_some() || relies_on_consent(event)
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

/// The agency a consent belongs to: the one whose event first recorded it in
/// `history` (consent events in log order), if any did.
pub fn owner<'a>(history: impl IntoIterator<Item = &'a pb::Event>, consent_id: &str) -> Option<&'a str> {
    history
        .into_iter()
        .find(|e| matches!(&e.body, Some(Body::ConsentRecorded(c)) if c.consent_id == consent_id))
        .map(|e| e.agency_id.as_str())
}

/// The people an event is about: its person subjects.
fn people(subjects: &[pb::SubjectRef]) -> impl Iterator<Item = &pb::SubjectRef> {
    subjects.iter().filter(|s| s.kind == pb::SubjectKind::Person as i32)
}

/// Replays `history` (consent events in log order) into the state of consent
/// `consent_id` for an event about `subjects`, at `now` (milliseconds since
/// the epoch; `None` ignores expiry). Only the owner's events count (see
/// [`owner`]). The consent covers the event only if it names every person
/// the event is about (and the event is about someone); otherwise it is
/// [`ConsentStatus::None`] for that event.
pub fn fold<'a>(
    history: impl IntoIterator<Item = &'a pb::Event>,
    consent_id: &str,
    subjects: &[pb::SubjectRef],
    now: Option<i64>,
) -> Consent {
    let history: Vec<&pb::Event> = history.into_iter().filter(|e| consent_id_of(e) == Some(consent_id)).collect();
    let Some(owner) = owner(history.iter().copied(), consent_id) else {
        return Consent::none();
    };
    let mut consent = Consent::none();
    let mut named: Vec<&pb::SubjectRef> = Vec::new();
    for event in history.into_iter().filter(|e| e.agency_id == owner) {
        match &event.body {
            Some(Body::ConsentRecorded(c)) => {
                named = people(&event.subjects).collect();
                consent = Consent {
                    status: ConsentStatus::Given,
                    given_by: pb::ConsentGiver::try_from(c.given_by).unwrap_or_default(),
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
    let mut about = people(subjects).peekable();
    if about.peek().is_none() || !about.all(|s| named.contains(&s)) {
        return Consent::none();
    }
    if let (ConsentStatus::Given, Some(expires), Some(now)) = (consent.status, consent.expires_at, now)
        && now >= expires
    {
        consent.status = ConsentStatus::Expired;
    }
    consent
}

/// Why `consent` may not be relied on by `event` because of who gave it, if
/// it may not: an adult's NRM referral needs the adult's own consent, and a
/// child's is given by the child or a parent or carer. (Only an NRM referral
/// says whether its subject is a child.)
pub fn giver_mismatch(event: &pb::Event, consent: &Consent) -> Option<String> {
    let Some(Body::NrmReferral(nrm)) = &event.body else { return None };
    let fits = match consent.given_by {
        pb::ConsentGiver::AdultSubject => !nrm.minor,
        pb::ConsentGiver::Child | pb::ConsentGiver::ParentCarer => nrm.minor,
        pb::ConsentGiver::Unspecified => false,
    };
    (!fits).then(|| {
        let who = if nrm.minor { "the child or a parent or carer" } else { "the adult themselves" };
        format!(
            "consent_ref: consent `{}` was given by {}, but this {} NRM referral needs consent from {who}",
            event.consent_ref,
            short(consent.given_by.as_str_name(), "CONSENT_GIVER_").replace('_', " "),
            if nrm.minor { "child's" } else { "adult's" },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(key: &str) -> pb::SubjectRef {
        pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
    }

    fn recorded(id: &str, key: &str, expires: Option<i64>) -> pb::Event {
        pb::Event {
            agency_id: "camhs.nwl".into(),
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
            agency_id: "camhs.nwl".into(),
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

        // A consent about another person does not cover P-1.
        let history = [recorded("C-1", "P-2", None)];
        assert_eq!(fold(&history, "C-1", &s, None).status, ConsentStatus::None);
    }

    #[test]
    fn a_consent_belongs_to_the_agency_that_recorded_it() {
        let s = [subject("P-1")];
        let mut hijack = recorded("C-1", "P-1", None);
        hijack.agency_id = "vcs.st-giles".into();
        if let Some(Body::ConsentRecorded(c)) = &mut hijack.body {
            c.agency_ids = vec!["vcs.st-giles".into()];
        }
        let mut foreign_withdrawal = withdrawn("C-1", "P-1");
        foreign_withdrawal.agency_id = "police.met.nw".into();
        let history = [recorded("C-1", "P-1", None), hijack, foreign_withdrawal];
        assert_eq!(owner(&history, "C-1"), Some("camhs.nwl"));
        let c = fold(&history, "C-1", &s, None);
        assert_eq!(c.status, ConsentStatus::Given, "another agency's withdrawal does not count");
        assert_eq!(c, fold(&history[..1], "C-1", &s, None), "nor does its rewrite of the scope");
        // The owner's own amendment and withdrawal do.
        let history = [recorded("C-1", "P-1", None), withdrawn("C-1", "P-1")];
        assert_eq!(fold(&history, "C-1", &s, None).status, ConsentStatus::Withdrawn);
    }

    #[test]
    fn a_consent_covers_only_the_people_it_names() {
        let given = [recorded("C-1", "P-1", None)];
        assert_eq!(fold(&given, "C-1", &[subject("P-1")], None).status, ConsentStatus::Given);
        let both = [subject("P-1"), subject("P-2")];
        assert_eq!(fold(&given, "C-1", &both, None).status, ConsentStatus::None, "P-2 never consented");
        let place = pb::SubjectRef { kind: pb::SubjectKind::Place as i32, key: "PL-1".into() };
        assert_eq!(fold(&given, "C-1", &[subject("P-1"), place.clone()], None).status, ConsentStatus::Given);
        assert_eq!(fold(&given, "C-1", &[place], None).status, ConsentStatus::None, "about nobody");
    }

    #[test]
    fn an_nrm_referral_needs_consent_from_the_right_person() {
        let nrm = |minor| pb::Event {
            consent_ref: "C-1".into(),
            body: Some(Body::NrmReferral(pb::NrmReferral { exploitation_type: 1, minor })),
            ..Default::default()
        };
        let by = |given_by| Consent { status: ConsentStatus::Given, given_by, ..Consent::none() };
        assert_eq!(giver_mismatch(&nrm(false), &by(pb::ConsentGiver::AdultSubject)), None);
        assert!(giver_mismatch(&nrm(false), &by(pb::ConsentGiver::ParentCarer)).is_some());
        assert_eq!(giver_mismatch(&nrm(true), &by(pb::ConsentGiver::ParentCarer)), None);
        assert_eq!(giver_mismatch(&nrm(true), &by(pb::ConsentGiver::Child)), None);
        assert!(giver_mismatch(&nrm(true), &by(pb::ConsentGiver::AdultSubject)).is_some());
        assert_eq!(giver_mismatch(&pb::Event::default(), &by(pb::ConsentGiver::AdultSubject)), None);
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
