//! What operators see of a running part of Concord (issue: observability):
//! Prometheus metrics, health and readiness on one HTTP port, and traces.
//!
//! - [`metrics`]: the recorder every crate's `metrics::counter!` and friends
//!   report to, and the names of Concord's metrics.
//! - [`http`]: `/metrics`, `/healthz` and `/readyz`.
//! - [`trace`]: logs, spans, W3C trace context across NATS and gRPC, and
//!   OTLP export.

pub mod http;
pub mod metrics;
pub mod trace;

pub use http::{Readiness, serve};
pub use metrics::install;
