//! Scenarios 2-4 over one large log: built once from simulated events
//! signed by real nodes, carried by JetStream, appended by the real ledger
//! process for each engine, then queried, replayed and measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use concord::layout::Layout;
use concord_bus::{NatsBus, NatsConfig};
use concord_core::AgencyId;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;

use super::query::{self, Sample};
use super::{Ctx, baseline, footprint, in_runtime, mib, replay};
use crate::report::{Better, Results};
use crate::setup::nats::NatsServer;
use crate::setup::postgres::Postgres;
use crate::setup::{disk_bytes, workload};

/// Which of the three scenarios to run.
#[derive(Debug, Clone, Copy)]
pub struct Which {
    /// Scenario 2.
    pub query: bool,
    /// Scenario 3.
    pub replay: bool,
    /// Scenario 4.
    pub footprint: bool,
}

/// Builds the large log and runs the scenarios on it.
pub fn run(ctx: &Ctx, results: &mut Results, which: Which) -> Result<()> {
    let s = &ctx.settings;
    let n = s.events;
    let data = ctx.dir("large")?.join("data");
    let layout = Layout::new(&data);
    ctx.say(format!("large log: simulating {n} events"));
    let events = workload::simulate(n);
    ctx.say(format!("large log: validating, sealing and signing {n} events with the agencies' nodes"));
    let started = Instant::now();
    let scratch = ctx.dir("large-scratch")?;
    let prepared = in_runtime(workload::prepare(&layout, &scratch, events))?;
    let signing = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&scratch);
    let payload = workload::mean_payload(&prepared);
    let sample = Arc::new(Sample::of(&prepared));

    ctx.say("large log: publishing the signed events to JetStream");
    let nats = NatsServer::start(&ctx.nats, &ctx.dir("large-nats")?, false)?;
    let config = NatsConfig { url: nats.url(), replicas: 1, manage_streams: true };
    let started = Instant::now();
    in_runtime(async {
        NatsBus::connect(&config).await.map_err(|e| anyhow!("creating Concord's streams: {e}"))?;
        let client = async_nats::connect(&config.url).await.context("connecting to NATS")?;
        workload::publish_raw(&async_nats::jetstream::new(client), &prepared, s.in_flight).await
    })?;
    let publishing = started.elapsed().as_secs_f64();
    let f = "footprint";
    results.add("footprint.payload", f, "encoded payload (signed event)", "B/event", Better::Lower, payload);
    let js_bytes = nats.store_bytes() as f64 / n as f64;
    results.add("footprint.jetstream", f, "JetStream file store", "B/event", Better::Lower, js_bytes);
    results.compare("footprint.jetstream", "footprint.payload");

    if which.query || which.footprint {
        postgres(ctx, results, &prepared, &sample, which.query)?;
    }
    drop(prepared);

    for &engine in &s.large_engines {
        per_engine(ctx, results, which, &data, engine, &nats, &sample)?;
        footprint::reset_stores(&data)?;
    }
    results.note(format!(
        "The large log: {n} events from {} simulated borough(s) (the project's simulator at scale {}, one seed \
         each, days interleaved), validated, sealed and signed by the five agencies' real nodes (`Node::prepare`, \
         {signing:.0} s on all cores), published to Concord's JetStream stream as nodes publish them ({publishing:.0} \
         s), then appended by the real `concord ledger` process, which verifies every signature and the agency of \
         every key, checks consent, indexes, and acks each message after its durable write. The nodes' consent \
         pre-check and outbox are skipped for this build only (the ledger checks consent again; the outbox is \
         measured in the ingest scenario). The same log is built once per engine from the same stream. Queries \
         ask about {} subjects spread over the log and all {} event types, as a children's services practitioner \
         (safeguarding); replays as an analyst. `concord up` serves it with the built-in sharing agreement and a \
         local durable audit log.",
        workload::boroughs(n),
        workload::SCALE,
        sample.subjects.len(),
        sample.types.len(),
    ));
    Ok(())
}

