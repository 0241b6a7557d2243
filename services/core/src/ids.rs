//! Typed identifiers: agencies, subjects, events and event types.
//!
//! Each type can only hold a valid value, so code past the edge never has to
//! re-check a string.

use std::fmt;
use std::str::FromStr;

use crate::pb;

/// An identifier that failed to parse, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{value}` is not valid: {reason}")]
pub struct IdError {
    /// What kind of identifier it was meant to be.
    pub what: &'static str,
    /// The rejected text.
    pub value: String,
    /// Why it was rejected.
    pub reason: &'static str,
}

fn id_error(what: &'static str, value: &str, reason: &'static str) -> IdError {
    IdError { what, value: value.to_string(), reason }
}

/// The log stream of a VVE briefing item: the item and every later change to
/// its actions (`item/<item_id>`; subjects' streams are `kind/key`, and no
/// subject kind is `item`).
pub fn item_stream(item_id: &str) -> String {
    format!("item/{item_id}")
}

/// The stream of one agency's own events in `stream` (a subject's or an
/// item's): `agency/<agency_id>/<stream>`. Expected versions are checked
/// against these streams only, never against a subject's whole stream: a
/// publisher may expect, and a conflict may tell it, only how many events its
/// own agency has published about a subject or item, which it knows anyway.
/// A subject's whole stream counts other agencies' events too, events the
/// publisher may not see; its version (and whether it is 0) would tell it
/// that records it may not see exist. The cost: two agencies writing about
/// one subject at once do not conflict, which is right, as neither may know
/// what the other wrote.
pub fn agency_stream(agency: &str, stream: &str) -> String {
    format!("agency/{agency}/{stream}")
}

/// The short, lowercase name of an agency kind, as used in agency ids and NATS
/// subjects (e.g. `childrens_services`).
pub fn agency_kind_name(kind: pb::AgencyKind) -> &'static str {
    match kind {
        pb::AgencyKind::Unspecified => "unspecified",
        pb::AgencyKind::Police => "police",
        pb::AgencyKind::ChildrensServices => "childrens_services",
        pb::AgencyKind::Yot => "yot",
        pb::AgencyKind::Camhs => "camhs",
        pb::AgencyKind::Vcs => "vcs",
        pb::AgencyKind::Education => "education",
        pb::AgencyKind::Probation => "probation",
        pb::AgencyKind::Health => "health",
        pb::AgencyKind::Housing => "housing",
        pb::AgencyKind::AdultSafeguarding => "adult_safeguarding",
    }
}

/// Parses a short agency kind name (`police`, `childrens_services`, ...).
pub fn parse_agency_kind(name: &str) -> Result<pb::AgencyKind, IdError> {
    ALL_AGENCY_KINDS
        .iter()
        .copied()
        .find(|k| agency_kind_name(*k) == name)
        .ok_or_else(|| id_error("agency kind", name, "expected one of police, childrens_services, yot, camhs, vcs, education, probation, health, housing, adult_safeguarding"))
}

/// Every agency kind a node can have.
pub const ALL_AGENCY_KINDS: [pb::AgencyKind; 10] = [
    pb::AgencyKind::Police,
    pb::AgencyKind::ChildrensServices,
    pb::AgencyKind::Yot,
    pb::AgencyKind::Camhs,
    pb::AgencyKind::Vcs,
    pb::AgencyKind::Education,
    pb::AgencyKind::Probation,
    pb::AgencyKind::Health,
    pb::AgencyKind::Housing,
    pb::AgencyKind::AdultSafeguarding,
];

/// An agency's id, e.g. `police.met.nw` or `vcs.st-giles`: dot-separated
/// segments of lowercase letters, digits, `-` and `_`, the first naming the
/// agency's kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgencyId {
    id: String,
    kind: pb::AgencyKind,
}

impl AgencyId {
    /// Parses and checks an agency id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const WHAT: &str = "agency id";
        if s.is_empty() || s.len() > 64 {
            return Err(id_error(WHAT, s, "must be 1 to 64 characters"));
        }
        let valid_segment = |seg: &str| {
            !seg.is_empty() && seg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        };
        if !s.split('.').all(valid_segment) {
            return Err(id_error(WHAT, s, "use dot-separated segments of lowercase letters, digits, '-' and '_'"));
        }
        let first = s.split('.').next().unwrap_or_default();
        let kind = parse_agency_kind(first)
            .map_err(|_| id_error(WHAT, s, "its first segment must be an agency kind, e.g. police.met.nw"))?;
        Ok(AgencyId { id: s.to_string(), kind })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The agency's kind, from the id's first segment.
    pub fn kind(&self) -> pb::AgencyKind {
        self.kind
    }
}

impl fmt::Display for AgencyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl FromStr for AgencyId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgencyId::parse(s)
    }
}

/// The short name of a subject kind (`person`, `place`, `vehicle`, `group`).
pub fn subject_kind_name(kind: pb::SubjectKind) -> &'static str {
    match kind {
        pb::SubjectKind::Unspecified => "unspecified",
        pb::SubjectKind::Person => "person",
        pb::SubjectKind::Place => "place",
        pb::SubjectKind::Vehicle => "vehicle",
        pb::SubjectKind::Group => "group",
    }
}

/// A subject (person, place, vehicle or group) by its pseudonymous key. Its
/// text form `person/P-7f3a` names its stream in the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectId {
    kind: pb::SubjectKind,
    key: String,
}

