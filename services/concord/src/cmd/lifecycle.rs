//! `concord erase`, `concord sar` and `concord retention`: an admin's data
//! protection requests, sent to `AdminService` (each is recorded in the
//! audit log before it takes effect).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use concord_core::pb::admin_service_client::AdminServiceClient;
use concord_core::{SubjectId, pb};
use tonic::transport::Channel;

use crate::client::{authorized, connect, format_time, parse_time, status_error};
use crate::cmd::ClientArgs;

/// Arguments of `concord erase`.
#[derive(Debug, clap::Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The subject to erase, e.g. person/P-1f3a.
    #[arg(long)]
    pub subject: SubjectId,
    /// Why (recorded in the audit log), e.g. "erasure request 2026-114 upheld".
    #[arg(long)]
    pub reason: String,
}

/// Arguments of `concord sar`.
#[derive(Debug, clap::Args)]
pub struct SarArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The subject whose data and access records are requested.
    #[arg(long)]
    pub subject: SubjectId,
    /// Directory for the report (`sar-<kind>-<key>.md` and `.json`).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

/// Arguments of `concord retention`.
#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// List who is due without erasing anyone.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: apply the rules as at this time (e.g. 2031-01-01).
    #[arg(long, requires = "dry_run")]
    pub at: Option<String>,
}

async fn admin(client: &ClientArgs) -> Result<(AdminServiceClient<Channel>, String)> {
    let token = client.token.clone().context(
        "no token: pass --token or set CONCORD_TOKEN (an admin's: `concord token --role admin --purpose administration`)",
    )?;
    Ok((AdminServiceClient::new(connect(&client.addr).await?), token))
}

/// Erases a subject and prints the receipt.
pub async fn erase(args: EraseArgs) -> Result<ExitCode> {
    let (mut client, token) = admin(&args.client).await?;
    let request = pb::EraseSubjectRequest { subject: Some(args.subject.to_ref()), reason: args.reason };
    let receipt = client.erase_subject(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
    if receipt.had_key {
        println!("erased {}: their data key is destroyed (audit record {})", args.subject, receipt.record_id);
    } else {
        println!(
            "{} had no data key (already erased, or no personal data held); recorded as {}",
            args.subject, receipt.record_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a subject access report as Markdown and JSON.
pub async fn sar(args: SarArgs) -> Result<ExitCode> {
    let (mut client, token) = admin(&args.client).await?;
    let request = pb::SubjectAccessRequest { subject: Some(args.subject.to_ref()) };
    let report = client.subject_access(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let stem = format!("sar-{}", args.subject.to_string().replace('/', "-"));
    let markdown = args.out.join(format!("{stem}.md"));
    let json = args.out.join(format!("{stem}.json"));
    std::fs::write(&markdown, concord_lifecycle::sar::markdown(&report))
        .with_context(|| format!("writing {}", markdown.display()))?;
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    println!(
        "{}: {} events you may see ({} withheld), {} access records{}",
        args.subject,
        report.events.len(),
        report.withheld,
        report.accesses.len(),
        if report.erased { "; their personal data is erased" } else { "" }
    );
    println!("  {}\n  {}", markdown.display(), json.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs (or previews) the retention sweep and prints what it did.
pub async fn retention(args: RetentionArgs) -> Result<ExitCode> {
    let (mut client, token) = admin(&args.client).await?;
    let at = args.at.as_deref().map(parse_time).transpose()?;
    let request = pb::RetentionSweepRequest { dry_run: args.dry_run, at };
    let report = client.retention_sweep(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
    let name = |s: Option<&pb::SubjectRef>| s.and_then(|s| SubjectId::from_ref(s).ok()).map(|s| s.to_string());
    let verb = if report.dry_run { "would erase" } else { "erased" };
    println!("{} subjects with personal data examined; {verb} {}", report.examined, report.due.len());
    for due in &report.due {
        let when = due.due.as_ref().map(format_time).unwrap_or_default();
        println!("  {verb} {}: {} (ended {when})", name(due.subject.as_ref()).unwrap_or_default(), due.rule);
    }
    for subject in &report.undetermined {
        println!(
            "  kept {}: a rule needs their date of birth and none is recorded; decide by hand",
            name(Some(subject)).unwrap_or_default()
        );
    }
    println!("audit record {}", report.record_id);
    Ok(ExitCode::SUCCESS)
}
