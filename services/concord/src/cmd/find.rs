//! `concord find`: search the partnership directory for a person, place or
//! vehicle (one JSON object per hit, best first).

use std::process::ExitCode;

use anyhow::{Context, Result};
use concord_core::SubjectId;
use concord_core::pb;
use concord_core::pb::directory_service_client::DirectoryServiceClient;

use crate::client::{authorized, status_error};
use crate::cmd::ClientArgs;

/// Arguments of `concord find`: at least one term.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("term").required(true).multiple(true)
    .args(["name", "dob", "postcode", "address", "registration", "identifier", "duplicates_of", "profile"])))]
pub struct FindArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only subjects of this kind.
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// A name: case, accents, hyphens, nicknames and initials are matched.
    #[arg(long)]
    pub name: Option<String>,
    /// A date of birth, YYYY-MM-DD (day and month swapped is found too).
    #[arg(long)]
    pub dob: Option<String>,
    /// A postcode, e.g. "HA3 7AB".
    #[arg(long)]
    pub postcode: Option<String>,
    /// An address.
    #[arg(long)]
    pub address: Option<String>,
    /// A vehicle registration.
    #[arg(long)]
    pub registration: Option<String>,
    /// An agency identifier, SCHEME=VALUE, e.g. police.met.nw/crn=01/23456.
    #[arg(long, value_parser = parse_identifier)]
    pub identifier: Option<pb::AgencyIdentifier>,
    /// Instead of a search: the subjects likely to be this one (kind/key),
    /// candidates for a merge.
    #[arg(long, conflicts_with_all = ["name", "dob", "postcode", "address", "registration", "identifier", "kind"])]
    pub duplicates_of: Option<SubjectId>,
    /// Instead of a search: the profile of this subject (kind/key), one
    /// JSON object.
    #[arg(long, conflicts_with_all = ["name", "dob", "postcode", "address", "registration", "identifier", "kind", "duplicates_of"])]
    pub profile: Option<SubjectId>,
    /// How many hits at most (1 to 100).
    #[arg(long, default_value_t = 10)]
    pub limit: u32,
}

/// A subject kind.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// People.
    Person,
    /// Places.
    Place,
    /// Vehicles.
    Vehicle,
    /// Groups.
    Group,
}

impl From<Kind> for pb::SubjectKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Person => pb::SubjectKind::Person,
            Kind::Place => pb::SubjectKind::Place,
            Kind::Vehicle => pb::SubjectKind::Vehicle,
            Kind::Group => pb::SubjectKind::Group,
        }
    }
}

fn parse_identifier(text: &str) -> Result<pb::AgencyIdentifier, String> {
    let (scheme, value) =
        text.split_once('=').ok_or_else(|| "write it as SCHEME=VALUE, e.g. police.met.nw/crn=01/23456".to_string())?;
    Ok(pb::AgencyIdentifier { scheme: scheme.trim().to_string(), value: value.trim().to_string() })
}

/// Runs the search and prints each hit.
pub async fn run(args: FindArgs) -> Result<ExitCode> {
    let token = args
        .client
        .token
        .clone()
        .context("no token: pass --token or set CONCORD_TOKEN (mint one with `concord token`)")?;
    let request = pb::FindRequest {
        kind: args.kind.map_or(pb::SubjectKind::Unspecified, pb::SubjectKind::from) as i32,
        name: args.name.unwrap_or_default(),
        date_of_birth: args.dob.unwrap_or_default(),
        postcode: args.postcode.unwrap_or_default(),
        address: args.address.unwrap_or_default(),
        registration: args.registration.unwrap_or_default(),
        identifier: args.identifier,
        limit: args.limit,
    };
    let mut client = DirectoryServiceClient::new(args.client.connect().await?);
    if let Some(subject) = args.profile {
        let request = pb::ProfileRequest { subject: Some(subject.to_ref()) };
        let profile = client.profile(authorized(request, &token)?).await.map_err(status_error)?.into_inner();
        println!("{}", serde_json::to_string(&profile)?);
        return Ok(ExitCode::SUCCESS);
    }
    let found = match args.duplicates_of {
        Some(subject) => {
            let request = pb::DuplicatesRequest { subject: Some(subject.to_ref()), limit: args.limit };
            client.duplicates(authorized(request, &token)?).await
        }
        None => client.find(authorized(request, &token)?).await,
    };
    let found = found.map_err(status_error)?.into_inner();
    if found.hits.is_empty() {
        eprintln!("no match you may see");
    }
    for hit in &found.hits {
        println!("{}", serde_json::to_string(hit)?);
    }
    Ok(ExitCode::SUCCESS)
}
