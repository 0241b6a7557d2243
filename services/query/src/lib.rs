//! The read side of Concord.
//!
//! Every event a reader gets passes through one decision point ([`policy`]):
//! show, show redacted, or withhold. [`view`] applies the decision (unsealing
//! personal data only when it is shown); [`service`] is `QueryService`
//! (GetEvent, SubjectTimeline, Search, Subscribe) and [`log_service`] the
//! log's checkpoints and proofs.

pub mod log_service;
pub mod page;
pub mod policy;
pub mod service;
pub mod view;

pub use log_service::LogApi;
pub use policy::{BaselineAgreement, Decision, Policy};
pub use service::QueryApi;
