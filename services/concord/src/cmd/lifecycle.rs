//! `concord erase`, `concord sar` and `concord retention`: data protection
//! requests, sent to `AdminService` (each is recorded in the audit log
//! before it takes effect). Erasure and the full access trail of a subject
//! access report are requests: one agency's data protection person files
//! one, another agency's approves it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use concord_core::pb::admin_service_client::AdminServiceClient;
use concord_core::{SubjectId, pb};
use tonic::transport::Channel;

use crate::client::{authorized, format_time, parse_time, status_error};
use crate::cmd::ClientArgs;

/// Filing, deciding and listing requests (`concord erase` and `concord sar`).
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// File a request about --subject, with --reason; a data protection
    /// person of another agency decides it.
    #[arg(long)]
    pub request: bool,
    /// List the requests of this kind and where they stand.
    #[arg(long)]
    pub list: bool,
    /// Approve another agency's request.
    #[arg(long, value_name = "ID")]
    pub approve: Option<String>,
    /// Refuse another agency's request (with --reason).
    #[arg(long, value_name = "ID")]
    pub refuse: Option<String>,
    /// Withdraw your agency's request (with --reason).
    #[arg(long, value_name = "ID")]
    pub withdraw: Option<String>,
    /// Why (recorded in the audit log), e.g. "erasure request 2026-114:
    /// no longer necessary (Art. 17(1)(a))".
    #[arg(long)]
    pub reason: Option<String>,
}

/// Arguments of `concord erase`.
#[derive(Debug, clap::Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The subject, e.g. person/P-1f3a (with --request).
    #[arg(long)]
    pub subject: Option<SubjectId>,
    #[command(flatten)]
    pub requests: RequestArgs,
}

/// Arguments of `concord sar`.
#[derive(Debug, clap::Args)]
pub struct SarArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The subject whose data and access records are requested.
    #[arg(long)]
    pub subject: Option<SubjectId>,
    /// Directory for the report (`sar-<kind>-<key>.md` and `.json`).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// An approved access-trail request (`concord sar --request`): the
    /// report then holds every agency's access records, not only yours.
    #[arg(long, value_name = "ID")]
    pub trail: Option<String>,
    #[command(flatten)]
    pub requests: RequestArgs,
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

async fn admin(client: &ClientArgs, role: &str) -> Result<(AdminServiceClient<Channel>, String)> {
    let token = client.token.clone().with_context(|| {
        format!("no token: pass --token or set CONCORD_TOKEN (`concord token --role {role} --purpose administration`)")
    })?;
    Ok((AdminServiceClient::new(client.connect().await?), token))
}

fn state_name(state: i32) -> &'static str {
    match pb::RequestState::try_from(state) {
        Ok(pb::RequestState::Pending) => "pending",
        Ok(pb::RequestState::Approved) => "approved",
        Ok(pb::RequestState::Refused) => "refused",
        Ok(pb::RequestState::Withdrawn) => "withdrawn",
        _ => "unknown",
    }
}

fn subject_name(subject: Option<&pb::SubjectRef>) -> String {
    subject.and_then(|s| SubjectId::from_ref(s).ok()).map(|s| s.to_string()).unwrap_or_default()
}

/// One request as a line.
fn line(r: &pb::DataProtectionRequest) -> String {
    let mut out = format!(
        "{} {} {}: filed by {} ({}) on {}: {}",
        r.request_id,
        state_name(r.state),
        subject_name(r.subject.as_ref()),
        r.requested_by,
        r.requested_agency,
        r.requested_at.as_ref().map(format_time).unwrap_or_default(),
        r.reason
    );
    if !r.decided_by.is_empty() {
        out.push_str(&format!("; decided by {} ({})", r.decided_by, r.decided_agency));
        if !r.decision_reason.is_empty() {
            out.push_str(&format!(": {}", r.decision_reason));
        }
    }
    out
}

