//! The baselines users would otherwise build: raw JetStream (async publish,
//! pull consume, ack) and a PostgreSQL events table fed by batched INSERTs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use tokio_postgres::types::ToSql;

use crate::setup::postgres::Postgres;
use crate::setup::workload::{Prepared, publish_raw};

/// The events table: a unique id and a per-subject index, as a team would
/// start with.
pub const SCHEMA: &str = "
DROP TABLE IF EXISTS events;
CREATE TABLE events (
    seq bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    subject text NOT NULL,
    event_type text NOT NULL,
    agency text NOT NULL,
    occurred_ms bigint NOT NULL,
    payload bytea NOT NULL
);
CREATE INDEX events_by_subject ON events (subject, seq);
CHECKPOINT;
";

/// The raw JetStream ingest: publishes `prepared` (at most `in_flight`
/// PubAcks outstanding) while a durable pull consumer fetches and acks every
/// message; seconds until the last ack.
pub async fn jetstream_ingest(url: &str, prepared: &[Prepared], in_flight: usize) -> Result<f64> {
    let client = async_nats::connect(url).await.context("connecting to NATS")?;
    let js = jetstream::new(client.clone());
    let events = js
        .create_stream(stream::Config {
            name: "BENCH_EVENTS".into(),
            subjects: vec!["concord.events.>".into()],
            storage: stream::StorageType::File,
            num_replicas: 1,
            max_message_size: concord_bus::nats::MAX_MESSAGE_BYTES,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow!("creating the stream: {e}"))?;
    let consumer = events
        .create_consumer(consumer::pull::Config {
            durable_name: Some("bench".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(60),
            max_ack_pending: 20_000,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow!("creating the consumer: {e}"))?;
    let total = prepared.len();
    let started = Instant::now();
    let consume = async {
        let mut acked = 0;
        while acked < total {
            let mut batch = consumer
                .fetch()
                .max_messages(512)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .map_err(|e| anyhow!("fetching: {e}"))?;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| anyhow!("receiving: {e}"))?;
                message.ack().await.map_err(|e| anyhow!("acking: {e}"))?;
                acked += 1;
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    tokio::try_join!(publish_raw(&js, prepared, in_flight), consume)?;
    let elapsed = started.elapsed().as_secs_f64();
    client.flush().await.map_err(|e| anyhow!("flushing: {e}"))?;
    Ok(elapsed)
}

fn insert_sql(rows: usize) -> String {
    let mut sql =
        String::from("INSERT INTO events (event_id, subject, event_type, agency, occurred_ms, payload) VALUES ");
    for r in 0..rows {
        let b = r * 6;
        if r > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("(${},${},${},${},${},${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6));
    }
    sql
}

/// Recreates the events table and inserts `prepared` in multi-row INSERTs
/// of `batch` rows (each its own committed transaction) over `connections`
/// connections; seconds taken.
pub async fn postgres_ingest(pg: &Postgres, prepared: &[Prepared], batch: usize, connections: usize) -> Result<f64> {
    pg.connect().await?.batch_execute(SCHEMA).await.context("creating the events table")?;
    let mut clients = Vec::new();
    for _ in 0..connections.max(1) {
        clients.push(pg.connect().await?);
    }
    let chunks: Vec<&[Prepared]> = prepared.chunks(batch.max(1)).collect();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let workers = clients.iter().map(|client| async {
        let full = client.prepare(&insert_sql(batch)).await.context("preparing the INSERT")?;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(chunk) = chunks.get(i) else { return Ok::<_, anyhow::Error>(()) };
            let statement = if chunk.len() == batch {
                full.clone()
            } else {
                client.prepare(&insert_sql(chunk.len())).await.context("preparing the INSERT")?
            };
            let payloads: Vec<&[u8]> = chunk.iter().map(|p| p.payload.as_ref()).collect();
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * 6);
            for (p, payload) in chunk.iter().zip(&payloads) {
                params.extend([
                    &p.event_id as &(dyn ToSql + Sync),
                    &p.subject_id,
                    &p.event_type,
                    &p.agency,
                    &p.occurred_ms,
                    payload,
                ]);
            }
            client.execute(&statement, &params).await.context("inserting events")?;
        }
    });
    futures::future::try_join_all(workers).await?;
    Ok(started.elapsed().as_secs_f64())
}
