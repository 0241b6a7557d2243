//! The sharing rules of domain.md as a table, written here independently of
//! the Cedar agreement in `deploy/policy/`, so that tests can check the
//! agreement (and every read path through it) against what the partnership
//! agreed. Used by the policy crate's tests and the gRPC matrix test.

#![allow(dead_code)]

use concord_core::EventType;
use concord_core::consent::{Consent, ConsentStatus};
use concord_core::ids::agency_kind_name;
use concord_core::pb::{self, AgencyKind, Classification, LawfulBasis};
use concord_identity::{Principal, Purpose, Role};
use concord_policy::Decision;

/// The agency kinds the matrices run over (one agency each): every kind of
/// domain.md, the later ones too.
pub const KINDS: [AgencyKind; 10] = [
    AgencyKind::Police,
    AgencyKind::ChildrensServices,
    AgencyKind::Yot,
    AgencyKind::Camhs,
    AgencyKind::Vcs,
    AgencyKind::Education,
    AgencyKind::Probation,
    AgencyKind::Health,
    AgencyKind::Housing,
    AgencyKind::AdultSafeguarding,
];

/// The lawful basis combinations the matrices run over.
pub const BASIS_SETS: [&[LawfulBasis]; 6] = [
    &[LawfulBasis::Consent],
    &[LawfulBasis::Safeguarding],
    &[LawfulBasis::CrimeAndDisorder],
    &[LawfulBasis::LegalObligation],
    &[LawfulBasis::VitalInterests],
    &[LawfulBasis::Consent, LawfulBasis::Safeguarding],
];

/// The one agency of each kind in the matrices, e.g. `vcs.harrow`.
pub fn agency_of(kind: AgencyKind) -> String {
    format!("{}.harrow", agency_kind_name(kind))
}

/// The scope every given consent in the matrices has: the VCS and the YOT
/// (one by kind, one by id), for safeguarding and case management.
pub fn consent_scope(status: ConsentStatus) -> Consent {
    if status == ConsentStatus::None {
        return Consent::none();
    }
    Consent {
        status,
        given_by: concord_core::pb::ConsentGiver::Child,
        agency_ids: vec![agency_of(AgencyKind::Yot)],
        agency_kinds: vec!["vcs".into()],
        purposes: vec!["safeguarding".into(), "case_management".into()],
        expires_at: None,
    }
}

fn statutory(kind: AgencyKind) -> bool {
    matches!(kind, AgencyKind::Police | AgencyKind::ChildrensServices | AgencyKind::Yot)
}

/// Health data: classified so, or by rule (CAMHS and health publish health
/// data; a MASH referral for mental health is health data).
fn health(e: &pb::Event) -> bool {
    let publisher = AgencyKind::try_from(e.agency_kind).unwrap();
    e.classification == Classification::SpecialCategory as i32
        || matches!(publisher, AgencyKind::Camhs | AgencyKind::Health)
        || matches!(&e.body, Some(pb::event::Body::MashReferral(m)) if m.reason == pb::MashReason::MentalHealth as i32)
}

/// The exploitation an event is about, if any.
fn exploitation(e: &pb::Event) -> Option<pb::ExploitationType> {
    match &e.body {
        Some(pb::event::Body::ExploitationConcern(c)) => c.exploitation_type.try_into().ok(),
        Some(pb::event::Body::NrmReferral(n)) => n.exploitation_type.try_into().ok(),
        _ => None,
    }
}

/// About an adult at risk: cuckooing, a concern about an adult, an adult's NRM referral.
fn adult_at_risk(e: &pb::Event) -> bool {
    match &e.body {
        Some(pb::event::Body::ExploitationConcern(c)) => {
            c.adult || exploitation(e) == Some(pb::ExploitationType::Cuckooing)
        }
        Some(pb::event::Body::NrmReferral(n)) => !n.minor,
        _ => false,
    }
}

