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
///
/// A batch goes through two steps. [`Follower::prepare`] does the work that
/// needs nothing but the batch itself (decoding, checking signatures): it runs
/// while the batch before is applied. [`Follower::apply`] does the rest, in
/// stream order, one batch at a time.
#[async_trait]
pub trait Follower: Send + Sync + 'static {
    /// A batch as [`Follower::prepare`] leaves it.
    type Prepared: Send + 'static;

    /// Opens the durable consumer `durable`, from just after `resume`.
    async fn consumer(&self, durable: &str, resume: Option<StreamPosition>)
    -> Result<Box<dyn EventConsumer>, BusError>;

    /// The log whose [`BUS_CURSOR`] says how far the stream is applied.
    fn log(&self) -> &Arc<Log>;

    /// Prepares a batch, possibly while the one before it is applied: so
    /// nothing here may depend on the log.
    async fn prepare(&self, batch: Vec<Delivery>) -> Result<Self::Prepared, FollowError>;

    /// Checks, appends (recording the cursor in the same write) and
    /// acknowledges one prepared batch; a [`FollowError::Gap`] means the
    /// consumer must be reopened from the cursor.
    async fn apply(&self, batch: Self::Prepared) -> Result<(), FollowError>;
}

/// The last bus position applied to `log`.
pub fn applied(log: &Log) -> Result<Option<StreamPosition>, FollowError> {
    Ok(log.cursor(BUS_CURSOR)?.and_then(|b| StreamPosition::from_bytes(&b)))
}

/// A prepared batch read from the consumer, with how far behind the stream's
/// end its last message was.
struct Fetched<P> {
    prepared: P,
    behind: u64,
}

/// Reads the next batch and prepares it; `None` when there was nothing to read.
async fn fetch<F: Follower + ?Sized>(
    follower: &F,
    consumer: &mut Box<dyn EventConsumer>,
) -> Result<Option<Fetched<F::Prepared>>, FollowError> {
    let batch = consumer.next_batch(MAX_BATCH, Duration::from_millis(500)).await?;
    if batch.is_empty() {
        return Ok(None);
    }
    let behind = batch.last().and_then(|d| d.pending).unwrap_or(0);
    Ok(Some(Fetched { prepared: follower.prepare(batch).await?, behind }))
}

/// Consumes with the durable consumer `durable` from just after the last
/// position applied, until the bus closes. Each batch is read and prepared
/// while the one before it is applied. Failures are logged and the consumer
/// reopened from the log's cursor after a pause (a batch prepared ahead of a
/// failure is dropped unacknowledged, and delivered again).
pub async fn follow<F: Follower + ?Sized>(follower: Arc<F>, durable: &str) -> Result<(), FollowError> {
    let lag = |behind: u64| metrics::gauge!(metric::CONSUMER_LAG, "consumer" => durable.to_string()).set(behind as f64);
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
        // The batch read and prepared, waiting to be applied.
        let mut ready: Option<Fetched<F::Prepared>> = None;
        loop {
            let (applied, next) = match ready.take() {
                None => (Ok(()), fetch(&*follower, &mut consumer).await),
                Some(batch) => {
                    let behind = batch.behind;
                    let (applied, next) =
                        tokio::join!(follower.apply(batch.prepared), fetch(&*follower, &mut consumer));
                    if applied.is_ok() {
                        lag(behind);
                    }
                    (applied, next)
                }
            };
            if let Err(e) = applied {
                tracing::warn!(error = %e, durable, "applying stopped; resuming from the last applied position");
                if !matches!(e, FollowError::Gap { .. }) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                break;
            }
            match next {
                Ok(Some(batch)) => ready = Some(batch),
                Ok(None) => lag(0),
                Err(FollowError::Bus(BusError::Unavailable(e))) if e.contains("closed") && resume.is_none() => {
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, durable, "reading the bus failed; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

/// A batch split by where it stands against the last applied position.
pub struct InOrder<T> {
    /// The contiguous run after the last applied position: apply these.
    pub apply: Vec<T>,
    /// Redeliveries of messages already applied: acknowledge only.
    pub already: Vec<T>,
    /// Set if the batch skipped ahead; the rest was dropped unacknowledged
    /// and is read again in order.
    pub gap: Option<FollowError>,
}

/// Splits `items` against `last`, the last position applied; `position`
/// tells where in the stream an item's delivery is.
pub fn in_order<T>(
    mut last: Option<StreamPosition>,
    items: Vec<T>,
    position: impl Fn(&T) -> Option<StreamPosition>,
) -> InOrder<T> {
    let (mut apply, mut already) = (Vec::new(), Vec::new());
    for item in items {
        let Some(at) = position(&item) else {
            apply.push(item);
            continue;
        };
        let same_epoch = last.is_some_and(|l| l.epoch == at.epoch);
        let expected = match last {
            Some(l) if same_epoch => l.sequence + 1,
            _ => 1,
        };
        if at.sequence < expected && same_epoch {
            already.push(item);
        } else if at.sequence == expected || (expected == 1 && !same_epoch) {
            last = Some(at);
            apply.push(item);
        } else {
            return InOrder { apply, already, gap: Some(FollowError::Gap { expected, got: at.sequence }) };
        }
    }
    InOrder { apply, already, gap: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(epoch: i64, sequence: u64) -> Option<StreamPosition> {
        Some(StreamPosition { epoch, sequence })
    }

    fn split(last: Option<StreamPosition>, items: &[Option<StreamPosition>]) -> (Vec<u64>, Vec<u64>, Option<String>) {
        let seq = |v: Vec<Option<StreamPosition>>| v.into_iter().map(|p| p.map_or(0, |p| p.sequence)).collect();
        let InOrder { apply, already, gap } = in_order(last, items.to_vec(), |p| *p);
        (seq(apply), seq(already), gap.map(|e| e.to_string()))
    }

    #[test]
    fn a_batch_splits_into_what_to_apply_what_was_applied_and_a_gap() {
        // Straight on from the last applied position.
        assert_eq!(split(at(1, 4), &[at(1, 5), at(1, 6)]), (vec![5, 6], vec![], None));
        // Redeliveries are only acknowledged.
        assert_eq!(split(at(1, 4), &[at(1, 3), at(1, 4), at(1, 5)]), (vec![5], vec![3, 4], None));
        // A skip stops the batch there: the rest is read again in order.
        let (apply, already, gap) = split(at(1, 4), &[at(1, 5), at(1, 7), at(1, 8)]);
        assert_eq!((apply, already), (vec![5], vec![]));
        assert_eq!(gap.as_deref(), Some("stream gap: expected sequence 6, got 7"));
        // A fresh log starts at 1; a new stream epoch starts again at 1.
        assert_eq!(split(None, &[at(1, 1), at(1, 2)]), (vec![1, 2], vec![], None));
        assert_eq!(split(at(1, 9), &[at(2, 1), at(2, 2)]), (vec![1, 2], vec![], None));
        // Buses without positions (embedded) apply everything.
        assert_eq!(split(at(1, 9), &[None, None]), (vec![0, 0], vec![], None));
    }
}
