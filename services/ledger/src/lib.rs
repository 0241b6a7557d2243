//! The ledger: the only writer of the partnership's event log.
//!
//! It consumes signed events from the bus, checks each one ([`ingest`]:
//! subject, size, encoding, signature, the key's agency, the schema), appends
//! the good ones in one durable batch, quarantines the rest with a counted
//! reason ([`quarantine`]), acknowledges deliveries only after its own durable
//! write, and sends each agency a receipt. How an event becomes a log entry
//! is `concord_eventlog`'s (shared with the readers); the in-order loop over
//! the stream and the quarantine are `concord_follow`'s (shared with the
//! audit log's replicas). [`consent`] answers nodes asking where a consent
//! stands; [`briefing`] keeps agencies' updates of briefing items to their
//! own actions.

pub mod briefing;
pub mod consent;
pub mod ingest;

pub use concord_follow::{FollowError, Quarantine};
pub use ingest::{IngestStats, Ledger, Role};