/// Files, decides or lists requests of `kind` as `args` says; `None` when
/// `args` asks for none of these.
async fn requests(
    client: &ClientArgs,
    kind: pb::RequestKind,
    subject: Option<&SubjectId>,
    args: &RequestArgs,
) -> Result<Option<ExitCode>> {
    let decisions = [
        (&args.approve, pb::RequestDecision::Approve),
        (&args.refuse, pb::RequestDecision::Refuse),
        (&args.withdraw, pb::RequestDecision::Withdraw),
    ];
    let decision = decisions.iter().find_map(|(id, d)| id.as_ref().map(|id| (id.clone(), *d)));
    let asked =
        usize::from(args.request) + usize::from(args.list) + decisions.iter().filter(|(id, _)| id.is_some()).count();
    if asked == 0 {
        return Ok(None);
    }
    if asked > 1 {
        bail!("give one of --request, --list, --approve, --refuse, --withdraw");
    }
    let (mut admin, token) = admin(client, "data_protection").await?;
    let reason = args.reason.clone().unwrap_or_default();
    if args.list {
        let request = pb::ListRequestsRequest { subject: subject.map(SubjectId::to_ref), ..Default::default() };
        let list = admin.list_requests(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
        let mine: Vec<_> = list.requests.iter().filter(|r| r.kind == kind as i32).collect();
        println!("{} requests", mine.len());
        for r in mine {
            println!("  {}", line(r));
        }
        return Ok(Some(ExitCode::SUCCESS));
    }
    if let Some((request_id, decision)) = decision {
        let request = pb::DecideRequestRequest { request_id, decision: decision as i32, reason, kind: kind as i32 };
        let decided = admin.decide_request(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
        println!("{}", line(&decided));
        if decision == pb::RequestDecision::Approve && kind == pb::RequestKind::Erasure {
            let subject = subject_name(decided.subject.as_ref());
            if decided.had_key {
                println!("erased {subject}: their data key is destroyed (audit record {})", decided.record_id);
            } else {
                println!("{subject} had no data key (already erased, or no personal data held)");
            }
        }
        return Ok(Some(ExitCode::SUCCESS));
    }
    let subject = subject.context("--request needs --subject")?;
    if reason.trim().is_empty() {
        bail!("--request needs --reason");
    }
    let request = pb::FileRequestRequest { kind: kind as i32, subject: Some(subject.to_ref()), reason };
    let filed = admin.file_request(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
    println!("{}", line(&filed));
    println!("a data protection person of another agency decides it: `--approve {}`", filed.request_id);
    Ok(Some(ExitCode::SUCCESS))
}

/// Files, decides or lists erasure requests.
pub async fn erase(args: EraseArgs) -> Result<ExitCode> {
    match requests(&args.client, pb::RequestKind::Erasure, args.subject.as_ref(), &args.requests).await? {
        Some(code) => Ok(code),
        None => bail!("give one of --request, --list, --approve, --refuse, --withdraw"),
    }
}

/// Writes a subject access report as Markdown and JSON, or files, decides
/// or lists access-trail requests.
pub async fn sar(args: SarArgs) -> Result<ExitCode> {
    let subject = args.subject.as_ref();
    if let Some(code) = requests(&args.client, pb::RequestKind::AccessTrail, subject, &args.requests).await? {
        return Ok(code);
    }
    let subject = subject.context("give --subject")?;
    let (mut client, token) = admin(&args.client, "data_protection").await?;
    let request = pb::SubjectAccessRequest {
        subject: Some(subject.to_ref()),
        trail_request: args.trail.clone().unwrap_or_default(),
    };
    let report = client.subject_access(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let stem = format!("sar-{}", subject.to_string().replace('/', "-"));
    let markdown = args.out.join(format!("{stem}.md"));
    let json = args.out.join(format!("{stem}.json"));
    std::fs::write(&markdown, concord_lifecycle::sar::markdown(&report))
        .with_context(|| format!("writing {}", markdown.display()))?;
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    println!(
        "{subject}: {} events your agency may see ({} withheld), {} access records ({}){}",
        report.events.len(),
        report.withheld,
        report.accesses.len(),
        if report.all_agencies { "every agency's" } else { "your agency's" },
        if report.erased { "; their personal data is erased" } else { "" }
    );
    println!("  {}\n  {}", markdown.display(), json.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs (or previews) the retention sweep and prints what it did.
pub async fn retention(args: RetentionArgs) -> Result<ExitCode> {
    let (mut client, token) = admin(&args.client, "admin").await?;
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