/// Loads the same events into PostgreSQL, measures its size, and runs the
/// query baseline on it.
fn postgres(
    ctx: &Ctx,
    results: &mut Results,
    prepared: &[workload::Prepared],
    sample: &Arc<Sample>,
    query: bool,
) -> Result<()> {
    let s = &ctx.settings;
    let n = prepared.len();
    let dir = ctx.dir("large-postgres")?.join("pg");
    in_runtime(async {
        let pg = Postgres::start(&ctx.pg, &dir).await?;
        ctx.say(format!("large log: loading {n} events into PostgreSQL"));
        let secs = baseline::postgres_ingest(&pg, prepared, s.pg_batch, s.pg_connections).await?;
        let client = pg.connect().await?;
        let size: i64 = client
            .query_one("SELECT pg_total_relation_size('events')", &[])
            .await
            .context("measuring the events table")?
            .get(0);
        results.add(
            "footprint.postgres",
            "footprint",
            "PostgreSQL events table with its indexes",
            "B/event",
            Better::Lower,
            size as f64 / n as f64,
        );
        results.compare("footprint.postgres", "footprint.payload");
        results.note(format!(
            "PostgreSQL loaded the large log's {n} events at {:.0} events/s (one load, same INSERTs as the ingest \
             scenario); for the Search baseline it then got an index on (event_type, seq).",
            n as f64 / secs
        ));
        if query {
            client
                .batch_execute("CREATE INDEX events_by_type ON events (event_type, seq); ANALYZE events;")
                .await
                .context("indexing the events table by type")?;
            let say = |m: String| ctx.say(m);
            let per_call = query::runs(results, &say, s.runs, "postgres", "PostgreSQL", s.query_secs, |op, secs| {
                query::postgres_load(&pg, op, sample, s.clients, secs)
            })
            .await?;
            note_pages(results, "PostgreSQL", &per_call);
        }
        Ok(())
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn note_pages(results: &mut Results, who: &str, per_call: &[(query::Op, f64)]) {
    let pages: Vec<String> = per_call.iter().map(|(op, events)| format!("{op:?} {events:.1}")).collect();
    results.note(format!("Events per answer, {who}: {}.", pages.join(", ")));
}

/// Builds the log with `engine` and measures it.
fn per_engine(
    ctx: &Ctx,
    results: &mut Results,
    which: Which,
    data: &std::path::Path,
    engine: Engine,
    nats: &NatsServer,
    sample: &Arc<Sample>,
) -> Result<()> {
    let s = &ctx.settings;
    let f = "footprint";
    ctx.say(format!("large log ({engine}): concord ledger appending the stream"));
    let built = in_runtime(footprint::build_log(ctx, data, engine, &nats.url()))?;
    let n = built.appended.max(1) as f64;
    results.add(
        &format!("ingest.catchup.{engine}"),
        "ingest",
        &format!("Concord ledger process catching up {} events from JetStream ({engine}; one build)", built.appended),
        "events/s",
        Better::Higher,
        built.appended as f64 / built.secs,
    );
    let log_bytes = disk_bytes(&data.join("log"));
    results.add(
        &format!("footprint.log.{engine}"),
        f,
        &format!("event log ({engine})"),
        "B/event",
        Better::Lower,
        log_bytes as f64 / n,
    );
    results.compare(&format!("footprint.log.{engine}"), "footprint.payload");
    results.add(
        &format!("footprint.ledger_memory.{engine}"),
        f,
        &format!("`concord ledger` peak memory, appending {} events ({engine})", built.appended),
        "MiB",
        Better::Lower,
        mib(built.ledger_peak),
    );
    results.add(
        "footprint.nats_memory",
        f,
        "nats-server peak memory (same stream)",
        "MiB",
        Better::Lower,
        mib(nats.peak_memory()?),
    );
    results.compare(&format!("footprint.ledger_memory.{engine}"), "footprint.nats_memory");

    if which.footprint {
        let empty = ctx.dir(&format!("empty-{engine}"))?.join("data");
        footprint::empty_copy(data, &empty)?;
        for run in 1..=s.runs {
            ctx.say(format!("large log ({engine}): restart-to-ready run {run}/{}", s.runs));
            let full = in_runtime(footprint::restart(ctx, data, engine))?;
            let none = in_runtime(footprint::restart(ctx, &empty, engine))?;
            let id = format!("footprint.restart.{engine}");
            let label = format!("`concord up` restart to SERVING, {} events ({engine})", built.appended);
            results.add(&id, f, &label, "s", Better::Lower, full);
            let base = format!("footprint.restart_empty.{engine}");
            results.add(
                &base,
                f,
                &format!("`concord up` start to SERVING, empty log ({engine})"),
                "s",
                Better::Lower,
                none,
            );
            results.compare(&id, &base);
        }
    }

    if which.query || which.replay {
        in_runtime(async {
            let (mut up, addr, _) = footprint::start_up(ctx, data, engine).await?;
            ctx.say(format!("large log ({engine}): waiting for `concord up` to finish its start-up work"));
            up.settle(Duration::from_secs(600)).await?;
            let addr = format!("http://{addr}");
            let issuer = Layout::new(data).issuer()?;
            let hour = Duration::from_secs(3600);
            let cs = AgencyId::parse("childrens_services.harrow").map_err(|e| anyhow!("{e}"))?;
            if which.query {
                let token = issuer.mint("bench-practitioner", &cs, Role::Practitioner, Purpose::Safeguarding, hour)?;
                let system = format!("concord.{engine}");
                let label = format!("Concord ({engine})");
                let say = |m: String| ctx.say(m);
                let per_call = query::runs(results, &say, s.runs, &system, &label, s.query_secs, |op, secs| {
                    query::concord_load(&addr, &token, op, sample, s.clients, secs)
                })
                .await?;
                note_pages(results, &label, &per_call);
                query::compare(results, &system);
                results.add(
                    &format!("footprint.query_memory.{engine}"),
                    f,
                    &format!("`concord up` peak memory after the query runs ({engine})"),
                    "MiB",
                    Better::Lower,
                    mib(up.peak_memory()?),
                );
            }
            if which.replay {
                let token = issuer.mint("bench-analyst", &cs, Role::Analyst, Purpose::Analysis, hour)?;
                for run in 1..=s.runs {
                    ctx.say(format!("replay ({engine}): ReplayService run {run}/{}", s.runs));
                    let r = replay::grpc(&addr, &token, &format!("bench-{engine}-{run}")).await?;
                    results.add(
                        &format!("replay.concord.{engine}"),
                        "replay",
                        &format!("ReplayService → indicators, gRPC ({engine})"),
                        "events/s",
                        Better::Higher,
                        r.entries as f64 / r.secs,
                    );
                    if run == 1 {
                        results.note(format!(
                            "Replay ({engine}): {} log entries replayed, {} of them shown to the analyst and applied \
                             to the indicators (the rest withheld by the agreement, e.g. health data).",
                            r.entries, r.applied
                        ));
                    }
                }
                results.add(
                    &format!("footprint.replay_memory.{engine}"),
                    f,
                    &format!("`concord up` peak memory after the replays ({engine})"),
                    "MiB",
                    Better::Lower,
                    mib(up.peak_memory()?),
                );
            }
            up.stop();
            Ok(())
        })?;
    }

    if which.replay {
        let layout = Layout::new(data);
        for run in 1..=s.runs {
            ctx.say(format!("replay ({engine}): raw scan and in-process decode run {run}/{}", s.runs));
            let scan = replay::raw_scan(&layout, engine)?;
            let id = format!("replay.scan.{engine}");
            results.add(
                &id,
                "replay",
                &format!("raw scan of the same store ({engine})"),
                "events/s",
                Better::Higher,
                scan.entries as f64 / scan.secs,
            );
            let decoded = replay::decode_and_apply(&layout, engine)?;
            let dec = format!("replay.decode.{engine}");
            let label = format!("in-process scan + decode + indicators, no policy or audit ({engine})");
            results.add(&dec, "replay", &label, "events/s", Better::Higher, decoded.entries as f64 / decoded.secs);
        }
        results.compare(&format!("replay.concord.{engine}"), &format!("replay.scan.{engine}"));
        results.compare(&format!("replay.decode.{engine}"), &format!("replay.scan.{engine}"));
    }
    Ok(())
}
