//! Command-line arguments and one module per subcommand.

pub mod audit;
pub mod briefing;
pub mod certs;
pub mod find;
pub mod keys;
pub mod ledger;
pub mod lifecycle;
pub mod nats_config;
pub mod node;
pub mod policy;
pub mod profile;
pub mod publish;
pub mod query;
pub mod schemas;
pub mod serve;
pub mod simulate;
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

/// The sharing agreement option of the commands that serve reads.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArg {
    /// Directory holding the sharing agreement (agreement.cedar and
    /// concord.cedarschema), reloaded on SIGHUP; default: the built-in copy
    /// of deploy/policy.
    #[arg(long, env = "CONCORD_POLICY")]
    pub policy: Option<PathBuf>,
}

/// Where the tokens of a command that serves gRPC come from: the local
/// issuer (`concord token`, the default) or the partnership's OpenID Connect
/// provider.
#[derive(Debug, Clone, clap::Args)]
pub struct OidcArg {
    /// Accept tokens from this OpenID Connect issuer (exactly as its
    /// discovery document's `issuer` says) instead of the local issuer's.
    #[arg(long, env = "CONCORD_OIDC_ISSUER", requires_all = ["oidc_audience", "oidc_claims"])]
    pub oidc_issuer: Option<String>,
    /// The audience (`aud`) the provider's tokens must be for: Concord's client id there.
    #[arg(long, env = "CONCORD_OIDC_AUDIENCE", requires = "oidc_issuer")]
    pub oidc_audience: Option<String>,
    /// The TOML file mapping the provider's group or role claim to agency,
    /// role and purpose (see deploy/README.md).
    #[arg(long, env = "CONCORD_OIDC_CLAIMS", requires = "oidc_issuer")]
    pub oidc_claims: Option<PathBuf>,
}

impl OidcArg {
    /// The provider's configuration, if one is named; the mapping file is
    /// read and checked now.
    pub fn config(&self) -> anyhow::Result<Option<concord_identity::OidcConfig>> {
        let (Some(issuer), Some(audience), Some(claims)) = (&self.oidc_issuer, &self.oidc_audience, &self.oidc_claims)
        else {
            return Ok(None);
        };
        let mapping = concord_identity::ClaimMapping::load(claims)?;
        Ok(Some(concord_identity::OidcConfig::new(issuer, audience, mapping)))
    }
}

/// The operators' HTTP port of a long-running command.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsArg {
    /// Serve Prometheus metrics on http://ADDR/metrics, with /healthz and
    /// /readyz (e.g. 127.0.0.1:9464).
    #[arg(long = "metrics", env = "CONCORD_METRICS")]
    pub metrics: Option<std::net::SocketAddr>,
}

impl MetricsArg {
    /// Starts the port if one was asked for (or `default`), reporting
    /// ready as `ready` says.
    pub async fn start(
        &self,
        default: Option<std::net::SocketAddr>,
        ready: concord_telemetry::Readiness,
    ) -> anyhow::Result<Option<std::net::SocketAddr>> {
        let Some(addr) = self.metrics.or(default) else { return Ok(None) };
        let handle = concord_telemetry::install()?;
        let bound = concord_telemetry::http::spawn(addr, handle, ready)
            .await
            .map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))?;
        Ok(Some(bound))
    }
}

/// How often the commands that serve reads apply the retention rules.
#[derive(Debug, Clone, clap::Args)]
pub struct RetentionArg {
    /// Hours between retention sweeps (erasing subjects whose retention has
    /// ended, per retention.toml beside the agreement); 0: never.
    #[arg(long, default_value_t = 24, env = "CONCORD_RETENTION_HOURS")]
    pub retention_hours: u64,
}

impl RetentionArg {
    /// Starts the scheduled sweep, unless turned off.
    pub fn start(&self, admin: &std::sync::Arc<concord_lifecycle::AdminApi>) {
        if self.retention_hours > 0 {
            let every = std::time::Duration::from_secs(self.retention_hours * 3600);
            tokio::spawn(admin.clone().sweep_every(every));
        }
    }
}

/// When the daily VVE briefing is, for the commands that publish it.
#[derive(Debug, Clone, clap::Args)]
pub struct BriefingArg {
    /// The daily briefing time (HH:MM), when each agency's briefing of the
    /// day before is published.
    #[arg(long, default_value = "08:30", env = "CONCORD_BRIEFING_AT")]
    pub briefing_at: String,
    /// The partnership's time zone (IANA name).
    #[arg(long, default_value = "Europe/London", env = "CONCORD_TIME_ZONE")]
    pub time_zone: String,
}

impl BriefingArg {
    /// The briefing time, checked.
    pub fn time(&self) -> anyhow::Result<concord_briefing::BriefingTime> {
        Ok(concord_briefing::BriefingTime::parse(&self.briefing_at, &self.time_zone)?)
    }
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
    /// CA (PEM) the server's certificate is checked against; the address is
    /// then https://.
    #[arg(long, env = "CONCORD_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), for servers that require one (with --ca).
    #[arg(long, env = "CONCORD_CLIENT_CERT", requires_all = ["ca", "key"])]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, env = "CONCORD_CLIENT_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
}

