//! The embedded bus: nodes and ledger in one process, no server to install.
//!
//! A bounded queue carries events (publishers wait when it is full, which is
//! the back-pressure a broker would apply); receipts fan out on a broadcast
//! channel. Nothing here is durable: in `concord up` the ledger's log is the
//! durable record, and an event not yet appended when the process stops was
//! never acknowledged as committed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use concord_core::AgencyId;
use concord_core::pb;
use tokio::sync::{Mutex, broadcast, mpsc};

use crate::{
    Acker, BusError, ConsentAnswerer, Delivery, EventBus, EventConsumer, Outbound, ReceiptStream, StreamPosition,
};

/// How many events may wait for the ledger before publishers are held back.
const QUEUE: usize = 4096;

/// An in-process bus with a single consumer group.
pub struct EmbeddedBus {
    events: mpsc::Sender<Outbound>,
    queue: Arc<Mutex<mpsc::Receiver<Outbound>>>,
    receipts: broadcast::Sender<(AgencyId, pb::Receipt)>,
    consent: std::sync::RwLock<Option<ConsentAnswerer>>,
}

impl Default for EmbeddedBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EmbeddedBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        let (events, queue) = mpsc::channel(QUEUE);
        let (receipts, _) = broadcast::channel(QUEUE);
        EmbeddedBus { events, queue: Arc::new(Mutex::new(queue)), receipts, consent: Default::default() }
    }
}

struct NoAck;

#[async_trait]
impl Acker for NoAck {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        Ok(())
    }
}

struct Consumer {
    queue: Arc<Mutex<mpsc::Receiver<Outbound>>>,
}

#[async_trait]
impl EventConsumer for Consumer {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let mut queue = self.queue.lock().await;
        let mut batch: Vec<Outbound> = Vec::new();
        match tokio::time::timeout(wait, queue.recv()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(None) => return Err(BusError::Unavailable("embedded bus closed".into())),
            Ok(Some(m)) => batch.push(m),
        }
        while batch.len() < max {
            match queue.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        Ok(batch
            .into_iter()
            .map(|m| Delivery::new(m.subject, m.payload, None, Box::new(NoAck)).with_traceparent(m.traceparent))
            .collect())
    }
}

struct Receipts {
    agency: AgencyId,
    rx: broadcast::Receiver<(AgencyId, pb::Receipt)>,
}

#[async_trait]
impl ReceiptStream for Receipts {
    async fn next(&mut self) -> Option<pb::Receipt> {
        loop {
            match self.rx.recv().await {
                Ok((agency, receipt)) if agency == self.agency => return Some(receipt),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(agency = %self.agency, missed = n, "receipt listener fell behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[async_trait]
impl EventBus for EmbeddedBus {
    async fn publish(&self, message: Outbound) -> Result<(), BusError> {
        self.events.send(message).await.map_err(|_| BusError::Unavailable("embedded bus closed".into()))
    }

    async fn consumer(
        &self,
        _durable: &str,
        _resume: Option<StreamPosition>,
    ) -> Result<Box<dyn EventConsumer>, BusError> {
        Ok(Box::new(Consumer { queue: self.queue.clone() }))
    }

    async fn publish_receipt(&self, agency: &AgencyId, receipt: &pb::Receipt) -> Result<(), BusError> {
        // No listener is fine: the agency's node may not be waiting.
        let _ = self.receipts.send((agency.clone(), receipt.clone()));
        Ok(())
    }

    async fn receipts(&self, agency: &AgencyId) -> Result<Box<dyn ReceiptStream>, BusError> {
        Ok(Box::new(Receipts { agency: agency.clone(), rx: self.receipts.subscribe() }))
    }

    async fn ask_consent(
        &self,
        agency: &AgencyId,
        query: &pb::ConsentQuery,
        timeout: Duration,
    ) -> Result<pb::ConsentAnswer, BusError> {
        let answer = self.consent.read().ok().and_then(|a| a.clone());
        let answer = answer.ok_or_else(|| BusError::Unavailable("no ledger answers consent questions".into()))?;
        let (agency, query) = (agency.clone(), query.clone());
        match tokio::time::timeout(timeout, tokio::task::spawn_blocking(move || answer(&agency, query))).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(BusError::Unavailable(format!("the consent answer failed: {e}"))),
            Err(_) => Err(BusError::Unavailable("no consent answer in time".into())),
        }
    }

    async fn answer_consent(&self, answer: ConsentAnswerer) -> Result<(), BusError> {
        if let Ok(mut slot) = self.consent.write() {
            *slot = Some(answer);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_in_order_in_batches_and_routes_receipts() {
        let bus = EmbeddedBus::new();
        for i in 0..5u8 {
            bus.publish(Outbound {
                subject: format!("s{i}"),
                msg_id: i.to_string(),
                payload: vec![i].into(),
                traceparent: None,
            })
            .await
            .unwrap();
        }
        let mut c = bus.consumer("ledger", None).await.unwrap();
        let batch = c.next_batch(3, Duration::from_millis(100)).await.unwrap();
        assert_eq!(batch.iter().map(|d| d.subject.as_str()).collect::<Vec<_>>(), ["s0", "s1", "s2"]);
        let batch = c.next_batch(10, Duration::from_millis(100)).await.unwrap();
        assert_eq!(batch.len(), 2);
        assert!(c.next_batch(10, Duration::from_millis(20)).await.unwrap().is_empty());

        let police = AgencyId::parse("police.met.nw").unwrap();
        let yot = AgencyId::parse("yot.harrow").unwrap();
        let mut rx = bus.receipts(&police).await.unwrap();
        let r = |id: &str| pb::Receipt { event_id: id.into(), ..Default::default() };
        bus.publish_receipt(&yot, &r("for-yot")).await.unwrap();
        bus.publish_receipt(&police, &r("for-police")).await.unwrap();
        assert_eq!(rx.next().await.unwrap().event_id, "for-police");
    }
}
