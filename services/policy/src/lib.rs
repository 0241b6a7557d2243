//! The decision point every read goes through, and the sharing agreement
//! behind it.
//!
//! A [`Policy`] decides, for one reader and a batch of events, whether each
//! is shown, shown redacted (free text, identifiers and health detail
//! withheld) or withheld; default is withhold. [`CedarAgreement`] is the
//! partnership's agreement written in Cedar (`deploy/policy/`), checked
//! against its schema when it is loaded, and identified by the hash that is
//! recorded with every decision.

mod cedar;

pub use cedar::{AGREEMENT_FILE, CedarAgreement, PolicyError, SCHEMA_FILE};

use concord_core::consent::Consent;
use concord_core::pb;
use concord_identity::Principal;

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

/// What the agreement may look at to decide on one event: the event's
/// attributes (never its content) and the consent it relies on, as it stands.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The event.
    pub event: &'a pb::Event,
    /// The consent named by its `consent_ref` ([`Consent::none`] if none).
    pub consent: &'a Consent,
}

/// Which rules decided one event for one reader, for information governance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The decision.
    pub decision: Decision,
    /// The `@id` of every rule that permitted `see`.
    pub see: Vec<String>,
    /// The `@id` of every rule that permitted `see_detail`.
    pub see_detail: Vec<String>,
    /// The `@id` of every `forbid` rule that applied.
    pub forbidden_by: Vec<String>,
    /// The hash of the agreement that decided.
    pub policy_hash: String,
}

/// A sharing agreement.
pub trait Policy: Send + Sync {
    /// Identifies the exact policy text that made a decision (recorded with it).
    fn policy_hash(&self) -> &str;

    /// One decision per event, in order.
    fn decide(&self, principal: &Principal, events: &[Facts<'_>]) -> Vec<Decision>;

    /// The decision on one event with the rules that made it, for
    /// information governance reviews.
    fn explain(&self, principal: &Principal, facts: Facts<'_>) -> Explanation;
}
