//! `concord audit verify`: checks the event log and the audit log of a data
//! directory offline against signed checkpoints, re-hashing every entry
//! (independently of the code that wrote them), then every id, stream
//! version, index entry and Merkle node against the entries (rebuilt with the
//! code that wrote them), and names the first bad one;
//! or checks an export made by `concord audit export` (the audit log with a
//! signed checkpoint and a proof per record) with nothing but the ledger's
//! public key.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use concord_audit::AUDIT_LOG_ORIGIN;
use concord_audit::entry_for_stored as entry_for_record;
use concord_audit::export::{verify_export, write_export};
use concord_core::sign::load_signing_key;
use concord_eventlog::entry_for_stored as entry_for_event;
use concord_log::checkpoint::SignedCheckpoint;
use concord_log::derived::verify_derived;
use concord_log::kv::{self, Engine};
use concord_log::log::{Log, NewEntry};
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

/// Which data directory's stores, and how to open them.
#[derive(Debug, clap::Args)]
pub struct Stores {
    #[command(flatten)]
    data: DataArg,
    /// The partnership's keys, if not DATA/keys.
    #[arg(long, env = "CONCORD_KEYS")]
    keys: Option<PathBuf>,
    /// Storage engine: redb (B-tree; the default) or fjall (LSM-tree: a smaller log on disk, a slower start).
    #[arg(long, default_value_t = Engine::DEFAULT)]
    engine: Engine,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Check the event log and the audit log against signed checkpoints, and
    /// their indexes against their entries (stop the process using the data
    /// directory first).
    Verify {
        #[command(flatten)]
        stores: Stores,
        /// A signed checkpoint (its text, as GetCheckpoint returns it) to check
        /// its log against, instead of the latest one stored with the log.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Check this export (from `concord audit export`) instead of the stores.
        #[arg(long)]
        export: Option<PathBuf>,
        /// The ledger's public key (hex, as in KEYS/ledger.pub); by default
        /// read from the keys directory.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Write the audit log, with a new signed checkpoint and a proof per
    /// record, to a file an auditor can check anywhere with
    /// `concord audit verify --export FILE --public-key ledger.pub` (stop
    /// the process using the data directory first).
    Export {
        #[command(flatten)]
        stores: Stores,
        /// Where the export goes (JSON Lines).
        #[arg(long)]
        out: PathBuf,
    },
}

impl Stores {
    fn layout(&self) -> Layout {
        Layout::with_keys(&self.data.data, self.keys.clone())
    }
}

/// The ledger's public key: from `file`, else the keys directory's
/// `ledger.pub`, else derived from its private key.
fn public_key(layout: &Layout, file: Option<&Path>) -> Result<ed25519_dalek::VerifyingKey> {
    let path = file.map(Path::to_path_buf).unwrap_or_else(|| layout.ledger_public_key());
    if path.exists() || file.is_some() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{} is not a public key (64 hex characters)", path.display()))?;
        return ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .with_context(|| format!("{} is not an Ed25519 public key", path.display()));
    }
    Ok(load_signing_key(&layout.ledger_key())
        .with_context(|| format!("no ledger key at {}: pass --public-key FILE", layout.ledger_key().display()))?
        .verifying_key())
}

fn export(layout: &Layout, engine: Engine, out: &Path) -> Result<ExitCode> {
    let dir = layout.store("audit");
    if !dir.exists() {
        bail!("no audit log at {}", dir.display());
    }
    let kv =
        kv::open(engine, &dir).with_context(|| format!("opening {} (is Concord still running?)", dir.display()))?;
    let log = Log::open(kv, AUDIT_LOG_ORIGIN, layout.checkpoint_signing_key()?).context("opening the audit log")?;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let written = write_export(&log, &mut BufWriter::new(file)).context("writing the export")?;
    println!("wrote {written} access records to {}, each with its proof", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs the subcommand.
pub async fn run(args: AuditArgs) -> Result<ExitCode> {
    match args.what {
        What::Export { stores, out } => export(&stores.layout(), stores.engine, &out),
        What::Verify { stores, checkpoint, export, public_key: public } => {
            let (layout, engine) = (stores.layout(), stores.engine);
            let key = public_key(&layout, public.as_deref())?;
            match export {
                Some(path) => verify_exported(&path, &key),
                None => verify_stores(&layout, engine, checkpoint.as_deref(), &key),
            }
        }
    }
}

fn verify_exported(path: &Path, key: &ed25519_dalek::VerifyingKey) -> Result<ExitCode> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let proven =
        verify_export(BufReader::new(file), key).with_context(|| format!("{} does not verify", path.display()))?;
    println!("{}: OK, {proven} access records proven in its signed checkpoint", path.display());
    Ok(ExitCode::SUCCESS)
}

/// How a log's writer indexed an entry, from its stored bytes.
type Derive = fn(&[u8]) -> Result<NewEntry, String>;

fn verify_stores(
    layout: &Layout,
    engine: Engine,
    checkpoint: Option<&Path>,
    key: &ed25519_dalek::VerifyingKey,
) -> Result<ExitCode> {
    let given = match checkpoint {
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
    let logs: [(&str, &str, &str, Derive); 2] = [
        ("event log", "log", EVENT_LOG_ORIGIN, |bytes| entry_for_event(bytes).map_err(|e| e.to_string())),
        ("audit log", "audit", AUDIT_LOG_ORIGIN, |bytes| entry_for_record(bytes).map_err(|e| e.to_string())),
    ];
    for (name, store, origin, derive) in logs {
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
        let checked = verify_store(kv.as_ref(), &checkpoint, key, origin)
            .map_err(|e| e.to_string())
            .and_then(|v| Ok((v, verify_derived(kv.as_ref(), derive).map_err(|e| e.to_string())?)));
        match checked {
            Ok((v, d)) => println!(
                "{name}: OK, {} entries match the checkpoint signed for {origin} ({} more after it), \
                 and its ids, {} stream versions, {} index entries and {} Merkle nodes match its entries",
                v.size,
                v.after,
                d.stream_versions,
                d.indexes.values().sum::<u64>(),
                d.nodes
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
