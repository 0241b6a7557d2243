//! Scenario 3: replaying the whole log into the national indicators as an
//! analyst over gRPC, against a raw scan of the same store.

use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use concord::layout::Layout;
use concord_analytics::Indicators;
use concord_core::pb;
use concord_core::pb::replay_service_client::ReplayServiceClient;
use concord_log::kv::Engine;
use futures::StreamExt;

/// Entries read per step, as `concord profile` asks for.
const BATCH: u32 = 5000;

/// What one replay did.
#[derive(Debug, Clone, Copy)]
pub struct Replayed {
    /// Seconds taken.
    pub secs: f64,
    /// Log entries covered.
    pub entries: u64,
    /// Events applied to the projection (those the agreement lets an analyst see).
    pub applied: u64,
}

/// Replays the whole log through `ReplayService` (policy, pseudonyms, audit)
/// into the indicators projection, as `concord profile` does.
pub async fn grpc(addr: &str, token: &str, analysis: &str) -> Result<Replayed> {
    let started = Instant::now();
    let mut client = ReplayServiceClient::new(concord::client::connect(addr).await?);
    let request = pb::ReplayRequest {
        analysis_id: analysis.to_string(),
        axis: pb::TimeAxis::Event as i32,
        batch_size: BATCH,
        ..Default::default()
    };
    let mut stream = client
        .replay(concord::client::authorized(request, token)?)
        .await
        .map_err(|s| anyhow!("replay refused: {:?}: {}", s.code(), s.message()))?
        .into_inner();
    let mut indicators = Indicators::default();
    let (mut entries, mut applied) = (0, 0);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|s| anyhow!("the replay failed: {:?}: {}", s.code(), s.message()))?;
        for event in &batch.events {
            indicators.apply(event);
        }
        applied += batch.events.len() as u64;
        entries = batch.scanned;
    }
    anyhow::ensure!(indicators.events_applied() == applied, "the projection missed events");
    Ok(Replayed { secs: started.elapsed().as_secs_f64(), entries, applied })
}

/// Reads every entry of the event log in `layout` straight from its store
/// (nothing decoded): the floor any replay stands on.
pub fn raw_scan(layout: &Layout, engine: Engine) -> Result<Replayed> {
    scan(layout, engine, |_| Ok(false))
}

/// Reads every entry and decodes it into the indicators projection, in
/// process (no gRPC, policy, pseudonyms or audit): where the time between
/// the two goes.
pub fn decode_and_apply(layout: &Layout, engine: Engine) -> Result<Replayed> {
    let mut indicators = Indicators::default();
    scan(layout, engine, |bytes| {
        let (_, event) = concord_eventlog::decode_entry(bytes).context("decoding a log entry")?;
        indicators.apply(&event);
        Ok(true)
    })
}

fn scan(layout: &Layout, engine: Engine, mut each: impl FnMut(&[u8]) -> Result<bool>) -> Result<Replayed> {
    let log = concord::platform::open_log(layout, engine)?;
    let started = Instant::now();
    let (mut after, mut entries, mut applied, mut bytes) = (0, 0u64, 0u64, 0u64);
    loop {
        let batch = log.read_from(after, BATCH as usize).context("reading the log")?;
        let Some(last) = batch.last().map(|e| e.position) else { break };
        for entry in &batch {
            bytes += entry.bytes.len() as u64;
            applied += u64::from(each(&entry.bytes)?);
        }
        entries += batch.len() as u64;
        after = last;
    }
    anyhow::ensure!(bytes > 0 || entries == 0, "the scan read nothing");
    Ok(Replayed { secs: started.elapsed().as_secs_f64(), entries, applied })
}
