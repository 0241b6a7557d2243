//! The process's metrics recorder. Crates record with the `metrics` macros
//! under the names below; this renders them in Prometheus text format.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use concord_core::metric::*;

/// Latency buckets, seconds: from a fraction of a millisecond to seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Failures to install the recorder.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct MetricsError(String);

/// How often histogram samples are folded into their buckets.
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process-wide recorder (once per process) and returns the
/// handle that renders it. A thread folds histogram samples into their
/// buckets every few seconds: the exporter otherwise keeps every sample
/// until the next scrape, and a process nobody scrapes would grow forever.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .map_err(|e| MetricsError(e.to_string()))?
        .install_recorder()
        .map_err(|e| MetricsError(e.to_string()))?;
    describe();
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                upkeep.run_upkeep();
            }
        })
        .map_err(|e| MetricsError(e.to_string()))?;
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(EVENTS_PUBLISHED, "Events a node accepted into its outbox.");
    describe_counter!(EVENTS_APPENDED, "Events the ledger appended to the log.");
    describe_counter!(EVENTS_QUARANTINED, "Messages the ledger quarantined, by reason.");
    describe_gauge!(CONSUMER_LAG, "Messages on the stream not yet applied, by consumer.");
    describe_gauge!(OUTBOX_DEPTH, "Events in a node's outbox awaiting the ledger's receipt.");
    describe_histogram!(APPEND_SECONDS, metrics::Unit::Seconds, "Durable log appends (write and fsync).");
    describe_histogram!(AUDIT_WRITE_SECONDS, metrics::Unit::Seconds, "Making an access record durable.");
    describe_histogram!(RPC_SECONDS, metrics::Unit::Seconds, "Answering a call, by RPC.");
    describe_counter!(RPCS, "Calls answered, by RPC and outcome.");
    describe_counter!(
        POLICY_DECISIONS,
        "The sharing agreement's decisions to show an event, by outcome (withholdings are not counted)."
    );
    describe_gauge!(SUBSCRIPTIONS_ACTIVE, "Live subscriptions and alert streams open now.");
}
