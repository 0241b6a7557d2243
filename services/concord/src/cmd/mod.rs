//! Command-line arguments and one module per subcommand.

pub mod keys;
pub mod publish;
pub mod query;
pub mod schemas;
pub mod token;
pub mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Concord: multi-agency safeguarding information sharing.
#[derive(Debug, Parser)]
#[command(name = "concord", version, about, long_about = None)]
pub struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "CONCORD_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The data directory option shared by local commands.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArg {
    /// Data directory (keys, log, stores).
    #[arg(long, default_value = "./data", env = "CONCORD_DATA")]
    pub data: PathBuf,
}

/// Where a client command connects and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Address of the Concord gRPC server.
    #[arg(long, default_value = "http://127.0.0.1:50051", env = "CONCORD_ADDR")]
    pub addr: String,
    /// Bearer token (see `concord token`).
    #[arg(long, env = "CONCORD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform in one process (embedded bus), with simulated agencies.
    Up(up::UpArgs),
    /// Create local signing keys for agencies, the ledger and the token issuer.
    Keys(keys::KeysArgs),
    /// Mint a token for an agency, role and purpose from the local issuer key.
    Token(token::TokenArgs),
    /// Publish events from a JSON Lines file through the node.
    Publish(publish::PublishArgs),
    /// Read events: get, timeline, search, subscribe.
    Query(query::QueryArgs),
    /// Write (or check) the JSON Schemas generated from the proto files.
    Schemas(schemas::SchemasArgs),
}

impl Command {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Up(a) => up::run(a).await,
            Command::Keys(a) => keys::run(a),
            Command::Token(a) => token::run(a),
            Command::Publish(a) => publish::run(a).await,
            Command::Query(a) => query::run(a).await,
            Command::Schemas(a) => schemas::run(a),
        }
    }
}

/// Sets up logging: `RUST_LOG` filters (default `info`), text or JSON lines.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}
