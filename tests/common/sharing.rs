//! The sharing rules of domain.md as a table, written here independently of
//! the Cedar agreement in `deploy/policy/`, so that tests can check the
//! agreement (and every read path through it) against what the partnership
//! agreed. Used by the policy crate's tests and the gRPC matrix test.

#![allow(dead_code)]

use concord_core::consent::{Consent, ConsentStatus};
use concord_core::ids::agency_kind_name;
use concord_core::pb::{self, AgencyKind, Classification, LawfulBasis};
use concord_identity::{Principal, Purpose, Role};
use concord_policy::Decision;

/// The agency kinds the matrices run over (one agency each).
pub const KINDS: [AgencyKind; 6] = [
    AgencyKind::Police,
    AgencyKind::ChildrensServices,
    AgencyKind::Yot,
    AgencyKind::Camhs,
    AgencyKind::Vcs,
    AgencyKind::Education,
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

/// What `reader` may see of `e`, relying on `consent` (as it stands).
pub fn expected(reader: &Principal, e: &pb::Event, consent: &Consent) -> Decision {
    let reader_kind = reader.agency.kind();
    let publisher = AgencyKind::try_from(e.agency_kind).unwrap();
    let health = e.classification == Classification::SpecialCategory as i32;
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
    match reader.role {
        Role::Auditor => return Decision::Withhold,
        Role::Analyst if health => return Decision::Withhold,
        Role::Analyst if own || standing || consented => return Decision::ShowRedacted,
        Role::Analyst => return Decision::Withhold,
        _ => {}
    }
    if own || consented {
        return Decision::Show;
    }
    if !standing {
        return Decision::Withhold;
    }
    if health {
        return if reader_kind == AgencyKind::Camhs
            || (reader_kind == AgencyKind::ChildrensServices && reader.purpose == Purpose::Safeguarding)
        {
            Decision::Show
        } else if statutory(reader_kind) || shared {
            Decision::ShowRedacted
        } else {
            Decision::Withhold
        };
    }
    if shared
        || (statutory(reader_kind)
            && statutory(publisher)
            && (basis(LawfulBasis::Safeguarding) || basis(LawfulBasis::CrimeAndDisorder)))
    {
        return Decision::Show;
    }
    Decision::Withhold
}
