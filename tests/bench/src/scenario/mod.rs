//! The scenarios, and what they share: the options, the tools found, a
//! scratch directory, and a fresh async runtime per step (so everything a
//! step started in-process is stopped when it ends).

pub mod baseline;
pub mod directory;
pub mod footprint;
pub mod ingest;
pub mod large;
pub mod publish;
pub mod query;
pub mod replay;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use concord_log::kv::Engine;

/// Sizes and runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Events per ingest run.
    pub ingest_events: usize,
    /// Events in the large log (query, replay, footprint).
    pub events: usize,
    /// Runs of each figure.
    pub runs: usize,
    /// Concurrent query clients.
    pub clients: usize,
    /// Seconds per query run.
    pub query_secs: f64,
    /// Storage engines of the ingest runs.
    pub engines: Vec<Engine>,
    /// Storage engines the large log is built with (query, replay, footprint).
    pub large_engines: Vec<Engine>,
    /// Concurrent publishes into Concord's nodes.
    pub publishers: usize,
    /// PubAcks outstanding at once (Concord's outbox keeps 256).
    pub in_flight: usize,
    /// Rows per PostgreSQL INSERT.
    pub pg_batch: usize,
    /// PostgreSQL connections inserting at once.
    pub pg_connections: usize,
    /// Lines of the file `concord publish` loads.
    pub publish_lines: usize,
}

/// What every scenario needs.
pub struct Ctx {
    /// Sizes and runs.
    pub settings: Settings,
    /// The `concord` binary.
    pub concord: PathBuf,
    /// The nats-server binary.
    pub nats: PathBuf,
    /// PostgreSQL's bin directory.
    pub pg: PathBuf,
    /// Scratch space for this invocation.
    pub work: PathBuf,
    started: Instant,
}

impl Ctx {
    /// A context over `work`.
    pub fn new(settings: Settings, concord: PathBuf, nats: PathBuf, pg: PathBuf, work: PathBuf) -> Ctx {
        Ctx { settings, concord, nats, pg, work, started: Instant::now() }
    }

    /// Prints progress, with the time since the start.
    pub fn say(&self, message: impl AsRef<str>) {
        let s = self.started.elapsed().as_secs();
        eprintln!("[{:>2}:{:02}] {}", s / 60, s % 60, message.as_ref());
    }

    /// A fresh directory under the scratch space (emptied if it exists).
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.work.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
        }
        crate::setup::open_dir(&dir)?;
        Ok(dir)
    }
}

/// Runs `future` on a fresh multi-threaded runtime, then shuts the runtime
/// down, ending every task it spawned (and closing the stores they held).
pub fn in_runtime<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting a runtime")?;
    let out = runtime.block_on(future);
    runtime.shutdown_timeout(Duration::from_secs(10));
    out
}

/// Bytes in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}
