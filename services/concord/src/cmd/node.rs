//! `concord node`: one agency's node as its own process, publishing over
//! JetStream and taking its agency system's events through `PublishService`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use concord_audit::Recorder;
use concord_bus::{NatsConfig, RemoteSealKeys, audit_node_subject};
use concord_core::AgencyId;
use concord_core::sign::AgencyKey;
use concord_log::kv::Engine;
use concord_node::{Node, Outbox};
use tokio::net::TcpListener;

use crate::cmd::DataArg;
use crate::layout::Layout;
use crate::platform::{connect_nats, load_trust, open_store};
use crate::server::Services;

/// Arguments of `concord node`.
#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// This node's key bundle (its agency's signing key and the JWKS), if not DATA/keys.
    #[arg(long, env = "CONCORD_KEYS")]
    pub keys: Option<PathBuf>,
    /// The agency this node publishes for, e.g. police.met.nw.
    #[arg(long)]
    pub agency: AgencyId,
    /// NATS URL (nats://police.met.nw:PASSWORD@host:4222).
    #[arg(long, env = "CONCORD_NATS")]
    pub nats: String,
    #[command(flatten)]
    pub nats_tls: crate::tls::NatsTlsArgs,
    /// Address for PublishService.
    #[arg(long, default_value = "127.0.0.1:50052")]
    pub grpc: SocketAddr,
    #[command(flatten)]
    pub tls: crate::tls::GrpcTlsArgs,
    /// Storage engine of the outbox: redb or fjall.
    #[arg(long, default_value_t = Engine::DEFAULT)]
    pub engine: Engine,
    /// Who may call PublishService: the local issuer's tokens, or the OpenID Connect provider's.
    #[command(flatten)]
    pub oidc: crate::cmd::OidcArg,
    #[command(flatten)]
    pub metrics: crate::cmd::MetricsArg,
}

/// Runs the node until Ctrl-C or SIGTERM, reporting its outbox.
pub async fn run(args: NodeArgs) -> Result<ExitCode> {
    let tls = args.tls.server_config(args.grpc)?;
    args.nats_tls.apply()?;
    let layout = Layout::with_keys(&args.data.data, args.keys);
    let key_path = layout.agency_key(&args.agency);
    let key = AgencyKey::load(args.agency.clone(), &key_path)
        .with_context(|| format!("run `concord keys --agency {}` to create {}", args.agency, key_path.display()))?;
    let (_, verifier) = load_trust(&layout, args.oidc.config()?.as_ref()).await?;
    let nats = NatsConfig { url: args.nats.clone(), replicas: 1, manage_streams: false };
    let outbox = Outbox::open(open_store(&layout, args.engine, &format!("outbox/{}", args.agency))?)?;
    let bus = connect_nats(&nats).await?;
    // Personal data is sealed to subjects' public keys, which a query replica
    // gives: the node holds no key that opens anything.
    let keys = Arc::new(RemoteSealKeys::new(&bus, &args.agency));
    let ready_bus: Arc<dyn concord_bus::EventBus> = bus.clone();
    args.metrics.start(None, crate::platform::readiness(None, Some(ready_bus.clone()))).await?;
    // The node's access records (one per publish) go to the audit stream,
    // under the one subject its agency's NATS user may publish them on.
    let recorder = Arc::new(Recorder::stream(bus.clone(), audit_node_subject(&args.agency)));
    let node = Node::start(key, keys, bus, outbox).await?;
    let listener = TcpListener::bind(args.grpc).await.with_context(|| format!("cannot listen on {}", args.grpc))?;
    let stats = node.outbox_stats();
    eprintln!("node {}: PublishService on {}, {} events waiting in the outbox", args.agency, args.grpc, stats.depth);
    let reporting = node.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let s = reporting.outbox_stats();
            tracing::info!(
                outbox_depth = s.depth,
                oldest_unreceipted_secs = s.oldest.map(|d| d.as_secs()),
                "node {}",
                reporting.agency()
            );
        }
    });
    let services = Services {
        verifier,
        recorder,
        views: None,
        audit: None,
        replay: None,
        log: None,
        nodes: vec![node],
        admin: None,
        briefing: None,
        directory: None,
        ready: Some(crate::platform::readiness(None, Some(ready_bus))),
    };
    crate::server::serve(services, listener, tls, crate::cmd::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
