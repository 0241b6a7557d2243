//! `concord up`: the whole platform in one process, with simulated agencies.
//!
//! Ledger, nodes and the read side share an embedded bus; the simulated
//! borough back-fills recent days at once, then publishes one simulated day
//! at a time at a watchable pace. The simulation's seed and start are kept in
//! the data directory, so a restart replays the same events and the ledger's
//! deduplication absorbs them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use concord_bus::NatsConfig;
use concord_core::pb;
use concord_core::{AgencyId, SubjectId};
use concord_log::kv::Engine;
use concord_simulator::{BoroughConfig, Simulator};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde_json::json;
use tokio::net::TcpListener;

use crate::cmd::DataArg;
use crate::platform::{Platform, PlatformConfig};

/// Arguments of `concord up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Address for the gRPC services.
    #[arg(long, default_value = "127.0.0.1:50051", env = "CONCORD_GRPC")]
    pub grpc: SocketAddr,
    #[command(flatten)]
    pub tls: crate::tls::GrpcTlsArgs,
    /// Storage engine: redb (B-tree; the default) or fjall (LSM-tree: a smaller log on disk, a slower start).
    #[arg(long, default_value_t = Engine::DEFAULT)]
    pub engine: Engine,
    /// Do not start the simulated agencies.
    #[arg(long)]
    pub no_simulate: bool,
    /// Simulated days published at once on start.
    #[arg(long, default_value_t = 30)]
    pub backfill_days: u32,
    /// Real seconds per simulated day once back-filled.
    #[arg(long, default_value_t = 20)]
    pub seconds_per_day: u64,
    /// Seed of the simulation (used on first start; kept in the data directory).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run every part over NATS JetStream at this URL instead of the embedded bus.
    #[arg(long, env = "CONCORD_NATS")]
    pub nats: Option<String>,
    /// Stream replicas when using NATS (3 on a cluster).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    #[command(flatten)]
    pub nats_tls: crate::tls::NatsTlsArgs,
    #[command(flatten)]
    pub policy: crate::cmd::PolicyArg,
    #[command(flatten)]
    pub oidc: crate::cmd::OidcArg,
    #[command(flatten)]
    pub retention: crate::cmd::RetentionArg,
    #[command(flatten)]
    pub briefing: crate::cmd::BriefingArg,
    #[command(flatten)]
    pub metrics: crate::cmd::MetricsArg,
    #[command(flatten)]
    pub web: crate::web::WebArg,
}

/// Where `up` serves metrics unless told otherwise (if that port is free).
const DEFAULT_METRICS: &str = "127.0.0.1:9464";

/// Where `up` serves the web console unless told otherwise (if that port is free).
const DEFAULT_WEB: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// The simulated borough's agencies.
pub fn default_agencies() -> Vec<AgencyId> {
    BoroughConfig::harrow().agencies
}

/// Starts everything and runs until Ctrl-C.
pub async fn run(args: UpArgs) -> Result<ExitCode> {
    let tls = args.tls.server_config(args.grpc)?;
    args.nats_tls.apply()?;
    let nats = args.nats.clone().map(|url| NatsConfig { url, replicas: args.replicas, manage_streams: true });
    let config = PlatformConfig {
        data: args.data.data.clone(),
        engine: args.engine,
        agencies: default_agencies(),
        nats,
        policy: args.policy.policy.clone(),
        briefing_time: args.briefing.time()?,
        oidc: args.oidc.config()?,
    };
    let platform = Arc::new(Platform::start(&config).await?);
    args.retention.start(&platform.admin);
    let metrics = match args.metrics.metrics {
        Some(_) => args.metrics.start(None, platform.readiness()).await?,
        // The default port is a convenience: if it is taken, say so and go on.
        None => {
            let default = DEFAULT_METRICS.parse().ok();
            args.metrics.start(default, platform.readiness()).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "no metrics port (pass --metrics ADDR)");
                None
            })
        }
    };
    let web = start_web(&args, &platform).await?;
    let listener = TcpListener::bind(args.grpc)
        .await
        .with_context(|| format!("cannot listen on {}: is another `concord up` running? (use --grpc)", args.grpc))?;
    let addr = listener.local_addr()?;

    let (featured, simulated_from) = if args.no_simulate {
        (None, None)
    } else {
        let (mut sim, start) = load_simulation(&args.data.data, args.seed)?;
        // The population the simulated borough assumes, for analysts' profiles.
        let borough = BoroughConfig::harrow();
        let population = crate::cmd::simulate::population_csv(&borough.borough, borough.children);
        std::fs::write(args.data.data.join("population.csv"), population)?;
        let featured = backfill(&platform, &mut sim, args.backfill_days).await;
        let live = platform.clone();
        let pace = Duration::from_secs(args.seconds_per_day.max(1));
        tokio::spawn(async move { run_live(&live, &mut sim, pace).await });
        (featured, Some(start))
    };
    // Each local agency's briefing is published daily (and now, if one is
    // due), once the back-fill is in the log.
    let schedule = concord_briefing::generate_every_day(
        platform.briefing.clone(),
        default_agencies(),
        platform.briefing.time().clone(),
    );
    tokio::spawn(schedule);
    print_next_steps(&args, addr, metrics, web, featured.as_ref(), simulated_from, platform.log.size());

    let shutdown = async {
        crate::cmd::shutdown_signal().await;
        eprintln!("shutting down");
    };
    crate::server::serve(platform.services(), listener, tls, shutdown).await?;
    // Leave signed checkpoints of both logs behind, for `concord audit verify`.
    crate::platform::store_checkpoint(&platform.log).await;
    crate::platform::store_checkpoint(platform.audit.log()).await;
    Ok(ExitCode::SUCCESS)
}

