//! `concord serve`: a query replica as its own process. It builds its own
//! local log from the JetStream stream (the same checks and order as the
//! ledger, so replicas at the same position have the same Merkle root) and
//! answers QueryService, LogService, PolicyService and AuditService. Its
//! access records go to the `CONCORD_AUDIT` stream, and it builds its audit
//! log from that stream: every replica's reads, so none is lost with one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use concord_bus::NatsConfig;
use concord_ledger::{Ledger, Quarantine, Role};
use concord_lifecycle::AdminApi;
use concord_log::kv::Engine;
use concord_read::Views;
use tokio::net::TcpListener;

use crate::cmd::{DataArg, PolicyArg};
use crate::layout::Layout;
use crate::platform::{
    checkpoint_periodically, connect_bus, connect_nats, load_policy, load_retention, load_trust, open_audit, open_log,
    open_store, open_vault, reload_policy_on_hangup, store_checkpoint,
};
use crate::server::Services;
use concord_query::replay::Pseudonyms;

/// Arguments of `concord serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// The partnership's keys (registry, JWKS, master key), if not DATA/keys.
    #[arg(long, env = "CONCORD_KEYS")]
    pub keys: Option<PathBuf>,
    /// NATS URL, as this replica's own user (nats://serve-1:PASSWORD@host:4222).
    #[arg(long, env = "CONCORD_NATS")]
    pub nats: String,
    #[command(flatten)]
    pub nats_tls: crate::tls::NatsTlsArgs,
    /// Address for the query services.
    #[arg(long, default_value = "127.0.0.1:50051", env = "CONCORD_GRPC")]
    pub grpc: SocketAddr,
    #[command(flatten)]
    pub tls: crate::tls::GrpcTlsArgs,
    /// This replica's name (its durable consumers, and the subject of its
    /// access records): letters, digits, `-` and `_`.
    #[arg(long, default_value = "serve-1")]
    pub replica: String,
    /// Storage engine: redb (B-tree; the default) or fjall (LSM-tree: a smaller log on disk, a slower start).
    #[arg(long, default_value_t = Engine::DEFAULT)]
    pub engine: Engine,
    #[command(flatten)]
    pub policy: PolicyArg,
    #[command(flatten)]
    pub oidc: crate::cmd::OidcArg,
    #[command(flatten)]
    pub retention: crate::cmd::RetentionArg,
    #[command(flatten)]
    pub briefing: crate::cmd::BriefingArg,
    /// Agencies whose daily briefing this replica publishes (repeatable; run
    /// the schedule on one replica: published briefings are kept by the
    /// replica that made them).
    #[arg(long = "briefing-for")]
    pub briefing_for: Vec<concord_core::AgencyId>,
    #[command(flatten)]
    pub metrics: crate::cmd::MetricsArg,
    #[command(flatten)]
    pub web: crate::web::WebArg,
}

/// Follows the stream and serves reads until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<ExitCode> {
    let tls = args.tls.server_config(args.grpc)?;
    args.nats_tls.apply()?;
    let policy = load_policy(args.policy.policy.as_deref())?;
    let retention = load_retention(args.policy.policy.as_deref())?;
    let layout = Layout::with_keys(&args.data.data, args.keys);
    let log = open_log(&layout, args.engine)?;
    let quarantine = Arc::new(Quarantine::open(open_store(&layout, args.engine, "quarantine")?)?);
    let oidc = args.oidc.config()?;
    let (registry, verifier) = load_trust(&layout, oidc.as_ref()).await?;
    let nats = NatsConfig { url: args.nats.clone(), replicas: 1, manage_streams: false };
    let bus = connect_bus(Some(&nats)).await?;
    let ready = crate::platform::readiness(Some(log.clone()), Some(bus.clone()));
    args.metrics.start(None, ready.clone()).await?;
    let vault = Arc::new(open_vault(&layout, Some(&nats)).await?);
    // Nodes seal to subjects' public keys, which replicas (holding the vault) give.
    concord_bus::answer_seal_keys(&*connect_nats(&nats).await?, vault.clone())
        .await
        .context("answering nodes' requests for sealing keys")?;
    let follower = Arc::new(Ledger::new(log.clone(), registry, bus, quarantine, Role::Follower));
    let durable = args.replica.clone();
    tokio::spawn(async move {
        if let Err(e) = follower.run(&durable).await {
            tracing::error!(error = %e, "the replica stopped following the stream");
        }
    });
    let (audit, recorder) = open_audit(&layout, args.engine, Some((&nats, &args.replica))).await?;
    checkpoint_periodically(log.clone());
    checkpoint_periodically(audit.log().clone());
    let (log_for_checkpoint, audit_for_checkpoint) = (log.clone(), audit.log().clone());
    let views = Arc::new(
        Views::new(log.clone(), policy, vault.clone(), recorder.clone())
            .remembering(crate::platform::open_opened_keys(&layout, args.engine)?),
    );
    crate::platform::open_ahead(&views);
    let directory = crate::platform::open_directory(&layout, args.engine, &views, &vault).await?;
    let admin = Arc::new(
        AdminApi::new(views.clone(), vault, audit.clone(), retention, verifier.clone())
            .forgetting_in(directory.clone()),
    );
    args.retention.start(&admin);
    let briefings = Arc::new(concord_briefing::BriefingStore::new(open_store(&layout, args.engine, "briefings")?));
    let briefing_time = args.briefing.time()?;
    let zone = briefing_time.zone().clone();
    let replay = Pseudonyms::new(layout.replay_key()?, zone.clone());
    let briefing =
        Arc::new(concord_briefing::BriefingApi::new(views.clone(), verifier.clone(), briefings, briefing_time.clone()));
    if !args.briefing_for.is_empty() {
        tokio::spawn(concord_briefing::generate_every_day(briefing.clone(), args.briefing_for.clone(), briefing_time));
    }
    reload_policy_on_hangup(views.clone(), args.policy.policy.clone());
    let listener = TcpListener::bind(args.grpc).await.with_context(|| format!("cannot listen on {}", args.grpc))?;
    eprintln!("serve {}: QueryService and LogService on {}, {} events in its log", args.replica, args.grpc, log.size());
    let services = Services {
        verifier,
        recorder,
        views: Some(views),
        audit: Some(audit),
        replay: Some(replay),
        log: Some(log),
        nodes: vec![],
        admin: Some(admin),
        briefing: Some(briefing),
        directory: Some(directory),
        ready: Some(ready),
    };
    // Readers of a replica's console sign in with the partnership's OpenID
    // Connect provider (the development sign-in is `concord up`'s alone).
    if let Some(addr) = args.web.web {
        let sign_in = match &oidc {
            Some(oidc) => args.web.provider_sign_in(oidc, services.verifier.clone()).await?,
            None => concord_web::SignIn::None,
        };
        if let Some(console) = crate::web::console(&services, sign_in, zone.clone()) {
            let console = args.web.with_tls(args.web.with_wards(console)?)?;
            let scheme = if console.over_tls() { "https" } else { "http" };
            let bound = crate::web::start(console, addr).await?;
            eprintln!("serve {}: web console on {scheme}://{bound}/", args.replica);
        }
    }
    crate::server::serve(services, listener, tls, crate::cmd::shutdown_signal()).await?;
    store_checkpoint(&log_for_checkpoint).await;
    store_checkpoint(&audit_for_checkpoint).await;
    Ok(ExitCode::SUCCESS)
}
