//! `concord profile`: replays the log as an analyst (pseudonymised, through
//! `ReplayService`) into the national indicators and a problem profile, and
//! writes a report a person would want to read (HTML with charts and tables)
//! plus every figure as CSV and JSON, each with its definition, after
//! small-number suppression. Long replays show a progress bar; the
//! projections are checkpointed as they go, so an interrupted run resumes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use concord_analytics::{
    IndicatorParams, Indicators, Population, Profile, ProfileConfig, Suppression, TimeAxis, Window, Zone,
};
use concord_core::pb;
use concord_core::pb::replay_service_client::ReplayServiceClient;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::client::authorized;
use crate::cmd::ClientArgs;

/// Arguments of `concord profile`.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Names the analysis (pseudonyms are stable within it, unlinkable across analyses).
    #[arg(long, default_value = "profile")]
    pub analysis: String,
    /// The population file (borough,age,gender,ethnicity,count), e.g. from `concord simulate`.
    #[arg(long)]
    pub population: PathBuf,
    /// The borough.
    #[arg(long, default_value = "Harrow")]
    pub borough: String,
    /// The profile's first day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_day)]
    pub from: jiff::civil::Date,
    /// The profile's last day; also the end of the indicators' 12 months.
    #[arg(long, value_parser = parse_day)]
    pub to: jiff::civil::Date,
    /// The partnership's time zone: whose calendar days and months the
    /// windows are (an IANA name).
    #[arg(long, default_value = "Europe/London", env = "CONCORD_TIME_ZONE", value_parser = parse_zone)]
    pub time_zone: Zone,
    /// Place events by when they were recorded instead of when they happened.
    #[arg(long)]
    pub report_time: bool,
    /// Small-number suppression: `domain` (1-7 shown as 5, others to the
    /// nearest 5, rates from the rounded counts), or `none` (ground truth,
    /// not for publication).
    #[arg(long, default_value = "domain", value_parser = parse_suppression)]
    pub suppression: Suppression,
    /// Where report.html, report.csv and report.json go.
    #[arg(long, default_value = "./profile")]
    pub out: PathBuf,
}

fn parse_day(s: &str) -> Result<jiff::civil::Date, String> {
    concord_analytics::window::parse_date(s).map_err(|e| format!("{e}, e.g. 2025-10-01"))
}

fn parse_zone(s: &str) -> Result<Zone, String> {
    Zone::get(s).map_err(|e| e.to_string())
}

fn parse_suppression(s: &str) -> Result<Suppression, String> {
    match s {
        "domain" => Ok(Suppression::domain_practice()),
        "none" => Ok(Suppression::None),
        _ => Err(format!(
            "`{s}`: use `domain` or `none` (a threshold rule is no longer offered: exact counts give small ones back by difference)"
        )),
    }
}

/// What an interrupted profile resumes from.
#[derive(Serialize, Deserialize)]
struct Progress {
    /// The analysis and window it is for: another run starts afresh.
    scope: String,
    resume_token: String,
    indicators: Indicators,
    profile: Profile,
}

/// Replays and writes the report.
pub async fn run(args: ProfileArgs) -> Result<ExitCode> {
    let token = args.client.token.clone().context(
        "no token: pass --token or set CONCORD_TOKEN (an analyst's: `concord token --role analyst --purpose analysis`)",
    )?;
    let text =
        std::fs::read_to_string(&args.population).with_context(|| format!("reading {}", args.population.display()))?;
    let population = Population::parse(&text).with_context(|| format!("in {}", args.population.display()))?;
    if args.to < args.from {
        bail!("--to {} is before --from {}", args.to, args.from);
    }
    let axis = if args.report_time { TimeAxis::ReportTime } else { TimeAxis::EventTime };
    let window = Window::new(args.from, args.to)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;

    let checkpoint = args.out.join("checkpoint.json");
    let scope = format!("{}|{}|{}|{}|{:?}", args.client.addr, args.analysis, args.from, args.to, axis);
    let mut progress = match read_progress(&checkpoint, &scope) {
        Some(p) => {
            eprintln!("resuming the replay from {}", checkpoint.display());
            p
        }
        None => Progress {
            scope: scope.clone(),
            resume_token: String::new(),
            indicators: Indicators::default(),
            profile: Profile::new(ProfileConfig {
                window: Some(window),
                time_axis: axis,
                borough: Some(args.borough.clone()),
                zone: args.time_zone.clone(),
            }),
        },
    };

    // The indicators need the 12 months before `to` (and the reoffending
    // cohort's tracking), so the replay reads the whole log; the profile
    // keeps only its window.
    let mut client = ReplayServiceClient::new(args.client.connect().await?);
    let request = pb::ReplayRequest {
        analysis_id: args.analysis.clone(),
        axis: if args.report_time { pb::TimeAxis::Report } else { pb::TimeAxis::Event } as i32,
        resume_token: progress.resume_token.clone(),
        batch_size: 5000,
        ..Default::default()
    };
    let mut stream = client
        .replay(authorized(request, &token)?)
        .await
        .map_err(|s| anyhow::anyhow!("replay refused: {}", s.message()))?
        .into_inner();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} replaying [{bar:40}] {pos}/{len} log entries ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|s| anyhow::anyhow!("the replay failed: {}", s.message()))?;
        for event in &batch.events {
            progress.indicators.apply(event);
            progress.profile.apply(event);
        }
        progress.resume_token = batch.resume_token;
        write_progress(&checkpoint, &progress)?;
        bar.set_length(batch.total);
        bar.set_position(batch.scanned);
    }
    bar.finish_and_clear();

    let rule = args.suppression;
    let params = IndicatorParams {
        time_axis: axis,
        zone: args.time_zone.clone(),
        ..IndicatorParams::new(Some(&args.borough), args.to)
    };
    let mut report = progress.indicators.report(&params, &population, &rule)?;
    report.extend(progress.profile.report(&population, &rule));
    let out = &args.out;
    std::fs::write(out.join("report.html"), concord_analytics::render_html(&report)?)?;
    std::fs::write(out.join("report.csv"), report.to_csv())?;
    std::fs::write(out.join("report.json"), report.to_json()?)?;
    let _ = std::fs::remove_file(&checkpoint);
    println!("wrote {0}/report.html, {0}/report.csv and {0}/report.json", out.display());
    println!("  suppression: {}", rule.describe());
    Ok(ExitCode::SUCCESS)
}

fn read_progress(path: &Path, scope: &str) -> Option<Progress> {
    let progress: Progress = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (progress.scope == scope).then_some(progress)
}

/// Writes the checkpoint whole (beside it, then renamed), so a crash never
/// leaves half of one.
fn write_progress(path: &Path, progress: &Progress) -> Result<()> {
    let draft = path.with_extension("json.new");
    std::fs::write(&draft, serde_json::to_vec(progress)?)?;
    std::fs::rename(&draft, path)?;
    Ok(())
}
