//! `concord-bench` (`make bench`): Concord measured side by side with raw
//! NATS JetStream and a PostgreSQL events table on this machine, in one run,
//! written to `tests/bench/results.md` and `results.json`.

mod machine;
mod report;
mod scenario;
mod setup;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use concord_log::kv::Engine;

use crate::report::Results;
use crate::scenario::{Ctx, Settings};

/// The scenarios of the benchmark (issue #9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Events/s end to end vs raw JetStream and PostgreSQL INSERTs, both engines.
    Ingest,
    /// GetEvent, SubjectTimeline and Search latency and throughput over the large log.
    Query,
    /// Replaying the large log into the indicators vs a raw scan.
    Replay,
    /// Bytes per event, peak memory, restart-to-ready.
    Footprint,
    /// Ingest with NATS `sync_interval: always` vs the default.
    Durability,
    /// Loading a JSON Lines file with `concord publish` into `concord up`.
    Publish,
    /// Directory name searches (8 clients, audited) and the directory's bytes per subject.
    Directory,
}

/// Concord measured side by side with raw NATS JetStream and a PostgreSQL
/// events table. Starts its own nats-server and PostgreSQL on temp dirs.
#[derive(Debug, Parser)]
#[command(name = "concord-bench")]
struct Args {
    /// Events per ingest run.
    #[arg(long, default_value_t = 50_000)]
    ingest_events: usize,
    /// Events in the large log the query, replay and footprint scenarios use.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Runs of each figure (the median and spread are over these).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Concurrent query clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds per query run.
    #[arg(long, default_value_t = 10.0)]
    query_secs: f64,
    /// Storage engines of the ingest runs (each run also gives the log's bytes per event), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "redb")]
    engines: Vec<Engine>,
    /// Storage engines the large log is built with, for query, replay, footprint (each adds about 20 minutes
    /// at 1M events on 2 cores), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "redb")]
    large_engines: Vec<Engine>,
    /// Scenarios to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "ingest,query,replay,footprint,durability,publish,directory"
    )]
    scenarios: Vec<Scenario>,
    /// Lines of the file `concord publish` loads (scenario publish).
    #[arg(long, default_value_t = 100_000)]
    publish_lines: usize,
    /// People in the directory (scenario directory).
    #[arg(long, default_value_t = 1_000_000)]
    directory_subjects: usize,
    /// Concurrent publishes into Concord's nodes during ingest.
    #[arg(long, default_value_t = 1024)]
    publishers: usize,
    /// PubAcks outstanding at once when publishing raw (Concord's outbox keeps 256).
    #[arg(long, default_value_t = 256)]
    in_flight: usize,
    /// Rows per PostgreSQL INSERT.
    #[arg(long, default_value_t = 500)]
    pg_batch: usize,
    /// PostgreSQL connections inserting at once.
    #[arg(long, default_value_t = 4)]
    pg_connections: usize,
    /// Smoke check: tiny sizes, one run, results under tests/bench/quick/ unless --out.
    #[arg(long)]
    quick: bool,
    /// Where results.md and results.json go (default tests/bench).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Scratch space (default: a temp dir); everything in it is removed at the end.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The concord binary (default: beside this one).
    #[arg(long)]
    concord: Option<PathBuf>,
    /// The nats-server binary (default: CONCORD_NATS_SERVER, PATH, .tools/venv/bin).
    #[arg(long)]
    nats_server: Option<PathBuf>,
    /// Measure nothing: render results.md again from this results.json (beside it).
    #[arg(long, value_name = "RESULTS_JSON")]
    render: Option<PathBuf>,
    /// PostgreSQL's bin directory (default: CONCORD_BENCH_PG_BIN, .tools/postgresql, /usr/lib/postgresql).
    #[arg(long)]
    pg_bin: Option<PathBuf>,
}

impl Args {
    fn settings(&self) -> Settings {
        let mut s = Settings {
            ingest_events: self.ingest_events,
            events: self.events,
            runs: self.runs.max(1),
            clients: self.clients.max(1),
            query_secs: self.query_secs,
            engines: self.engines.clone(),
            large_engines: self.large_engines.clone(),
            publishers: self.publishers.max(1),
            in_flight: self.in_flight.max(1),
            pg_batch: self.pg_batch.max(1),
            pg_connections: self.pg_connections.max(1),
            publish_lines: self.publish_lines.max(1),
        };
        if self.quick {
            s.ingest_events = s.ingest_events.min(3_000);
            s.events = s.events.min(20_000);
            s.runs = 1;
            s.clients = s.clients.min(4);
            s.query_secs = s.query_secs.min(2.0);
            s.publish_lines = s.publish_lines.min(3_000);
        }
        s
    }

