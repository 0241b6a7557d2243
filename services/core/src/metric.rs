//! The names of Concord's metrics, shared by the crates that record them
//! (with the `metrics` macros) and the telemetry crate that describes and
//! serves them.

/// Events a node accepted into its outbox (label `agency`).
pub const EVENTS_PUBLISHED: &str = "concord_events_published_total";
/// Events the ledger appended to the log.
pub const EVENTS_APPENDED: &str = "concord_events_appended_total";
/// Messages the ledger quarantined (label `reason`).
pub const EVENTS_QUARANTINED: &str = "concord_events_quarantined_total";
/// Messages on the stream not yet applied by a consumer (label `consumer`).
pub const CONSUMER_LAG: &str = "concord_consumer_lag";
/// Events in a node's outbox without a ledger receipt (label `agency`).
pub const OUTBOX_DEPTH: &str = "concord_outbox_depth";
/// Time to append a batch to the log durably (written and fsynced), seconds.
pub const APPEND_SECONDS: &str = "concord_log_append_seconds";
/// Time to make an access record durable, seconds.
pub const AUDIT_WRITE_SECONDS: &str = "concord_audit_write_seconds";
/// Time to answer a call, by RPC (label `rpc`), seconds.
pub const RPC_SECONDS: &str = "concord_rpc_seconds";
/// Calls answered, by RPC and outcome (labels `rpc`, `outcome`).
pub const RPCS: &str = "concord_rpcs_total";
/// The agreement's decisions to show an event (label `outcome`: show,
/// show_redacted). Withholdings are not counted: the count would tell a
/// reader who can read the metrics how many events were kept from it.
pub const POLICY_DECISIONS: &str = "concord_policy_decisions_total";
/// Live subscriptions and alert streams open now (label `rpc`).
pub const SUBSCRIPTIONS_ACTIVE: &str = "concord_subscriptions_active";
