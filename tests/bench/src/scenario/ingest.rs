//! Scenarios 1 and 5: ingest end to end through Concord over JetStream (both
//! engines), against raw JetStream and PostgreSQL INSERTs of the same
//! payloads; and the same with NATS `sync_interval: always`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use concord::layout::Layout;
use concord::platform::{Platform, PlatformConfig};
use concord_bus::NatsConfig;
use concord_core::pb;
use concord_log::kv::Engine;
use concord_node::{Node, NodeError};
use futures::{StreamExt, TryStreamExt};

use super::{Ctx, baseline, in_runtime};
use crate::report::{Better, Results};
use crate::setup::nats::NatsServer;
use crate::setup::postgres::Postgres;
use crate::setup::workload::{self, Prepared};

/// Per Concord variant, each run's (events appended, events refused at the node).
type Taken = std::collections::BTreeMap<String, Vec<(u64, usize)>>;

/// How long one ingest run may take before it counts as stuck.
const STUCK: Duration = Duration::from_secs(1800);

/// Which of the two scenarios to run.
#[derive(Debug, Clone, Copy)]
pub struct Which {
    /// Scenario 1.
    pub ingest: bool,
    /// Scenario 5.
    pub durability: bool,
}

/// Runs the ingest scenarios, adding their figures to `results`.
pub fn run(ctx: &Ctx, results: &mut Results, which: Which) -> Result<()> {
    let s = &ctx.settings;
    let n = s.ingest_events;
    ctx.say(format!("ingest: simulating and signing {n} events"));
    let events = workload::simulate(n);
    let keys = ctx.dir("ingest-keys")?;
    let prepared =
        in_runtime(workload::prepare(&Layout::new(keys.join("data")), &keys.join("scratch"), events.clone()))?;
    let payload = workload::mean_payload(&prepared);
    let pg = if which.ingest {
        let dir = ctx.dir("ingest-postgres")?.join("pg");
        Some(in_runtime(Postgres::start(&ctx.pg, &dir))?)
    } else {
        None
    };
    let mut taken = Taken::new();
    for run in 1..=s.runs {
        let say = |what: &str| ctx.say(format!("ingest run {run}/{}: {what}", s.runs));
        let mut concord_default = None;
        if which.ingest {
            for &engine in &s.engines {
                say(&format!("Concord ({engine})"));
                let rate = concord_once(ctx, engine, false, &events, results, &mut taken)?;
                results.add(
                    &format!("ingest.concord.{engine}"),
                    "ingest",
                    &format!("Concord ({engine}): node → JetStream → ledger"),
                    "events/s",
                    Better::Higher,
                    rate,
                );
                if engine == Engine::DEFAULT {
                    concord_default = Some(rate);
                }
            }
        }
        say("raw JetStream");
        let jetstream = n as f64 / jetstream_once(ctx, false, &prepared)?;
        if which.ingest {
            results.add("ingest.jetstream", "ingest", "raw JetStream", "events/s", Better::Higher, jetstream);
        }
        if let Some(pg) = &pg {
            say("PostgreSQL");
            let secs = in_runtime(baseline::postgres_ingest(pg, &prepared, s.pg_batch, s.pg_connections))?;
            results.add("ingest.postgres", "ingest", "PostgreSQL INSERTs", "events/s", Better::Higher, n as f64 / secs);
        }
        if which.durability {
            let engine = Engine::DEFAULT;
            let default = match concord_default {
                Some(rate) => rate,
                None => {
                    say(&format!("Concord ({engine}), NATS default sync"));
                    concord_once(ctx, engine, false, &events, results, &mut taken)?
                }
            };
            say(&format!("Concord ({engine}), NATS sync_interval: always"));
            let always = concord_once(ctx, engine, true, &events, results, &mut taken)?;
            say("raw JetStream, sync_interval: always");
            let js_always = n as f64 / jetstream_once(ctx, true, &prepared)?;
            let d = "durability";
            let label = |what: &str| format!("Concord ({engine}), NATS {what}");
            results.add("durability.concord.default", d, &label("default sync"), "events/s", Better::Higher, default);
            results.add(
                "durability.concord.always",
                d,
                &label("sync_interval: always"),
                "events/s",
                Better::Higher,
                always,
            );
            let js = "raw JetStream, NATS";
            results.add(
                "durability.jetstream.default",
                d,
                &format!("{js} default sync"),
                "events/s",
                Better::Higher,
                jetstream,
            );
            results.add(
                "durability.jetstream.always",
                d,
                &format!("{js} sync_interval: always"),
                "events/s",
                Better::Higher,
                js_always,
            );
        }
    }
    for &engine in &s.engines {
        results.compare(&format!("ingest.concord.{engine}"), "ingest.jetstream");
        results.compare(&format!("ingest.concord.{engine}"), "ingest.postgres");
    }
    results.compare("ingest.postgres", "ingest.jetstream");
    for (variant, runs) in &taken {
        let range = |values: Vec<u64>| {
            let (lo, hi) = (values.iter().min().copied().unwrap_or(0), values.iter().max().copied().unwrap_or(0));
            if lo == hi { lo.to_string() } else { format!("{lo}–{hi}") }
        };
        let appended = range(runs.iter().map(|r| r.0).collect());
        let refused = range(runs.iter().map(|r| r.1 as u64).collect());
        results.note(format!(
            "Ingest (Concord, {variant}): the log took {appended} of the {n} events in each run; {refused} were \
             refused at the node for their consent (withdrawn while they were in flight), the rest by the ledger \
             (their consent not yet or no longer given when they arrived); rates count appended events."
        ));
    }
    results.compare("durability.concord.always", "durability.concord.default");
    results.compare("durability.jetstream.always", "durability.jetstream.default");
    results.compare("durability.concord.always", "durability.jetstream.always");
    results.note(format!(
        "Ingest: {n} simulated events per run ({} simulated borough(s) at scale {}; mean signed payload {payload:.0} \
         bytes); each run on a fresh nats-server and fresh stores. Concord's {} concurrent publishes go through \
         `concord up --nats`'s own assembly (`Platform::start`: five agency nodes, the ledger, the audit replica) \
         in the benchmark's process; the run ends when every node's outbox is empty (each event receipted by the \
         ledger). PostgreSQL: {} rows per INSERT over {} connections, default settings (fsync on, synchronous \
         commit).",
        workload::boroughs(n),
        workload::SCALE,
        ctx.settings.publishers,
        ctx.settings.pg_batch,
        ctx.settings.pg_connections,
    ));
    Ok(())
}

