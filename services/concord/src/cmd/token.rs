//! `concord token`: mint a bearer token from the local issuer key.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use concord_core::AgencyId;
use concord_identity::{Purpose, Role};

use crate::cmd::DataArg;
use crate::layout::Layout;

/// Arguments of `concord token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// The token issuer's key bundle (`bundles/issuer`), if not DATA/keys.
    #[arg(long, env = "CONCORD_KEYS")]
    pub keys: Option<std::path::PathBuf>,
    /// The reader's agency, e.g. childrens_services.harrow.
    #[arg(long)]
    pub agency: AgencyId,
    /// practitioner, briefing_lead, analyst, auditor, admin or data_protection.
    #[arg(long, default_value = "practitioner")]
    pub role: Role,
    /// safeguarding, crime_prevention, case_management, briefing, analysis, audit, direct_care or administration.
    #[arg(long, default_value = "safeguarding")]
    pub purpose: Purpose,
    /// Who the token is for (the `sub` claim).
    #[arg(long, default_value = "local-user")]
    pub sub: String,
    /// Lifetime in minutes.
    #[arg(long, default_value_t = 480)]
    pub ttl_minutes: u64,
}

/// Prints a token.
pub fn run(args: TokenArgs) -> Result<ExitCode> {
    if args.ttl_minutes == 0 || args.ttl_minutes > 24 * 60 {
        bail!("--ttl-minutes must be between 1 and 1440");
    }
    let issuer = Layout::with_keys(&args.data.data, args.keys.clone()).issuer()?;
    let token =
        issuer.mint(&args.sub, &args.agency, args.role, args.purpose, Duration::from_secs(args.ttl_minutes * 60))?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
