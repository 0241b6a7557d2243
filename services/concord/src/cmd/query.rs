//! `concord query`: read events as a client (one JSON object per line).

use std::process::ExitCode;

use anyhow::{Context, Result};
use concord_core::SubjectId;
use concord_core::pb;
use concord_core::pb::query_service_client::QueryServiceClient;
use futures::StreamExt;

use crate::client::{authorized, parse_time, status_error};
use crate::cmd::ClientArgs;

/// Arguments of `concord query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub what: What,
}

/// What to read.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// One event by id.
    Get {
        /// The event id.
        event_id: String,
    },
    /// A subject's timeline, e.g. `person/P-7f3a9c01`.
    Timeline {
        /// kind/key of the subject.
        subject: SubjectId,
        /// Events per page.
        #[arg(long, default_value_t = 100)]
        page_size: u32,
        /// Follow page tokens to the end.
        #[arg(long)]
        all: bool,
    },
    /// Events by type, agency, ward and time.
    Search {
        /// Event type, e.g. missing_episode.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Publishing agency id.
        #[arg(long)]
        agency: Option<String>,
        /// Ward name.
        #[arg(long)]
        ward: Option<String>,
        /// Occurred at or after (2026-11-01 or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Occurred before.
        #[arg(long)]
        to: Option<String>,
        /// Events per page.
        #[arg(long, default_value_t = 20)]
        page_size: u32,
        /// Follow page tokens to the end.
        #[arg(long)]
        all: bool,
    },
    /// New events as they are appended.
    Subscribe {
        /// Start after this log position (0: from the beginning).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Only this event type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only this subject (kind/key).
        #[arg(long)]
        subject: Option<SubjectId>,
        /// Only events about members of this cohort of your agency.
        #[arg(long)]
        cohort: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<usize>,
    },
}

fn print(view: &pb::EventView) -> Result<()> {
    println!("{}", serde_json::to_string(view)?);
    Ok(())
}

/// Runs the query and prints what comes back.
pub async fn run(args: QueryArgs) -> Result<ExitCode> {
    let token = args
        .client
        .token
        .clone()
        .context("no token: pass --token or set CONCORD_TOKEN (mint one with `concord token`)")?;
    let mut client = QueryServiceClient::new(args.client.connect().await?);
    match args.what {
        What::Get { event_id } => {
            let view = client
                .get_event(authorized(pb::GetEventRequest { event_id }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner();
            print(&view)?;
        }
        What::Timeline { subject, page_size, all } => {
            let mut page_token = String::new();
            loop {
                let request = pb::SubjectTimelineRequest { subject: Some(subject.to_ref()), page_size, page_token };
                let page =
                    client.subject_timeline(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
                for view in &page.events {
                    print(view)?;
                }
                if !all || page.next_page_token.is_empty() {
                    if !page.next_page_token.is_empty() {
                        eprintln!("(more: --all to follow)");
                    }
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        What::Search { event_type, agency, ward, from, to, page_size, all } => {
            let from = from.as_deref().map(parse_time).transpose()?;
            let to = to.as_deref().map(parse_time).transpose()?;
            let mut page_token = String::new();
            loop {
                let request = pb::SearchRequest {
                    event_type: event_type.clone().unwrap_or_default(),
                    agency_id: agency.clone().unwrap_or_default(),
                    ward: ward.clone().unwrap_or_default(),
                    from,
                    to,
                    page_size,
                    page_token,
                };
                let page = client.search(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
                for view in &page.events {
                    print(view)?;
                }
                if !all || page.next_page_token.is_empty() {
                    if !page.next_page_token.is_empty() {
                        eprintln!("(more: --all to follow)");
                    }
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        What::Subscribe { after, event_type, subject, cohort, limit } => {
            let request = pb::SubscribeRequest {
                after_position: after,
                event_type: event_type.unwrap_or_default(),
                subject: subject.map(|s| s.to_ref()),
                cohort: cohort.unwrap_or_default(),
            };
            let mut stream = client.subscribe(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
            let mut seen = 0;
            while let Some(item) = stream.next().await {
                print(&item.map_err(status_error)?)?;
                seen += 1;
                if limit.is_some_and(|l| seen >= l) {
                    break;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
