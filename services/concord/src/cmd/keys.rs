//! `concord keys`: create the local keys a data directory needs;
//! `concord keys rotate-master`: rotate the master key that wraps subjects'
//! data keys, without touching the event log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use concord_core::AgencyId;
use concord_vault::ring::{MASTER_KEY_ENV, PREVIOUS_MASTER_KEY_ENV, retire_previous, stage_rotation};
use concord_vault::{DirKeyStore, KeyRing, NatsKeyStore, Rewrapped};

use crate::layout::Layout;
use crate::platform::redact_url;

/// Arguments of `concord keys`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub action: Option<KeysAction>,
    /// Data directory (keys, log, stores).
    #[arg(long, default_value = "./data", env = "CONCORD_DATA", global = true)]
    pub data: PathBuf,
    /// Agencies to create signing keys for (repeatable); default: the simulated borough's.
    #[arg(long = "agency")]
    pub agencies: Vec<AgencyId>,
}

/// What `concord keys` does besides creating missing keys.
#[derive(Debug, clap::Subcommand)]
pub enum KeysAction {
    /// Rotate the master key: make a new one, keep the old one as the
    /// previous key, rewrap every subject key under the new one, then erase
    /// the previous key. The event log is not touched. Stop the processes
    /// using the data directory first (over NATS, see deploy/README.md).
    RotateMaster(RotateMasterArgs),
}

/// Arguments of `concord keys rotate-master`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("where").args(["local", "nats", "stage"]).required(true).multiple(true)))]
pub struct RotateMasterArgs {
    /// The partnership's keys (master key), if not DATA/keys.
    #[arg(long, env = "CONCORD_KEYS")]
    pub keys: Option<PathBuf>,
    /// The subject keys are this data directory's alone (`concord up` with
    /// the embedded bus): rewrap them there.
    #[arg(long, conflicts_with = "nats")]
    pub local: bool,
    /// The subject keys are in the bucket processes share: rewrap them there
    /// (and this data directory's copies), as a user allowed to update the
    /// bucket, e.g. nats://ledger:PASSWORD@host:4222.
    #[arg(long)]
    pub nats: Option<String>,
    #[command(flatten)]
    pub nats_tls: crate::tls::NatsTlsArgs,
    /// Only make the new key (the old one kept as previous) and stop: give
    /// every process the keys and restart them before rewrapping.
    #[arg(long)]
    pub stage: bool,
}

/// Creates missing keys and lists what the directory holds, or runs the subcommand.
pub async fn run(args: KeysArgs) -> Result<ExitCode> {
    if let Some(KeysAction::RotateMaster(rotate)) = args.action {
        if !args.agencies.is_empty() {
            bail!("--agency is for creating keys, not for rotate-master");
        }
        return rotate_master(Layout::with_keys(&args.data, rotate.keys.clone()), &rotate).await;
    }
    let agencies = if args.agencies.is_empty() { crate::cmd::up::default_agencies() } else { args.agencies };
    let layout = Layout::new(&args.data);
    let keys = layout.ensure_keys(&agencies)?;
    for key in &keys {
        println!("{}  {}", key.key_id(), layout.agency_key(key.agency()).display());
    }
    println!("registry      {}", layout.registry().display());
    println!("token issuer  {} (JWKS {})", layout.keys().display(), layout.jwks().display());
    println!("ledger key    {}", layout.ledger_key().display());
    println!("bundles (give each process only its own, with --keys):");
    for bundle in crate::bundle::write_bundles(&layout, &agencies)? {
        println!("  {}", bundle.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The ring to rotate to: staged in the key files, or, when the environment
/// gives the master key, as the environment gives it (it cannot be written).
fn rotation_ring(layout: &Layout) -> Result<KeyRing> {
    std::fs::create_dir_all(layout.keys()).with_context(|| format!("creating {}", layout.keys().display()))?;
    if std::env::var_os(MASTER_KEY_ENV).is_some() {
        let ring = layout.master_keys()?;
        if ring.previous().is_none() {
            bail!(
                "the master key comes from {MASTER_KEY_ENV}, which this command cannot change: set \
                 {MASTER_KEY_ENV} to a new key (64 hex characters, e.g. `openssl rand -hex 32`) and \
                 {PREVIOUS_MASTER_KEY_ENV} to the current one, then run it again"
            );
        }
        println!("master key    from {MASTER_KEY_ENV}; the previous one still opens keys until they are rewrapped");
        return Ok(ring);
    }
    let (ring, made) = stage_rotation(&layout.master_key(), &layout.previous_master_key())?;
    if made {
        println!(
            "master key    new key in {}; the old one kept in {} until nothing is wrapped under it",
            layout.master_key().display(),
            layout.previous_master_key().display()
        );
    } else {
        println!(
            "master key    continuing the rotation already staged ({} is the previous key)",
            layout.previous_master_key().display()
        );
    }
    Ok(ring)
}

fn report(what: &str, counts: &Rewrapped) {
    println!(
        "{what}: {} rewrapped, {} already under the new key{}",
        counts.rewrapped,
        counts.current,
        if counts.unreadable > 0 {
            format!(", {} open with neither key (left as they are)", counts.unreadable)
        } else {
            String::new()
        }
    );
}

/// `concord keys rotate-master`.
/// How long `rotate-master --nats` waits to reach the bucket.
const NATS_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

async fn rotate_master(layout: Layout, args: &RotateMasterArgs) -> Result<ExitCode> {
    let ring = rotation_ring(&layout)?;
    if args.stage {
        println!(
            "staged: give every process the new keys and restart it (each then opens keys wrapped under either), \
             then run `concord keys rotate-master` again with --nats or --local to rewrap"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let local = DirKeyStore::open(&layout.subject_keys())?;
    concord_vault::dir::migrate_kv_store(&layout.store("vault"), &local)?;
    let counts = local.rewrap_all(&ring)?;
    report(&format!("local keys    {}", layout.subject_keys().display()), &counts);
    let mut unreadable = counts.unreadable;
    if let Some(url) = &args.nats {
        args.nats_tls.apply()?;
        // A command, not a service: it gives up rather than wait for NATS forever.
        let shared = tokio::time::timeout(NATS_WITHIN, NatsKeyStore::connect(url, 1, false))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "no answer from NATS at {} within {}s: is it running, and is its CA given (--nats-ca)?",
                    redact_url(url),
                    NATS_WITHIN.as_secs()
                )
            })?
            .with_context(|| format!("opening the shared subject key bucket at {}", redact_url(url)))?;
        let counts = shared.rewrap_all(&ring).await.context("rewrapping the shared bucket")?;
        report(&format!("shared keys   bucket {}", concord_vault::nats::BUCKET), &counts);
        unreadable += counts.unreadable;
    }
    if unreadable > 0 {
        println!("the previous master key is kept: {unreadable} keys open with neither key");
        return Ok(ExitCode::FAILURE);
    }
    if std::env::var_os(PREVIOUS_MASTER_KEY_ENV).is_some() {
        println!("nothing is wrapped under the previous key any more: unset {PREVIOUS_MASTER_KEY_ENV}");
    }
    if retire_previous(&layout.previous_master_key())? {
        println!("previous key  erased ({})", layout.previous_master_key().display());
    }
    Ok(ExitCode::SUCCESS)
}