/// One Concord ingest run on a fresh nats-server and data directory:
/// events per second from the first publish until every event is receipted.
fn concord_once(
    ctx: &Ctx,
    engine: Engine,
    sync_always: bool,
    events: &[pb::Event],
    results: &mut Results,
    taken: &mut Taken,
) -> Result<f64> {
    let dir = ctx.dir("ingest-run")?;
    let nats = NatsServer::start(&ctx.nats, &dir.join("nats"), sync_always)?;
    let config = PlatformConfig {
        data: dir.join("data"),
        engine,
        agencies: concord_simulator::BoroughConfig::harrow().agencies,
        nats: Some(NatsConfig { url: nats.url(), replicas: 1, manage_streams: true }),
        policy: None,
        briefing_time: Default::default(),
        oidc: None,
    };
    let publishers = ctx.settings.publishers;
    let order = ConsentOrder::of(events);
    let (secs, appended, refused) = in_runtime(async {
        let platform = Platform::start(&config).await.context("starting Concord over NATS")?;
        let nodes: HashMap<String, Arc<Node>> =
            platform.nodes.iter().map(|n| (n.agency().to_string(), n.clone())).collect();
        let started = Instant::now();
        let watched = (platform.log.clone(), platform.nodes.clone());
        let reporter = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let depth: usize = watched.1.iter().map(|n| n.outbox_stats().depth).sum();
                eprintln!("        … {} appended, {depth} not yet receipted", watched.0.size());
            }
        });
        let refused: usize = futures::stream::iter(events.iter().cloned().enumerate())
            .map(|(i, event)| {
                let node = nodes.get(&event.agency_id).cloned();
                let (records, relies_on) = (order.records.get(&i).cloned(), order.relies_on(i, &event));
                async move {
                    let node = node.with_context(|| format!("no node for {}", event.agency_id))?;
                    if let Some(mut recorded) = relies_on {
                        let _ = recorded.wait_for(|done| *done).await;
                    }
                    let wait = records.as_ref().map(|_| STUCK);
                    let refused = match node.publish(event, wait).await {
                        Ok(_) => 0,
                        Err(NodeError::Invalid(e)) if e.field == "consent_ref" => 1,
                        Err(NodeError::Rejected { .. }) => 1,
                        Err(e) => return Err(anyhow::Error::new(e).context("a node refused a simulated event")),
                    };
                    if let Some(done) = records {
                        done.send_replace(true);
                    }
                    Ok::<_, anyhow::Error>(refused)
                }
            })
            .buffer_unordered(publishers)
            .try_fold(0, |sum, refused| async move { Ok(sum + refused) })
            .await?;
        while platform.nodes.iter().map(|n| n.outbox_stats().depth).sum::<usize>() > 0 {
            if started.elapsed() > STUCK {
                bail!("events were still unreceipted after {STUCK:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        reporter.abort();
        Ok((started.elapsed().as_secs_f64(), platform.log.size(), refused))
    })?;
    drop(nats);
    let log_bytes = crate::setup::disk_bytes(&dir.join("data/log"));
    let _ = std::fs::remove_dir_all(&dir);
    if !sync_always {
        results.add(
            &format!("footprint.ingest_log.{engine}"),
            "footprint",
            &format!("event log after an ingest run ({engine}, {} events)", events.len()),
            "B/event",
            Better::Lower,
            log_bytes as f64 / appended.max(1) as f64,
        );
        results.compare(&format!("footprint.ingest_log.{engine}"), "footprint.payload");
    }
    let key = format!("{engine}{}", if sync_always { ", NATS sync_interval: always" } else { "" });
    taken.entry(key).or_default().push((appended, refused));
    Ok(appended as f64 / secs)
}

