//! The read side of Concord.
//!
//! The gRPC services over the read kernel (`concord_read`), through which
//! every event a reader gets passes: one decision point (the sharing
//! agreement of `concord_policy`) shows, redacts or withholds it, personal
//! data is unsealed only when shown, and the release is recorded first.
//! [`service`] is `QueryService`
//! (GetEvent, SubjectTimeline, Search, Subscribe) and [`log_service`] the
//! log's checkpoints and proofs; [`replay`] is `ReplayService`, the
//! analysts' pseudonymised replay.

pub mod audit_service;
pub mod explain;
pub mod log_service;
pub mod merged;
pub mod page;
pub mod replay;
pub mod service;

pub use audit_service::AuditApi;
pub use concord_policy::{CedarAgreement, Decision, Facts, Policy};
pub use explain::PolicyApi;
pub use log_service::LogApi;
pub use replay::ReplayApi;
pub use service::QueryApi;