impl ClientArgs {
    /// Connects to the server, over TLS when given a CA.
    pub async fn connect(&self) -> anyhow::Result<tonic::transport::Channel> {
        let tls = match &self.ca {
            Some(ca) => {
                let identity = self.cert.as_deref().zip(self.key.as_deref());
                Some(crate::client::client_tls(ca, identity)?)
            }
            None => None,
        };
        crate::client::connect_tls(&self.addr, tls).await
    }
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform in one process (embedded bus), with simulated agencies.
    Up(up::UpArgs),
    /// One agency's node as its own process, publishing over NATS JetStream.
    Node(node::NodeArgs),
    /// The ledger as its own process, consuming the JetStream event stream.
    Ledger(ledger::LedgerArgs),
    /// A query replica as its own process, with its own log built from the stream.
    Serve(serve::ServeArgs),
    /// Create local signing keys for agencies, the ledger and the token issuer; rotate the master key.
    Keys(keys::KeysArgs),
    /// Make a development CA and the TLS certificates of NATS, gRPC and each process role.
    Certs(certs::CertsArgs),
    /// Mint a token for an agency, role and purpose from the local issuer key.
    Token(token::TokenArgs),
    /// Publish events from a JSON Lines file through the node; an interrupted load resumes.
    #[command(long_about = publish::LONG_ABOUT)]
    Publish(publish::PublishArgs),
    /// Read events: get, timeline, search, subscribe.
    Query(query::QueryArgs),
    /// Find a person, place or vehicle in the partnership directory by name,
    /// date of birth, postcode, address, registration or agency identifier.
    Find(find::FindArgs),
    /// Verify the event log and the audit log offline against signed checkpoints.
    Audit(audit::AuditArgs),
    /// Check the sharing agreement, or explain a decision (admins).
    Policy(policy::PolicyArgs),
    /// Write (or check) NATS users and permissions generated from the key registry.
    NatsConfig(nats_config::NatsConfigArgs),
    /// Write (or check) the JSON Schemas generated from the proto files.
    Schemas(schemas::SchemasArgs),
    /// Write a simulated borough-period of events with its ground truth.
    Simulate(simulate::SimulateArgs),
    /// Replay as an analyst into the indicators and a problem profile; write the report.
    Profile(profile::ProfileArgs),
    /// The daily VVE briefing for your agency: generate, publish, list, retrieve.
    Briefing(briefing::BriefingArgs),
    /// Watch the immediate alerts for your agency (JSON lines).
    Alerts(briefing::AlertsArgs),
    /// Erasure requests: file one, or approve, refuse, withdraw or list them
    /// (data protection; another agency's approval destroys the data key).
    Erase(lifecycle::EraseArgs),
    /// Subject access request: what your agency holds about a subject and who
    /// saw it (data protection); every agency's trail by an approved request.
    Sar(lifecycle::SarArgs),
    /// Apply the retention rules now, or list what is due with --dry-run (admins).
    Retention(lifecycle::RetentionArgs),
}

impl Command {
    /// Whether it runs until stopped (Ctrl-C, SIGTERM), rather than doing
    /// one thing; only those hold SIGTERM for a clean stop.
    pub fn runs_until_stopped(&self) -> bool {
        matches!(self, Command::Up(_) | Command::Node(_) | Command::Ledger(_) | Command::Serve(_))
    }

    /// The name this process has in exported traces.
    pub fn service_name(&self) -> &'static str {
        match self {
            Command::Up(_) => "concord-up",
            Command::Node(_) => "concord-node",
            Command::Ledger(_) => "concord-ledger",
            Command::Serve(_) => "concord-serve",
            _ => "concord",
        }
    }

    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Up(a) => up::run(a).await,
            Command::Node(a) => node::run(a).await,
            Command::Ledger(a) => ledger::run(a).await,
            Command::Serve(a) => serve::run(a).await,
            Command::Keys(a) => keys::run(a).await,
            Command::Certs(a) => certs::run(a),
            Command::Token(a) => token::run(a),
            Command::Publish(a) => publish::run(a).await,
            Command::Query(a) => query::run(a).await,
            Command::Find(a) => find::run(a).await,
            Command::Policy(a) => policy::run(a).await,
            Command::Audit(a) => audit::run(a).await,
            Command::Schemas(a) => schemas::run(a),
            Command::NatsConfig(a) => nats_config::run(a),
            Command::Simulate(a) => simulate::run(a),
            Command::Profile(a) => profile::run(a).await,
            Command::Briefing(a) => briefing::briefing(a).await,
            Command::Alerts(a) => briefing::alerts(a).await,
            Command::Erase(a) => lifecycle::erase(a).await,
            Command::Sar(a) => lifecycle::sar(a).await,
            Command::Retention(a) => lifecycle::retention(a).await,
        }
    }
}

/// Set once Ctrl-C or SIGTERM has arrived.
static SHUTDOWN: std::sync::OnceLock<tokio::sync::watch::Receiver<bool>> = std::sync::OnceLock::new();

/// Starts listening for Ctrl-C and SIGTERM. Called first thing, so a signal
/// that arrives while a command is still starting (connecting, opening
/// stores) is kept until it waits for one, instead of killing the process
/// mid-start (the default action).
pub fn listen_for_shutdown() {
    let (tx, rx) = tokio::sync::watch::channel(false);
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::spawn(async move {
        #[cfg(unix)]
        match term {
            Some(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
    });
    let _ = SHUTDOWN.set(rx);
}

/// Completes on Ctrl-C or SIGTERM (how systemd and Kubernetes stop a
/// process), including one that arrived before this was called.
pub async fn shutdown_signal() {
    match SHUTDOWN.get() {
        Some(rx) => {
            let mut rx = rx.clone();
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
        // Not listening yet (the command runs outside `main`): listen now.
        None => {
            listen_for_shutdown();
            Box::pin(shutdown_signal()).await;
        }
    }
}

/// Sets up logs and traces (see [`concord_telemetry::trace`]): `RUST_LOG`
/// filters (default `info`), text or JSON lines, OTLP export when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Keep what it returns until exit.
pub fn init_tracing(cli: &Cli) -> anyhow::Result<concord_telemetry::trace::Tracing> {
    Ok(concord_telemetry::trace::init(cli.command.service_name(), cli.log_json)?)
}
