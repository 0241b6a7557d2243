//! Following a stream into a local log: in stream order, each message applied
//! once, the position kept with the log's own writes. The ledger follows the
//! event stream this way, and query replicas follow the audit stream.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use concord_bus::{BusError, Delivery, EventConsumer, StreamPosition};
use concord_core::metric;
use concord_log::log::Log;

use crate::FollowError;

/// The log cursor holding the last bus position applied.
pub const BUS_CURSOR: &str = "bus";

/// How many deliveries are applied in one durable batch at most.
pub const MAX_BATCH: usize = 512;

/// One follower of a stream: where it is, and how it applies a batch.
#[async_trait]
pub trait Follower: Send + Sync + 'static {
    /// Opens the durable consumer `durable`, from just after `resume`.
    async fn consumer(&self, durable: &str, resume: Option<StreamPosition>)
    -> Result<Box<dyn EventConsumer>, BusError>;

    /// The log whose [`BUS_CURSOR`] says how far the stream is applied.
    fn log(&self) -> &Arc<Log>;

    /// Checks, appends (recording the cursor in the same write) and
    /// acknowledges one batch; a [`FollowError::Gap`] means the consumer must
    /// be reopened from the cursor.
    async fn apply(&self, batch: Vec<Delivery>) -> Result<(), FollowError>;
}

/// The last bus position applied to `log`.
pub fn applied(log: &Log) -> Result<Option<StreamPosition>, FollowError> {
    Ok(log.cursor(BUS_CURSOR)?.and_then(|b| StreamPosition::from_bytes(&b)))
}

/// Consumes with the durable consumer `durable` from just after the last
/// position applied, until the bus closes. Failures are logged and the
/// consumer reopened from the log's cursor after a pause.
pub async fn follow<F: Follower + ?Sized>(follower: Arc<F>, durable: &str) -> Result<(), FollowError> {
    loop {
        let resume = applied(follower.log())?;
        let mut consumer = match follower.consumer(durable, resume).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, durable, "cannot open the consumer; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let batch = match consumer.next_batch(MAX_BATCH, Duration::from_millis(500)).await {
                Ok(b) => b,
                Err(BusError::Unavailable(e)) if e.contains("closed") && resume.is_none() => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, durable, "reading the bus failed; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            };
            if batch.is_empty() {
                metrics::gauge!(metric::CONSUMER_LAG, "consumer" => durable.to_string()).set(0.0);
                continue;
            }
            let behind = batch.last().and_then(|d| d.pending).unwrap_or(0);
            if let Err(e) = follower.apply(batch).await {
                tracing::warn!(error = %e, durable, "applying stopped; resuming from the last applied position");
                if !matches!(e, FollowError::Gap { .. }) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                break;
            }
            metrics::gauge!(metric::CONSUMER_LAG, "consumer" => durable.to_string()).set(behind as f64);
        }
    }
}

/// A batch split by where it stands against the last applied position.
pub struct InOrder {
    /// The contiguous run after the last applied position: apply these.
    pub apply: Vec<Delivery>,
    /// Redeliveries of messages already applied: acknowledge only.
    pub already: Vec<Delivery>,
    /// Set if the batch skipped ahead; the rest was dropped unacknowledged
    /// and is read again in order.
    pub gap: Option<FollowError>,
}

/// Splits `deliveries` against `last`, the last position applied.
pub fn in_order(mut last: Option<StreamPosition>, deliveries: Vec<Delivery>) -> InOrder {
    let (mut apply, mut already) = (Vec::new(), Vec::new());
    for delivery in deliveries {
        let Some(position) = delivery.position else {
            apply.push(delivery);
            continue;
        };
        let same_epoch = last.is_some_and(|l| l.epoch == position.epoch);
        let expected = match last {
            Some(l) if same_epoch => l.sequence + 1,
            _ => 1,
        };
        if position.sequence < expected && same_epoch {
            already.push(delivery);
        } else if position.sequence == expected || (expected == 1 && !same_epoch) {
            last = Some(position);
            apply.push(delivery);
        } else {
            return InOrder { apply, already, gap: Some(FollowError::Gap { expected, got: position.sequence }) };
        }
    }
    InOrder { apply, already, gap: None }
}
