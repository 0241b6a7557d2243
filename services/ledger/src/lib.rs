//! The ledger: the only writer of the partnership's event log.
//!
//! It consumes signed events from the bus, checks each one ([`ingest`]:
//! subject, size, encoding, signature, the key's agency, the schema), appends
//! the good ones in one durable batch, quarantines the rest with a counted
//! reason ([`quarantine`]), acknowledges deliveries only after its own durable
//! write, and sends each agency a receipt. [`index`] fixes how events are
//! indexed, for the readers, and [`consent`] reads a subject's consent back.
//! [`follow`] is the in-order, exactly-once loop over a stream that the
//! ledger and the audit log's replicas share.

pub mod consent;
pub mod follow;
pub mod index;
pub mod ingest;
pub mod quarantine;

pub use ingest::{Ledger, LedgerError, Role};
pub use quarantine::Quarantine;
