//! `concord publish`: send events from a file through the node, reporting
//! each line's outcome. A JSON Lines file gives one event per line; a file
//! holding one JSON object or an array of them works too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use concord_core::pb;
use concord_core::pb::publish_service_client::PublishServiceClient;
use concord_core::{AgencyId, status};
use concord_identity::{Purpose, Role};

use crate::client::authorized;
use crate::cmd::{ClientArgs, DataArg};
use crate::layout::Layout;

/// Arguments of `concord publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The file: JSON Lines, one event per line (see schemas/).
    pub file: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Without --token, tokens for each line's agency are minted from this data directory's issuer.
    #[command(flatten)]
    pub data: DataArg,
}

/// One event read from the file, or why it could not be read.
pub struct Item {
    /// Where it is: "line 3" or "item 2".
    pub place: String,
    /// The event, or the parse error.
    pub event: Result<pb::Event, String>,
}

/// Parses one JSON document as an event; errors name the path of the field at fault.
fn parse_event(json: &str) -> Result<pb::Event, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." { e.inner().to_string() } else { format!("{path}: {}", e.inner()) }
    })
}

/// Reads events from the text of a file.
pub fn read_items(text: &str) -> Vec<Item> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || (trimmed.starts_with('{') && serde_json::from_str::<serde_json::Value>(text).is_ok())
    {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Array(items)) => {
                return items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Item { place: format!("item {}", i + 1), event: parse_event(&v.to_string()) })
                    .collect();
            }
            Ok(value @ serde_json::Value::Object(_)) => {
                return vec![Item { place: "document".into(), event: parse_event(&value.to_string()) }];
            }
            _ => {}
        }
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| Item { place: format!("line {}", i + 1), event: parse_event(line) })
        .collect()
}

/// Publishes every event in the file; exits non-zero if any failed.
pub async fn run(args: PublishArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let items = read_items(&text);
    let mut client = PublishServiceClient::new(args.client.connect().await?);
    let mut minted: HashMap<String, String> = HashMap::new();
    let (mut ok, mut failed) = (0, 0);
    for item in items {
        let event = match item.event {
            Ok(event) => event,
            Err(e) => {
                eprintln!("{}: not a Concord event: {e}", item.place);
                failed += 1;
                continue;
            }
        };
        let token = match &args.client.token {
            Some(t) => t.clone(),
            None => match token_for(&args.data, &event.agency_id, &mut minted) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: {e:#}", item.place);
                    failed += 1;
                    continue;
                }
            },
        };
        let request = authorized(pb::PublishRequest { event: Some(event), wait_for_ledger: true }, &token)?;
        match client.publish(request).await {
            Ok(response) => {
                let r = response.into_inner();
                let note = if r.duplicate { " (already in the log)" } else { "" };
                println!("{}: published {} at position {}{note}", item.place, r.event_id, r.position);
                ok += 1;
            }
            Err(status) => {
                let field = status::field_of(&status).map(|f| format!(" [field {f}]")).unwrap_or_default();
                eprintln!("{}: {:?}: {}{field}", item.place, status.code(), status.message());
                failed += 1;
            }
        }
    }
    println!("{ok} published, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn token_for(data: &DataArg, agency: &str, minted: &mut HashMap<String, String>) -> Result<String> {
    if let Some(t) = minted.get(agency) {
        return Ok(t.clone());
    }
    let agency_id = AgencyId::parse(agency).context("agency_id")?;
    let issuer = Layout::new(&data.data).issuer().context("no --token given and no local issuer to mint one")?;
    let token = issuer.mint(
        "concord-publish",
        &agency_id,
        Role::Practitioner,
        Purpose::CaseManagement,
        Duration::from_secs(3600),
    )?;
    minted.insert(agency.to_string(), token.clone());
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jsonl_with_line_numbers_and_whole_documents() {
        let items = read_items("{\"event_id\": \"x\"}\n\n{not json}\n{\"borough\": 5}\n");
        let places: Vec<_> = items.iter().map(|i| i.place.as_str()).collect();
        assert_eq!(places, ["line 1", "line 3", "line 4"]);
        assert!(items[0].event.is_ok());
        assert!(items[1].event.is_err());
        assert!(items[2].event.as_ref().unwrap_err().starts_with("borough:"), "the error names the field");

        let doc = read_items("{\n  \"borough\": \"Harrow\"\n}\n");
        assert_eq!(doc.len(), 1);
        assert_eq!(doc[0].place, "document");
        let array = read_items("[{\"borough\": \"Harrow\"}, {\"ward\": \"Wealdstone\"}]");
        assert_eq!(array.len(), 2);
    }
}
