//! Following the log live for one reader: each new entry a caller picks is
//! decided by the sharing agreement, recorded in the audit log, and only then
//! handed over. Each entry is decided as it is delivered, so a consent
//! withdrawn or an agreement changed mid-stream applies from the next
//! delivery on. `QueryService.Subscribe` and the immediate alerts both run on
//! this loop.

use std::sync::Arc;

use concord_audit::Deliveries;
use concord_audit::access::{Tally, shown};
use concord_core::metric;
use concord_core::pb::{self, EventView};
use concord_eventlog::decode_entry;
use concord_log::log::Log;
use tokio::sync::mpsc;
use tonic::Status;

use crate::blocking;
use crate::view::{Views, storage_unavailable};

/// How many entries are read from the log at a time.
const BATCH: usize = 256;

/// Follows the log after position `after` for the reader of `deliveries`
/// until the receiver of `tx` goes away or a read fails. `pick` chooses the
/// entries to deliver (and what goes with each, e.g. why it is an alert);
/// each one the agreement lets the reader see is recorded through
/// `deliveries`, then sent as `deliver(view, picked)`. Withheld entries are counted in the next
/// delivery's record.
pub async fn follow_live<P, T>(
    views: Arc<Views>,
    deliveries: Deliveries,
    mut after: u64,
    pick: impl Fn(&Log, &pb::Event) -> Result<Option<P>, Status> + Send + Sync + 'static,
    deliver: impl Fn(EventView, &P) -> T + Send,
    tx: mpsc::Sender<Result<T, Status>>,
) where
    P: Send + 'static,
    T: Send,
{
    let _open = Open::new(deliveries.rpc());
    let mut watch = views.log().watch();
    let pick = Arc::new(pick);
    let principal = Arc::new(deliveries.principal().clone());
    let mut tally = Tally::default();
    loop {
        let (v, p) = (views.clone(), pick.clone());
        let batch = blocking(move || {
            let entries = v.log().read_from(after, BATCH).map_err(storage_unavailable)?;
            let last = entries.last().map(|e| e.position);
            let mut wanted = Vec::new();
            for entry in entries {
                let (_, event) = decode_entry(&entry.bytes).map_err(storage_unavailable)?;
                if let Some(picked) = p(v.log(), &event)? {
                    wanted.push((entry.position, entry.bytes, picked));
                }
            }
            Ok((last, wanted))
        })
        .await;
        let (last, wanted) = match batch {
            Err(status) => {
                let _ = tx.send(Err(status)).await;
                return;
            }
            Ok(b) => b,
        };
        let Some(last) = last else {
            tokio::select! {
                changed = watch.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
            }
            continue;
        };
        for (position, bytes, picked) in wanted {
            let (v, p) = (views.clone(), principal.clone());
            let visible = match blocking(move || v.decide(&p, vec![(position, bytes)])).await {
                Ok(visible) => visible,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            tally.add(visible.withheld, &visible.policy_hash);
            for view in visible.events {
                // Recorded before it is handed over; no record, no delivery.
                if let Err(status) = deliveries.record(shown(&view), &tally).await {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                tally.withheld = 0;
                if tx.send(Ok(deliver(view, &picked))).await.is_err() {
                    return;
                }
            }
        }
        after = last;
    }
}

/// Counts a live stream as open while it lives.
struct Open(&'static str);

impl Open {
    fn new(rpc: &'static str) -> Open {
        metrics::gauge!(metric::SUBSCRIPTIONS_ACTIVE, "rpc" => rpc).increment(1.0);
        Open(rpc)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!(metric::SUBSCRIPTIONS_ACTIVE, "rpc" => self.0).decrement(1.0);
    }
}
