//! An agency's node: the only way an agency's events enter the partnership.
//!
//! [`Node`] turns a submission into a signed event on the bus: it checks the
//! event against the schema and the lawful-basis rules (an event with no basis
//! never leaves the agency), assigns its id and report time, seals personal
//! data under the subjects' keys, and signs the exact bytes with the agency's
//! key, then keeps it in its durable [`outbox`] until the ledger's receipt.
//! [`service`] exposes it over gRPC as `PublishService`.

pub mod node;
pub mod outbox;
pub mod service;

pub use node::{Node, NodeError, Published};
pub use outbox::{Outbox, OutboxStats};
pub use service::{PublishApi, UnheardAlert};
