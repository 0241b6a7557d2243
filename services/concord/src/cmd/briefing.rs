//! `concord briefing` (the daily VVE briefing: generate, publish, list,
//! retrieve) and `concord alerts` (the immediate alerts, live).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use concord_core::pb;
use concord_core::pb::alert_service_client::AlertServiceClient;
use concord_core::pb::briefing_service_client::BriefingServiceClient;
use futures::StreamExt;

use crate::client::{authorized, format_time, parse_time, status_error};
use crate::cmd::ClientArgs;

/// Arguments of `concord briefing`.
#[derive(Debug, clap::Args)]
pub struct BriefingArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Start of the window (default: the briefing time a day before --to).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the window (default: the latest briefing time).
    #[arg(long)]
    pub to: Option<String>,
    /// Store it, so the agency's readers can retrieve it.
    #[arg(long)]
    pub publish: bool,
    /// Cover only these boroughs (repeatable), e.g. several of one police area.
    #[arg(long = "borough")]
    pub boroughs: Vec<String>,
    /// Only events about members of this cohort of your agency.
    #[arg(long)]
    pub cohort: Option<String>,
    /// Retrieve a published briefing instead.
    #[arg(long, conflicts_with_all = ["from", "to", "publish", "boroughs", "cohort", "list"])]
    pub get: Option<String>,
    /// List your agency's published briefings instead.
    #[arg(long)]
    pub list: bool,
    /// Directory for briefing-<id>.md, .html and .json.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

/// Arguments of `concord alerts`.
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Start after this log position (0: every alert so far, then live).
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// Only alerts about members of this cohort of your agency.
    #[arg(long)]
    pub cohort: Option<String>,
    /// Stop after this many alerts.
    #[arg(long)]
    pub limit: Option<usize>,
}

fn token(client: &ClientArgs) -> Result<String> {
    client.token.clone().context(
        "no token: pass --token or set CONCORD_TOKEN (a briefing lead's: `concord token --role briefing_lead --purpose briefing`)",
    )
}

/// Generates, retrieves or lists briefings.
pub async fn briefing(args: BriefingArgs) -> Result<ExitCode> {
    let token = token(&args.client)?;
    let mut client = BriefingServiceClient::new(args.client.connect().await?);
    if args.list {
        let list = client
            .list_briefings(authorized(pb::ListBriefingsRequest::default(), &token)?)
            .await
            .map_err(status_error)?
            .into_inner();
        for b in &list.briefings {
            let when = |t: &Option<pbjson_types::Timestamp>| t.as_ref().map(format_time).unwrap_or_default();
            println!(
                "{}  {} .. {}  {} groups, {} events, {} open actions",
                b.briefing_id,
                when(&b.from),
                when(&b.to),
                b.groups,
                b.events,
                b.open_actions
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let briefing = match args.get {
        Some(briefing_id) => client.get_briefing(authorized(pb::GetBriefingRequest { briefing_id }, &token)?).await,
        None => {
            let from = args.from.as_deref().map(parse_time).transpose()?;
            let to = args.to.as_deref().map(parse_time).transpose()?;
            let cohort = args.cohort.unwrap_or_default();
            let request =
                pb::GenerateBriefingRequest { from, to, publish: args.publish, boroughs: args.boroughs, cohort };
            client.generate(authorized(request, &token)?).await
        }
    }
    .map_err(status_error)?
    .into_inner();
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let stem = args.out.join(format!("briefing-{}", briefing.briefing_id));
    let written = [
        ("md", briefing.markdown.clone()),
        ("html", briefing.html.clone()),
        ("json", serde_json::to_string_pretty(&briefing)?),
    ];
    for (extension, text) in written {
        let path = stem.with_extension(extension);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("  {}", path.display());
    }
    let events: usize = briefing.groups.iter().map(|g| g.events.len()).sum();
    println!(
        "briefing {} for {}: {} groups, {} events, {} open actions{}",
        briefing.briefing_id,
        briefing.recipient_agency_id,
        briefing.groups.len(),
        events,
        briefing.open_actions.len(),
        if briefing.published { " (published)" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints alerts as JSON lines as they come.
pub async fn alerts(args: AlertsArgs) -> Result<ExitCode> {
    let token = token(&args.client)?;
    let mut client = AlertServiceClient::new(args.client.connect().await?);
    let request = pb::WatchAlertsRequest { after_position: args.after, cohort: args.cohort.unwrap_or_default() };
    let mut stream = client.watch(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
    let mut seen = 0;
    while args.limit.is_none_or(|limit| seen < limit) {
        let Some(alert) = stream.next().await else { break };
        println!("{}", serde_json::to_string(&alert.map_err(status_error)?)?);
        seen += 1;
    }
    Ok(ExitCode::SUCCESS)
}
