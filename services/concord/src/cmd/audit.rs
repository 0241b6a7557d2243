//! `concord audit verify`: checks the event log and the audit log of a data
//! directory offline against signed checkpoints, re-hashing every entry
//! (independently of the code that wrote them), and names the first bad one.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use concord_audit::AUDIT_LOG_ORIGIN;
use concord_core::sign::load_signing_key;
use concord_log::checkpoint::SignedCheckpoint;
use concord_log::kv::{self, Engine};
use concord_log::offline::{latest_checkpoint, verify_store};

use crate::cmd::DataArg;
use crate::layout::Layout;
use crate::platform::EVENT_LOG_ORIGIN;

/// Arguments of `concord audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub what: What,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Check the event log and the audit log against signed checkpoints
    /// (stop the process using the data directory first).
    Verify {
        #[command(flatten)]
        data: DataArg,
        /// The partnership's keys, if not DATA/keys.
        #[arg(long, env = "CONCORD_KEYS")]
        keys: Option<PathBuf>,
        /// Storage engine: redb or sled.
        #[arg(long, default_value_t = Engine::DEFAULT)]
        engine: Engine,
        /// A signed checkpoint (its text, as GetCheckpoint returns it) to check
        /// its log against, instead of the latest one stored with the log.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
}

/// Runs the subcommand.
pub async fn run(args: AuditArgs) -> Result<ExitCode> {
    let What::Verify { data, keys, engine, checkpoint } = args.what;
    let layout = Layout::with_keys(&data.data, keys);
    let key = load_signing_key(&layout.ledger_key())
        .with_context(|| format!("no ledger key at {}", layout.ledger_key().display()))?
        .verifying_key();
    let given = match &checkpoint {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some(
                SignedCheckpoint::parse(&text)
                    .with_context(|| format!("{} is not a signed checkpoint", path.display()))?,
            )
        }
        None => None,
    };
    let mut failed = false;
    for (name, store, origin) in [("event log", "log", EVENT_LOG_ORIGIN), ("audit log", "audit", AUDIT_LOG_ORIGIN)] {
        let dir = layout.store(store);
        if !dir.exists() {
            println!("{name}: no store at {}", dir.display());
            continue;
        }
        let kv =
            kv::open(engine, &dir).with_context(|| format!("opening {} (is Concord still running?)", dir.display()))?;
        let checkpoint = match &given {
            Some(c) if c.checkpoint.origin == origin => Some(c.clone()),
            Some(_) => latest_checkpoint(kv.as_ref()).ok().flatten(),
            None => latest_checkpoint(kv.as_ref()).with_context(|| format!("reading {name}'s checkpoints"))?,
        };
        let Some(checkpoint) = checkpoint else {
            println!(
                "{name}: no checkpoint to check against: fetch one with GetCheckpoint (LogService, AuditService) and pass --checkpoint FILE"
            );
            failed = true;
            continue;
        };
        match verify_store(kv.as_ref(), &checkpoint, &key, origin) {
            Ok(v) => println!(
                "{name}: OK, {} entries match the checkpoint signed for {origin} ({} more after it)",
                v.size, v.after
            ),
            Err(e) => {
                println!("{name}: FAILED: {e}");
                failed = true;
            }
        }
    }
    if failed {
        bail!("verification failed");
    }
    Ok(ExitCode::SUCCESS)
}
