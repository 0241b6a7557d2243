//! `concord policy`: check a sharing agreement before deploying it, and
//! explain a decision for an information governance review.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use concord_core::pb;
use concord_core::pb::policy_service_client::PolicyServiceClient;
use concord_policy::Policy;

use crate::client::{authorized, status_error};
use crate::cmd::ClientArgs;
use crate::platform::{load_policy, load_retention};

/// Arguments of `concord policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub what: What,
}

/// What to do with the agreement.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Parse and validate an agreement against its schema, and its retention
    /// rules (retention.toml), as start-up does.
    Check {
        /// Directory holding agreement.cedar and concord.cedarschema
        /// (default: the built-in copy of deploy/policy).
        #[arg(long, env = "CONCORD_POLICY")]
        policy: Option<PathBuf>,
    },
    /// Which rules decide an event for a reader (needs an admin token).
    Explain {
        #[command(flatten)]
        client: ClientArgs,
        /// The reader's agency, e.g. vcs.harrow.youthclub.
        #[arg(long)]
        agency: String,
        /// The reader's role: practitioner, briefing_lead, analyst, auditor, admin, data_protection.
        #[arg(long)]
        role: String,
        /// The reader's purpose, e.g. safeguarding.
        #[arg(long)]
        purpose: String,
        /// The event id.
        event_id: String,
    },
}

/// Runs the subcommand.
pub async fn run(args: PolicyArgs) -> Result<ExitCode> {
    match args.what {
        What::Check { policy } => {
            let agreement = load_policy(policy.as_deref())?;
            println!("the sharing agreement is valid: {}", agreement.policy_hash());
            let retention = load_retention(policy.as_deref())?;
            println!("the retention rules are valid:");
            for rule in retention.rules() {
                println!("  {rule}");
            }
        }
        What::Explain { client, agency, role, purpose, event_id } => {
            let token = client.token.clone().context("no token: pass --token or set CONCORD_TOKEN (an admin's)")?;
            let mut service = PolicyServiceClient::new(client.connect().await?);
            let request = pb::ExplainRequest { agency_id: agency, role, purpose, event_id };
            let answer = service.explain(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