/// Serves the web console, on `--web` or else on [`DEFAULT_WEB`] if that
/// port is free, with the development sign-in (the local issuer's tokens)
/// unless the partnership's OpenID Connect provider issues them.
async fn start_web(args: &UpArgs, platform: &Platform) -> Result<Option<SocketAddr>> {
    let sign_in = match args.oidc.config()? {
        Some(oidc) => args.web.provider_sign_in(&oidc, platform.services().verifier.clone()).await?,
        None => concord_web::SignIn::Development(Arc::new(concord_web::signin::Development::new(
            platform.layout.issuer()?,
            default_agencies(),
        ))),
    };
    let zone = platform.briefing.time().zone().clone();
    let Some(console) = crate::web::console(&platform.services(), sign_in, zone) else {
        return Ok(None);
    };
    let console = args.web.with_wards(console)?;
    let console = args.web.with_tls(console)?;
    match args.web.web {
        Some(addr) => crate::web::start(console, addr).await.map(Some),
        // The default port is a convenience: if it is taken, say so and go on.
        None => Ok(crate::web::start(console, DEFAULT_WEB)
            .await
            .inspect_err(|e| tracing::warn!(error = format!("{e:#}"), "no web console (pass --web ADDR)"))
            .ok()),
    }
}

/// Loads the simulation's seed and start from the data directory, or records
/// them on first start (start: `backfill` days before today); gives the
/// simulation and its first day. The first day is kept as its UTC midnight
/// (`start_unix`), as it always was.
fn load_simulation(data: &Path, seed: u64) -> Result<(Simulator, Date)> {
    let path = data.join("simulation.json");
    let config = BoroughConfig::harrow();
    let (seed, start) = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
            let seed = v["seed"].as_u64().context("simulation.json: seed")?;
            let start = v["start_unix"].as_i64().context("simulation.json: start_unix")?;
            (seed, TimeZone::UTC.to_datetime(Timestamp::from_second(start)?).date())
        }
        Err(_) => {
            let today = config.zone.to_datetime(Timestamp::now()).date();
            let start = today.checked_sub(30.days())?;
            let start_unix = start.to_zoned_datetime(TimeZone::UTC)?.timestamp().as_second();
            std::fs::write(&path, json!({ "seed": seed, "start_unix": start_unix }).to_string())?;
            (seed, start)
        }
    };
    Ok((Simulator::new(config, seed, start), start))
}

/// Publishes one simulated event through its agency's node. The simulation publishes
/// days in seconds, and each node's outbox sends on its own: an event recording,
/// withdrawing or relying on a consent waits for the ledger's receipt, so that another
/// agency's event published just after cannot overtake it (the ledger would refuse an
/// event relying on a consent whose withdrawal reached the log first).
async fn publish(platform: &Platform, event: pb::Event) {
    let Ok(agency) = AgencyId::parse(&event.agency_id) else {
        return;
    };
    let Some(node) = platform.node(&agency) else {
        return;
    };
    let receipt = concord_core::consent::touches_consent(&event).then_some(Duration::from_secs(30));
    if let Err(e) = node.publish(event, receipt).await {
        tracing::warn!(error = %e, %agency, "a simulated event was not published");
    }
}

/// Publishes the first `days` simulated days at once; returns the person seen
/// in most events, to suggest a timeline to query.
async fn backfill(platform: &Platform, sim: &mut Simulator, days: u32) -> Option<SubjectId> {
    let mut seen: HashMap<SubjectId, usize> = HashMap::new();
    for _ in 0..days {
        for event in sim.next_day() {
            for s in &event.subjects {
                if let Ok(s) = SubjectId::from_ref(s)
                    && s.kind() == pb::SubjectKind::Person
                {
                    *seen.entry(s).or_default() += 1;
                }
            }
            publish(platform, event).await;
        }
    }
    // Let the ledger catch up (its log stops growing) so the suggested queries find something.
    let mut last = platform.log.size();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let size = platform.log.size();
        if size == last {
            break;
        }
        last = size;
    }
    seen.into_iter().max_by_key(|(s, n)| (*n, std::cmp::Reverse(s.clone()))).map(|(s, _)| s)
}

