//! What operators see of a running part of Concord (issue: observability):
//! Prometheus metrics, and health and readiness, on one HTTP port.
//!
//! - [`metrics`]: the recorder every crate's `metrics::counter!` and friends
//!   report to, and the names of Concord's metrics.
//! - [`http`]: `/metrics`, `/healthz` and `/readyz`.

pub mod http;
pub mod metrics;

pub use http::{Readiness, serve};
pub use metrics::install;
