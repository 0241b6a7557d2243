//! The personal data lifecycle: erasure by crypto-shredding, retention,
//! subject access requests (`AdminService`).
//!
//! - [`requests`]: data protection requests (erasure, the full access
//!   trail), filed by one agency and decided by another, kept in the audit log.
//! - [`retention`]: the agreement's retention rules (`retention.toml`).
//! - [`sweep`]: which subjects' retention has ended.
//! - [`sar`]: a subject access report as a readable document.
//! - [`service`]: the gRPC admin API and the scheduled sweep.
//!
//! Rectification is a correction event (`corrects`), shown from → to by the
//! read side; master key rotation is the vault's (`concord keys`).

pub mod requests;
pub mod retention;
pub mod sar;
pub mod service;
pub mod sweep;

pub use retention::{RetentionError, RetentionRules};
pub use service::AdminApi;