/// What `reader` may see of `e`, relying on `consent` (as it stands).
pub fn expected(reader: &Principal, e: &pb::Event, consent: &Consent) -> Decision {
    use Purpose::*;
    let reader_kind = reader.agency.kind();
    let publisher = AgencyKind::try_from(e.agency_kind).unwrap();
    let health = health(e);
    let event_type = e.body.as_ref().map(concord_core::EventType::of);
    let shared = e.share_with.iter().any(|a| a == reader.agency.as_str());
    let basis = |b: LawfulBasis| e.lawful_basis.contains(&(b as i32));
    // A basis that stands on its own, whatever the subject's consent.
    let standing = basis(LawfulBasis::Safeguarding)
        || basis(LawfulBasis::CrimeAndDisorder)
        || basis(LawfulBasis::LegalObligation)
        || basis(LawfulBasis::VitalInterests);
    let consented = basis(LawfulBasis::Consent)
        && consent.status == ConsentStatus::Given
        && (consent.agency_ids.iter().any(|a| a == reader.agency.as_str())
            || consent.agency_kinds.iter().any(|k| k == agency_kind_name(reader_kind)))
        && consent.purposes.iter().any(|p| p == reader.purpose.as_str());
    let own = e.agency_id == reader.agency.as_str();
    let purpose = reader.purpose;
    // Casework: what practitioners and briefing leads read for.
    let casework = matches!(purpose, Safeguarding | CrimePrevention | CaseManagement | Briefing);
    match reader.role {
        // Auditors, admins and data protection never read content (a subject
        // access report gives the agency's practitioners' view); analysts
        // only for analysis.
        Role::Auditor | Role::Admin | Role::DataProtection => return Decision::Withhold,
        Role::Analyst if purpose != Analysis || health => return Decision::Withhold,
        Role::Analyst if own || standing => return Decision::ShowRedacted,
        Role::Analyst => return Decision::Withhold,
        Role::Practitioner | Role::BriefingLead => {}
    }
    if (own && (casework || purpose == DirectCare)) || consented {
        return Decision::Show;
    }
    if !standing {
        return Decision::Withhold;
    }
    let mut decision = Decision::Withhold;
    let mut allow = |d: Decision| {
        if d == Decision::Show || decision == Decision::Withhold {
            decision = d;
        }
    };
    // Adult safeguarding: adults at risk, health detail included.
    if reader_kind == AgencyKind::AdultSafeguarding
        && adult_at_risk(e)
        && (basis(LawfulBasis::Safeguarding)
            || basis(LawfulBasis::CrimeAndDisorder)
            || basis(LawfulBasis::VitalInterests))
        && matches!(purpose, Safeguarding | CaseManagement)
    {
        allow(Decision::Show);
    }
    if health {
        if (reader_kind == AgencyKind::Camhs && matches!(purpose, Safeguarding | DirectCare | CaseManagement))
            || (reader_kind == AgencyKind::ChildrensServices && purpose == Safeguarding)
        {
            allow(Decision::Show);
        } else if (statutory(reader_kind) || shared) && casework {
            allow(Decision::ShowRedacted);
        }
        if reader_kind == AgencyKind::Health
            && purpose == Safeguarding
            && basis(LawfulBasis::Safeguarding)
            && (statutory(publisher) || publisher == AgencyKind::Camhs)
        {
            allow(Decision::ShowRedacted);
        }
        return decision;
    }
    if casework
        && (shared
            || (statutory(reader_kind)
                && statutory(publisher)
                && (basis(LawfulBasis::Safeguarding) || basis(LawfulBasis::CrimeAndDisorder))))
    {
        allow(Decision::Show);
    }
    // Briefing items: an agency owning one of the item's actions learns of
    // the item (redacted), for casework.
    let owns_action = match &e.body {
        Some(pb::event::Body::VveBriefingItem(item)) => {
            item.actions.iter().any(|a| a.owner_agency_id == reader.agency.as_str())
        }
        _ => false,
    };
    if casework && owns_action {
        allow(Decision::ShowRedacted);
    }
    let show_if = |rule: bool| if rule { Decision::Show } else { Decision::Withhold };
    // Schools: missing and exploited children, for safeguarding.
    allow(show_if(
        reader_kind == AgencyKind::Education
            && purpose == Safeguarding
            && basis(LawfulBasis::Safeguarding)
            && matches!(event_type, Some(EventType::MissingEpisode | EventType::ExploitationConcern))
            && !adult_at_risk(e),
    ));
    // Probation: the criminal justice record from police and YOT.
    allow(show_if(
        reader_kind == AgencyKind::Probation
            && matches!(purpose, CrimePrevention | CaseManagement)
            && matches!(publisher, AgencyKind::Police | AgencyKind::Yot)
            && (basis(LawfulBasis::CrimeAndDisorder) || basis(LawfulBasis::LegalObligation))
            && matches!(
                event_type,
                Some(
                    EventType::Arrest
                        | EventType::YouthJusticeOutcome
                        | EventType::Reoffence
                        | EventType::ReleaseFromCustody
                        | EventType::AssetPlusRating
                )
            ),
    ));
    // Health: the statutory partners' safeguarding records.
    allow(show_if(
        reader_kind == AgencyKind::Health
            && purpose == Safeguarding
            && basis(LawfulBasis::Safeguarding)
            && statutory(publisher),
    ));
    // Housing: cuckooing.
    allow(show_if(
        reader_kind == AgencyKind::Housing
            && matches!(purpose, Safeguarding | CrimePrevention)
            && (basis(LawfulBasis::Safeguarding) || basis(LawfulBasis::CrimeAndDisorder))
            && exploitation(e) == Some(pb::ExploitationType::Cuckooing),
    ));
    decision
}
