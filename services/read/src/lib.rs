//! The read kernel: what every reader of the event log goes through.
//!
//! Stored entries are decoded, paired with the consent each relies on as it
//! stands now, decided in one batch by the sharing agreement
//! (`concord_policy`), then shown (personal data unsealed), redacted or
//! withheld ([`Views`]); what is released is recorded in the audit log
//! before it leaves (`concord_audit`). The gRPC services (`concord_query`),
//! the alerts, the briefing and the lifecycle service all read through here,
//! and [`follow_live`] is the loop behind every live delivery.

mod correction;
mod live;
mod view;

pub use live::follow_live;
pub use view::{Decoded, Views, Visible, redact, storage_unavailable};

use tonic::Status;

/// Runs blocking store work (the log, the key stores, the audit log's
/// durable write) off the async runtime's workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Status> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Status::internal(format!("store task failed: {e}")))?
}
