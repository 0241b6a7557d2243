//! The read side of Concord.
//!
//! Every event a reader gets passes through one decision point (the sharing agreement of `concord_policy`):
//! show, show redacted, or withhold. [`view`] applies the decision (unsealing
//! personal data only when it is shown); [`service`] is `QueryService`
//! (GetEvent, SubjectTimeline, Search, Subscribe) and [`log_service`] the
//! log's checkpoints and proofs; [`replay`] is `ReplayService`, the
//! analysts' pseudonymised replay.

pub mod audit_service;
pub mod correction;
pub mod explain;
pub mod live;
pub mod log_service;
pub mod page;
pub mod replay;
pub mod service;
pub mod view;

pub use audit_service::AuditApi;
pub use concord_policy::{CedarAgreement, Decision, Facts, Policy};
pub use explain::PolicyApi;
pub use log_service::LogApi;
pub use replay::ReplayApi;
pub use service::QueryApi;