impl SubjectId {
    /// Checks a subject reference from the wire.
    pub fn from_ref(r: &pb::SubjectRef) -> Result<Self, IdError> {
        const WHAT: &str = "subject key";
        let kind = pb::SubjectKind::try_from(r.kind).unwrap_or(pb::SubjectKind::Unspecified);
        if kind == pb::SubjectKind::Unspecified {
            return Err(id_error("subject kind", &r.kind.to_string(), "must be person, place, vehicle or group"));
        }
        if r.key.is_empty() || r.key.len() > 64 {
            return Err(id_error(WHAT, &r.key, "must be 1 to 64 characters"));
        }
        if !r.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(id_error(WHAT, &r.key, "use letters, digits, '-' and '_' only"));
        }
        Ok(SubjectId { kind, key: r.key.clone() })
    }

    /// Parses the text form `kind/key`, e.g. `person/P-7f3a`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let (kind, key) =
            s.split_once('/').ok_or_else(|| id_error("subject", s, "write it as kind/key, e.g. person/P-7f3a"))?;
        let kind = [pb::SubjectKind::Person, pb::SubjectKind::Place, pb::SubjectKind::Vehicle, pb::SubjectKind::Group]
            .into_iter()
            .find(|k| subject_kind_name(*k) == kind)
            .ok_or_else(|| id_error("subject", s, "its kind must be person, place, vehicle or group"))?;
        SubjectId::from_ref(&pb::SubjectRef { kind: kind as i32, key: key.to_string() })
    }

    /// The subject's kind.
    pub fn kind(&self) -> pb::SubjectKind {
        self.kind
    }

    /// The pseudonymous key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The wire form.
    pub fn to_ref(&self) -> pb::SubjectRef {
        pb::SubjectRef { kind: self.kind as i32, key: self.key.clone() }
    }

    /// The subject's stream id in the log, `kind/key`.
    pub fn stream(&self) -> String {
        self.to_string()
    }
}

impl FromStr for SubjectId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubjectId::parse(s)
    }
}

impl fmt::Display for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", subject_kind_name(self.kind), self.key)
    }
}

/// An event's id: a UUID (v7 when the node assigns it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(uuid::Uuid);

impl EventId {
    /// A new time-ordered id.
    pub fn new_v7() -> Self {
        EventId(uuid::Uuid::now_v7())
    }

    /// Parses the hyphenated text form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        uuid::Uuid::parse_str(s)
            .map(EventId)
            .map_err(|_| id_error("event id", s, "must be a UUID such as 0193a5c4-7e2b-7c3d-9f00-1234567890ab"))
    }

    /// The 16 bytes, as the log's idempotency key.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// From the log's 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        EventId(uuid::Uuid::from_bytes(bytes))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

macro_rules! event_types {
    ($($variant:ident => $name:literal, [$($kind:ident),*];)*) => {
        /// The type of an event: which body it carries.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType { $(#[doc = $name] $variant,)* }

        impl EventType {
            /// Every event type.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The type's name: the body's field name in the envelope, e.g. `missing_episode`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }

            /// The type of a body.
            pub fn of(body: &pb::event::Body) -> Self {
                match body { $(pb::event::Body::$variant(_) => EventType::$variant,)* }
            }

            /// Agency kinds allowed to publish this type; empty means any agency.
            pub fn publishers(self) -> &'static [pb::AgencyKind] {
                match self { $(EventType::$variant => &[$(pb::AgencyKind::$kind),*],)* }
            }
        }
    };
}

event_types! {
    Arrest => "arrest", [Police];
    StopAndSearch => "stop_and_search", [Police];
    MissingEpisode => "missing_episode", [Police, ChildrensServices];
    MashReferral => "mash_referral", [];
    ExploitationConcern => "exploitation_concern", [];
    NrmReferral => "nrm_referral", [ChildrensServices, Police];
    // Children's services create items; the agencies owning their actions
    // update them (concord_ledger::briefing keeps each to its own actions).
    VveBriefingItem => "vve_briefing_item", [];
    YouthJusticeOutcome => "youth_justice_outcome", [Yot];
    Reoffence => "reoffence", [Yot];
    AssetPlusRating => "asset_plus_rating", [Yot];
    CamhsContact => "camhs_contact", [Camhs];
    VcsEngagement => "vcs_engagement", [Vcs];
    ConsentRecorded => "consent_recorded", [];
    ConsentWithdrawn => "consent_withdrawn", [];
    ReleaseFromCustody => "release_from_custody", [Yot];
    SubjectIdentified => "subject_identified", [];
    SubjectsMerged => "subjects_merged", [];
    SubjectsUnmerged => "subjects_unmerged", [];
    CohortChanged => "cohort_changed", [];
}

impl FromStr for EventType {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| id_error("event type", s, "expected a body name such as arrest or missing_episode"))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_ids() {
        let id = AgencyId::parse("police.met.nw").unwrap();
        assert_eq!(id.kind(), pb::AgencyKind::Police);
        assert_eq!(AgencyId::parse("childrens_services.harrow").unwrap().kind(), pb::AgencyKind::ChildrensServices);
        for bad in ["", "Police.met", "police..x", "unknown.x", "police.met nw", ".police"] {
            assert!(AgencyId::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn subjects_round_trip() {
        let s = SubjectId::parse("person/P-7f3a").unwrap();
        assert_eq!(s.stream(), "person/P-7f3a");
        assert_eq!(SubjectId::from_ref(&s.to_ref()).unwrap(), s);
        assert!(SubjectId::parse("person").is_err());
        assert!(SubjectId::parse("alien/x").is_err());
        assert!(SubjectId::parse("person/has space").is_err());
    }

    #[test]
    fn event_types_have_unique_names() {
        let mut names: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 19);
        assert_eq!("missing_episode".parse::<EventType>().unwrap(), EventType::MissingEpisode);
    }
}