async fn run_live(platform: &Platform, sim: &mut Simulator, pace: Duration) {
    loop {
        let events = sim.next_day();
        if events.is_empty() {
            tokio::time::sleep(pace).await;
            continue;
        }
        let gap = pace / events.len() as u32;
        for event in events {
            publish(platform, event).await;
            tokio::time::sleep(gap).await;
        }
    }
}

fn print_next_steps(
    args: &UpArgs,
    addr: SocketAddr,
    metrics: Option<SocketAddr>,
    web: Option<SocketAddr>,
    featured: Option<&SubjectId>,
    simulated_from: Option<Date>,
    size: u64,
) {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.strip_prefix(std::env::current_dir().ok()?).ok().map(|p| format!("./{}", p.display())))
        .unwrap_or_else(|| "concord".to_string());
    let data = args.data.data.display();
    let addr_flag = match &args.tls.tls_cert {
        Some(_) => format!(" --addr https://{addr} --ca CA.pem"),
        None if addr.to_string() == "127.0.0.1:50051" => String::new(),
        None => format!(" --addr http://{addr}"),
    };
    let subject = featured.map(|s| s.to_string()).unwrap_or_else(|| "person/P-00000000".into());
    tracing::info!(grpc = %addr, "concord up is ready");
    println!();
    println!(
        "Concord is up: gRPC on {addr} (QueryService, LogService, PolicyService, AuditService, ReplayService, BriefingService, AlertService, AdminService, PublishService, health, reflection)"
    );
    println!("  data: {data} ({}), {size} events in the log", args.engine);
    if let Some(metrics) = metrics {
        println!("  metrics: http://{metrics}/metrics (Prometheus), health: /healthz, /readyz");
    }
    if let Some(web) = web {
        let scheme = if args.web.web_tls_cert.is_some() { "https" } else { "http" };
        let url = args.web.web_url.clone().unwrap_or_else(|| format!("{scheme}://{web}/"));
        if args.oidc.oidc_issuer.is_some() {
            println!("  web console: {url} (sign in with the partnership's identity provider)");
        } else {
            println!(
                "  web console: {url} (development sign-in: pick an agency, role and purpose; try police.met.nw, practitioner, safeguarding, then find {})",
                featured.map(|s| s.to_string()).unwrap_or_else(|| "a subject by its key".into())
            );
        }
        println!(
            "    practitioners: find, timelines, publish, cohorts; briefing leads: the VVE briefing and its actions; \
             auditors: who saw what, checkpoints; data protection: requests, retention; analysts: problem profile, hotspots{}",
            if args.web.wards.is_some() { " (with the ward map)" } else { "" }
        );
    }
    if args.no_simulate {
        println!("  no simulated agencies (--no-simulate)");
    } else {
        println!(
            "  simulated Harrow agencies: {} days back-filled, then one simulated day every {} s",
            args.backfill_days, args.seconds_per_day
        );
    }
    println!();
    println!("Try, in another terminal:");
    println!(
        "  export CONCORD_TOKEN=$({exe} token --data {data} --agency childrens_services.harrow --role practitioner --purpose safeguarding)"
    );
    println!("  {exe} query{addr_flag} timeline {subject}");
    println!("  {exe} query{addr_flag} search --type missing_episode --page-size 5");
    println!("  {exe} query{addr_flag} subscribe --limit 5");
    println!("  {exe} publish{addr_flag} --data {data} schemas/examples/arrest.json");
    if let Some(from) = simulated_from {
        let today = BoroughConfig::harrow().zone.to_datetime(Timestamp::now()).date();
        println!("Analysts replay it pseudonymised into the youth justice indicators and a problem profile:");
        println!(
            "  CONCORD_TOKEN=$({exe} token --data {data} --agency childrens_services.harrow --role analyst --purpose analysis) \\"
        );
        println!(
            "    {exe} profile{addr_flag} --population {data}/population.csv --from {from} --to {today} --out ./profile"
        );
    }
    println!("The daily VVE briefing, as the children's services briefing lead sees it:");
    println!(
        "  CONCORD_TOKEN=$({exe} token --data {data} --agency childrens_services.harrow --role briefing_lead --purpose briefing) \\"
    );
    println!("    {exe} briefing{addr_flag} --out ./briefing      # also: --list, --get ID; alerts: {exe} alerts");
    println!("A data protection officer answers a subject access request (what is held, who saw it):");
    println!(
        "  CONCORD_TOKEN=$({exe} token --data {data} --agency childrens_services.harrow --role data_protection --purpose administration) \\"
    );
    println!("    {exe} sar{addr_flag} --subject {subject} --out ./sar");
    println!("Who sees what is the sharing agreement in deploy/policy/: `{exe} policy explain --help` says why.");
    println!("Stop with Ctrl-C; `concord up` again resumes where it stopped.");
}
