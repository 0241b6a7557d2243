//! The partnership's event log as its writer and its readers both see it.
//!
//! The ledger is the log's only writer; the read kernel, the alerts, the
//! briefing, the lifecycle service and `concord audit verify` read it. What
//! they share lives here, so that no reader imports the writer: how an event
//! becomes a log entry and decodes back (its streams, expected versions and
//! index names), a subject's consent, merges and cohorts as the log records them.

mod cohort;
mod consent;
mod merge;
mod schema;

pub use cohort::Cohort;
pub use consent::{ConsentCache, consent_for, history as consent_history};
pub use merge::Merges;
pub use schema::{
    BY_AGENCY, BY_CONSENT, BY_CORRECTS, BY_OCCURRED, BY_RECORDED, BY_TYPE, DROPPED, StoredEventError, decode_entry,
    entry_for, entry_for_stored, time_value, upgrade,
};
