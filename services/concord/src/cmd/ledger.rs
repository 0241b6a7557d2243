//! `concord ledger`: the partnership's ledger as its own process, consuming
//! the JetStream event stream into the event log and sending receipts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use concord_bus::NatsConfig;
use concord_ledger::{Ledger, Quarantine, Role};
use concord_log::kv::Engine;
use concord_vault::NatsKeyStore;

use crate::cmd::DataArg;
use crate::layout::Layout;
use crate::platform::{
    checkpoint_periodically, connect_bus, load_registry, open_log, open_store, redact_url, store_checkpoint,
};

/// Arguments of `concord ledger`.
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// The partnership's keys (registry, ledger key), if not DATA/keys.
    #[arg(long, env = "CONCORD_KEYS")]
    pub keys: Option<PathBuf>,
    /// NATS URL (credentials may be in it: nats://ledger:PASSWORD@host:4222).
    #[arg(long, env = "CONCORD_NATS")]
    pub nats: String,
    #[command(flatten)]
    pub nats_tls: crate::tls::NatsTlsArgs,
    /// Stream replicas (3 on a cluster).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Storage engine: redb (B-tree; the default) or fjall (LSM-tree: a smaller log on disk, a slower start).
    #[arg(long, default_value_t = Engine::DEFAULT)]
    pub engine: Engine,
    #[command(flatten)]
    pub metrics: crate::cmd::MetricsArg,
}

/// Runs the ledger until Ctrl-C or SIGTERM.
pub async fn run(args: LedgerArgs) -> Result<ExitCode> {
    args.nats_tls.apply()?;
    let layout = Layout::with_keys(&args.data.data, args.keys);
    let log = open_log(&layout, args.engine)?;
    let quarantine = Arc::new(Quarantine::open(open_store(&layout, args.engine, "quarantine")?)?);
    let registry = load_registry(&layout)?;
    let nats = NatsConfig { url: args.nats.clone(), replicas: args.replicas, manage_streams: true };
    let bus = connect_bus(Some(&nats)).await?;
    args.metrics.start(None, crate::platform::readiness(Some(log.clone()), Some(bus.clone()))).await?;
    // The ledger owns the shared stores: it creates the subject key bucket
    // that nodes and replicas (whose NATS users cannot manage streams) use.
    NatsKeyStore::connect(&args.nats, args.replicas, true).await.context("creating the subject key bucket")?;
    bus.answer_consent(concord_ledger::consent::answerer(log.clone()))
        .await
        .context("answering nodes' consent questions")?;
    let ledger = Arc::new(Ledger::new(log.clone(), registry, bus, quarantine.clone(), Role::Writer));
    eprintln!("ledger: {} events in the log, consuming {}", log.size(), redact_url(&args.nats));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            tracing::info!(size = log.size(), quarantined = ?quarantine.counts(), "ledger");
        }
    });
    checkpoint_periodically(ledger.log().clone());
    tokio::select! {
        result = ledger.clone().run("ledger") => result?,
        _ = crate::cmd::shutdown_signal() => eprintln!("ledger: stopping"),
    }
    store_checkpoint(ledger.log()).await;
    Ok(ExitCode::SUCCESS)
}
