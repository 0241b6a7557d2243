//! Scenario 4: the event log built by the real `concord ledger` process from
//! JetStream (its catch-up rate and peak memory), bytes on disk per event,
//! and restart-to-ready of `concord up` over it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use concord::layout::Layout;
use concord_log::kv::Engine;

use super::Ctx;
use crate::setup::concord::{Proc, wait_serving};
use crate::setup::free_port;

/// How long building the log or starting may take before it counts as stuck.
const STUCK: Duration = Duration::from_secs(3600);

/// What building the log did.
#[derive(Debug, Clone, Copy)]
pub struct Built {
    /// Seconds from starting the ledger until it had acknowledged the whole stream.
    pub secs: f64,
    /// Entries in the log afterwards.
    pub appended: u64,
    /// The ledger process's peak memory, bytes.
    pub ledger_peak: u64,
}

/// Runs `concord ledger` on `data` against the event stream at `nats_url`
/// until it has acknowledged every message (so appended each durably, after
/// verifying it), then stops it.
pub async fn build_log(ctx: &Ctx, data: &Path, engine: Engine, nats_url: &str) -> Result<Built> {
    let client = async_nats::connect(nats_url).await.context("connecting to NATS")?;
    let js = async_nats::jetstream::new(client);
    let mut stream =
        js.get_stream(concord_bus::nats::EVENTS_STREAM).await.map_err(|e| anyhow!("finding the event stream: {e}"))?;
    let total = stream.info().await.map_err(|e| anyhow!("reading the event stream: {e}"))?.state.messages;
    // A consumer left by the previous engine's ledger would look finished.
    let _ = stream.delete_consumer("ledger").await;
    let args: Vec<String> = vec![
        "ledger".into(),
        "--data".into(),
        data.display().to_string(),
        "--nats".into(),
        nats_url.into(),
        "--engine".into(),
        engine.to_string(),
    ];
    let mut ledger = Proc::spawn(&ctx.concord, &format!("ledger-{engine}"), &ctx.work, &args)?;
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ledger.check_running()?;
        if let Ok(info) = stream.consumer_info("ledger").await
            && info.ack_floor.stream_sequence >= total
        {
            break;
        }
        if started.elapsed() > STUCK {
            bail!("the ledger had not caught up after {STUCK:?}:\n{}", ledger.output());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let ledger_peak = ledger.peak_memory()?;
    ledger.stop();
    let appended = concord::platform::open_log(&Layout::new(data), engine)?.size();
    Ok(Built { secs, appended, ledger_peak })
}

/// The arguments of `concord up` serving `data` (no simulation, no retention sweep).
pub fn up_args(data: &Path, engine: Engine, grpc: SocketAddr) -> Vec<String> {
    [
        "up",
        "--no-simulate",
        "--data",
        &data.display().to_string(),
        "--engine",
        &engine.to_string(),
        "--grpc",
        &grpc.to_string(),
        "--metrics",
        &format!("127.0.0.1:{}", free_port().unwrap_or(0)),
        "--retention-hours",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Starts `concord up` on `data` and waits until its gRPC health check says
/// SERVING; returns the process, its address and how long that took.
pub async fn start_up(ctx: &Ctx, data: &Path, engine: Engine) -> Result<(Proc, SocketAddr, f64)> {
    let grpc: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let started = Instant::now();
    let mut proc = Proc::spawn(&ctx.concord, &format!("up-{engine}"), &ctx.work, &up_args(data, engine, grpc))?;
    let ready = wait_serving(&mut proc, grpc, STUCK).await?;
    Ok((proc, grpc, (ready - started).as_secs_f64()))
}

/// Restart-to-ready: starts and stops `concord up` on `data`; seconds to SERVING.
pub async fn restart(ctx: &Ctx, data: &Path, engine: Engine) -> Result<f64> {
    let (mut proc, _, secs) = start_up(ctx, data, engine).await?;
    proc.stop();
    Ok(secs)
}

/// A data directory with the keys of `data` and empty stores.
pub fn empty_copy(data: &Path, to: &Path) -> Result<()> {
    copy_dir(&data.join("keys"), &to.join("keys"))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Removes every store of `data`, keeping its keys and subjects' keys.
pub fn reset_stores(data: &Path) -> Result<()> {
    for entry in std::fs::read_dir(data).with_context(|| format!("reading {}", data.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "keys" || name == "subject-keys" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }
            .with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}
