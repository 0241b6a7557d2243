//! Following a bus stream into a local log: in stream order, each message
//! applied once, the position kept with the log's own writes, and garbage
//! quarantined with a counted reason rather than stopping the stream.
//!
//! The ledger follows the event stream this way, and the audit log's
//! replicas follow the audit stream; each is a [`Follower`].

mod follow;
mod quarantine;

use concord_bus::BusError;
use concord_log::kv::KvError;
use concord_log::log::LogError;

pub use follow::{BUS_CURSOR, Follower, InOrder, MAX_BATCH, applied, follow, in_order};
pub use quarantine::{Quarantine, Quarantined};

/// Failures that stop a batch being applied (the batch is not acknowledged,
/// so the bus delivers it again).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The log could not be written.
    #[error("event log: {0}")]
    Log(#[from] LogError),
    /// The quarantine could not be written.
    #[error("quarantine store: {0}")]
    Quarantine(#[from] KvError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The append task panicked or was cancelled.
    #[error("append task failed: {0}")]
    Task(String),
    /// A delivery skipped ahead of the next stream position; the consumer is
    /// restarted from the last applied position.
    #[error("stream gap: expected sequence {expected}, got {got}")]
    Gap {
        /// The next sequence the log needs.
        expected: u64,
        /// The sequence that arrived.
        got: u64,
    },
}
