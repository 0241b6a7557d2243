//! The decision point every read goes through.
//!
//! A [`Policy`] decides, for one reader and a batch of events, whether each is
//! shown, shown redacted (free text and health detail withheld) or withheld.
//! Default is withhold. [`BaselineAgreement`] encodes domain.md's sharing rules
//! directly; the Cedar sharing agreement plugs in behind the same trait.

use concord_core::pb::{self, AgencyKind, Classification, LawfulBasis};
use concord_identity::{Principal, Purpose, Role};
use sha2::{Digest, Sha256};

/// What a reader is allowed to see of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The whole event, personal data included.
    Show,
    /// The event without free text, identifiers or health detail.
    ShowRedacted,
    /// Nothing, not even that it exists.
    Withhold,
}

/// A sharing agreement.
pub trait Policy: Send + Sync {
    /// Identifies the exact policy text that made a decision (recorded with it).
    fn policy_hash(&self) -> &str;

    /// One decision per event, in order.
    fn decide(&self, principal: &Principal, events: &[&pb::Event]) -> Vec<Decision>;
}

/// Domain.md's sharing rules, written out in Rust.
pub struct BaselineAgreement {
    hash: String,
}

impl Default for BaselineAgreement {
    fn default() -> Self {
        let digest = Sha256::digest(include_bytes!("policy.rs"));
        BaselineAgreement { hash: format!("baseline-v1:{}", hex::encode(&digest[..8])) }
    }
}

/// The statutory partners who share under safeguarding and crime and disorder.
fn statutory(kind: AgencyKind) -> bool {
    matches!(kind, AgencyKind::Police | AgencyKind::ChildrensServices | AgencyKind::Yot)
}

fn decide_one(principal: &Principal, event: &pb::Event) -> Decision {
    let reader = principal.agency.kind();
    let publisher = AgencyKind::try_from(event.agency_kind).unwrap_or(AgencyKind::Unspecified);
    let special = event.classification == Classification::SpecialCategory as i32;
    let has_basis = |b: LawfulBasis| event.lawful_basis.contains(&(b as i32));
    match principal.role {
        // Auditors see access records, not event content.
        Role::Auditor => return Decision::Withhold,
        // Analysts see pseudonymised data without free text.
        Role::Analyst => {
            return if special { Decision::Withhold } else { Decision::ShowRedacted };
        }
        Role::Practitioner | Role::BriefingLead | Role::Admin => {}
    }
    // An agency always sees what it published itself.
    if event.agency_id == principal.agency.as_str() {
        return Decision::Show;
    }
    let shared_explicitly = event.share_with.iter().any(|a| a == principal.agency.as_str());
    if special {
        // Health detail: to CAMHS, and to children's services (MASH) for safeguarding.
        if reader == AgencyKind::Camhs {
            return Decision::Show;
        }
        if reader == AgencyKind::ChildrensServices && principal.purpose == Purpose::Safeguarding {
            return Decision::Show;
        }
        // Other statutory partners learn only that a contact exists.
        if statutory(reader) || shared_explicitly {
            return Decision::ShowRedacted;
        }
        return Decision::Withhold;
    }
    // VCS partners see what is shared with them explicitly.
    if shared_explicitly {
        return Decision::Show;
    }
    // Police, children's services and YOT share under safeguarding and crime and disorder.
    if statutory(reader)
        && statutory(publisher)
        && (has_basis(LawfulBasis::Safeguarding) || has_basis(LawfulBasis::CrimeAndDisorder))
    {
        return Decision::Show;
    }
    Decision::Withhold
}

impl Policy for BaselineAgreement {
    fn policy_hash(&self) -> &str {
        &self.hash
    }

    fn decide(&self, principal: &Principal, events: &[&pb::Event]) -> Vec<Decision> {
        events.iter().map(|e| decide_one(principal, e)).collect()
    }
}