/// Which events record a consent that another agency's events rely on,
/// and which events rely on one: an agency system relies on a consent only
/// once it is in the partnership's log, so those events wait for the
/// record's receipt (events of the recording agency need not: its node
/// knows its own unreceipted consents).
struct ConsentOrder {
    /// Consent-recording events (by position) and the signal of their receipt.
    records: HashMap<usize, Arc<tokio::sync::watch::Sender<bool>>>,
    /// Consent id to the recording event's position and agency.
    by_id: HashMap<String, (usize, String)>,
}

impl ConsentOrder {
    fn of(events: &[pb::Event]) -> ConsentOrder {
        let mut by_id = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            if let Some(pb::event::Body::ConsentRecorded(c)) = &e.body {
                by_id.insert(c.consent_id.clone(), (i, e.agency_id.clone()));
            }
        }
        let mut records = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            if let Some(&(at, _)) = relied_on(&by_id, i, e) {
                records.entry(at).or_insert_with(|| Arc::new(tokio::sync::watch::channel(false).0));
            }
        }
        ConsentOrder { records, by_id }
    }

    /// The receipt signal event `i` must wait for, if any.
    fn relies_on(&self, i: usize, event: &pb::Event) -> Option<tokio::sync::watch::Receiver<bool>> {
        let &(at, _) = relied_on(&self.by_id, i, event)?;
        self.records.get(&at).map(|s| s.subscribe())
    }
}

/// The earlier consent record, by another agency, that `event` (at `i`) relies on alone.
fn relied_on<'a>(
    by_id: &'a HashMap<String, (usize, String)>,
    i: usize,
    event: &pb::Event,
) -> Option<&'a (usize, String)> {
    use concord_core::consent;
    if !consent::relies_on_consent(event) || consent::has_other_basis(event) || consent::consent_id_of(event).is_some()
    {
        return None;
    }
    by_id.get(&event.consent_ref).filter(|(at, agency)| *at < i && *agency != event.agency_id)
}

/// One raw JetStream run on a fresh nats-server: seconds to publish and consume-and-ack everything.
fn jetstream_once(ctx: &Ctx, sync_always: bool, prepared: &[Prepared]) -> Result<f64> {
    let dir = ctx.dir("ingest-run")?;
    let nats = NatsServer::start(&ctx.nats, &dir.join("nats"), sync_always)?;
    let secs = in_runtime(baseline::jetstream_ingest(&nats.url(), prepared, ctx.settings.in_flight))?;
    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(secs)
}
