//! `concord keys`: create the local keys a data directory needs.

use std::process::ExitCode;

use anyhow::Result;
use concord_core::AgencyId;

use crate::cmd::DataArg;
use crate::layout::Layout;

/// Arguments of `concord keys`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Agencies to create signing keys for (repeatable); default: the simulated borough's.
    #[arg(long = "agency")]
    pub agencies: Vec<AgencyId>,
}

/// Creates missing keys and lists what the directory holds.
pub fn run(args: KeysArgs) -> Result<ExitCode> {
    let agencies = if args.agencies.is_empty() { crate::cmd::up::default_agencies() } else { args.agencies };
    let layout = Layout::new(&args.data.data);
    let keys = layout.ensure_keys(&agencies)?;
    for key in &keys {
        println!("{}  {}", key.key_id(), layout.agency_key(key.agency()).display());
    }
    println!("registry      {}", layout.registry().display());
    println!("token issuer  {} (JWKS {})", layout.keys().display(), layout.jwks().display());
    println!("ledger key    {}", layout.ledger_key().display());
    Ok(ExitCode::SUCCESS)
}