    fn has(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("concord-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    if let Some(json) = &args.render {
        let text = std::fs::read_to_string(json).with_context(|| format!("reading {}", json.display()))?;
        let results = Results::from_json(&text).with_context(|| format!("in {}", json.display()))?;
        let dir = json.parent().unwrap_or(std::path::Path::new("."));
        return results.write(dir);
    }
    let started = Instant::now();
    let settings = args.settings();
    let concord = setup::concord::binary(args.concord.as_deref())?;
    let nats = setup::nats::binary(args.nats_server.as_deref())?;
    let pg = setup::postgres::bin_dir(args.pg_bin.as_deref())?;
    let scratch = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            tempfile::tempdir_in(dir)
        }
        None => tempfile::tempdir(),
    }
    .context("creating the scratch directory")?;
    setup::open_dir(scratch.path())?;
    let out = args.out.clone().unwrap_or_else(|| {
        let dir = setup::workspace().join("tests/bench");
        if args.quick { dir.join("quick") } else { dir }
    });

    let mut results = Results {
        started: now_rfc3339(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        environment: machine::environment(&setup::workspace(), &nats, &pg.join("postgres")),
        ..Default::default()
    };
    results.settings = vec![
        ("events per ingest run".into(), settings.ingest_events.to_string()),
        ("events in the large log".into(), settings.events.to_string()),
        ("runs per figure".into(), settings.runs.to_string()),
        ("query clients".into(), settings.clients.to_string()),
        ("seconds per query run".into(), settings.query_secs.to_string()),
        ("engines (ingest)".into(), engines(&settings.engines)),
        ("engines (large log)".into(), engines(&settings.large_engines)),
        ("concurrent publishes (Concord ingest)".into(), settings.publishers.to_string()),
        ("PubAcks in flight (raw JetStream)".into(), settings.in_flight.to_string()),
        (
            "PostgreSQL INSERTs".into(),
            format!("{} rows each, {} connections", settings.pg_batch, settings.pg_connections),
        ),
        ("lines loaded by concord publish".into(), settings.publish_lines.to_string()),
        ("people in the directory".into(), args.directory_subjects.to_string()),
        ("quick".into(), args.quick.to_string()),
    ];
    let ctx = Ctx::new(settings, concord, nats, pg, scratch.path().to_path_buf());
    ctx.say(format!("scratch space {}, results to {}", ctx.work.display(), out.display()));

    let ingest =
        scenario::ingest::Which { ingest: args.has(Scenario::Ingest), durability: args.has(Scenario::Durability) };
    if ingest.ingest || ingest.durability {
        scenario::ingest::run(&ctx, &mut results, ingest)?;
        results.duration_secs = started.elapsed().as_secs_f64();
        results.write(&out)?;
    }
    if args.has(Scenario::Publish) {
        scenario::publish::run(&ctx, &mut results)?;
        results.duration_secs = started.elapsed().as_secs_f64();
        results.write(&out)?;
    }
    if args.has(Scenario::Directory) {
        let subjects = if args.quick { args.directory_subjects.min(3_000) } else { args.directory_subjects };
        scenario::directory::run(&ctx, &mut results, subjects.max(1))?;
        results.duration_secs = started.elapsed().as_secs_f64();
        results.write(&out)?;
    }
    let large = scenario::large::Which {
        query: args.has(Scenario::Query),
        replay: args.has(Scenario::Replay),
        footprint: args.has(Scenario::Footprint),
    };
    if large.query || large.replay || large.footprint {
        scenario::large::run(&ctx, &mut results, large)?;
    }
    results.note(format!(
        "Load average (1, 5, 15 min) at the end: {}; anything else running on the machine shares its cores \
         with the measurements.",
        machine::load_average()
    ));
    results.duration_secs = started.elapsed().as_secs_f64();
    results.write(&out)?;
    ctx.say(format!("wrote {0}/results.md and {0}/results.json", out.display()));
    Ok(())
}

fn engines(engines: &[Engine]) -> String {
    engines.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}
