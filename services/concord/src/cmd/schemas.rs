//! `concord schemas`: write or check the JSON Schemas generated from the proto.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, anyhow};

/// Arguments of `concord schemas`.
#[derive(Debug, clap::Args)]
pub struct SchemasArgs {
    /// The schema directory.
    #[arg(long, default_value = "schemas")]
    pub out: PathBuf,
    /// Only check that the directory matches the proto; write nothing.
    #[arg(long)]
    pub check: bool,
}

/// Writes or checks the schemas.
pub fn run(args: SchemasArgs) -> Result<ExitCode> {
    if args.check {
        concord_core::schema::check_schemas(&args.out).map_err(|e| anyhow!(e))?;
        println!("{} matches the proto files", args.out.display());
    } else {
        for path in concord_core::schema::write_schemas(&args.out)? {
            println!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
