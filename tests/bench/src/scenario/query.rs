//! Scenario 2: GetEvent, SubjectTimeline and Search under concurrent
//! clients, over gRPC against Concord and as the same query shape against
//! PostgreSQL.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use concord_core::pb;
use concord_core::pb::query_service_client::QueryServiceClient;

use crate::report::{Better, Results};
use crate::setup::postgres::Postgres;
use crate::setup::workload::Prepared;
use crate::stats::percentile;

/// Events per SubjectTimeline page.
pub const TIMELINE_PAGE: u32 = 100;
/// Events per Search page.
pub const SEARCH_PAGE: u32 = 50;
/// Unrecorded warm-up before the runs of each query.
const WARM_UP: f64 = 2.0;

/// What the clients ask about: subjects and event types of the log.
pub struct Sample {
    /// Subjects (the first subject of events), spread over the log.
    pub subjects: Vec<pb::SubjectRef>,
    /// The same as `kind/key`.
    pub subject_ids: Vec<String>,
    /// Every event type in the log.
    pub types: Vec<&'static str>,
    /// Up to 2,000 event ids spread over the log.
    pub events: Vec<uuid::Uuid>,
}

impl Sample {
    /// Up to 2,000 subjects spread over `prepared`, and its event types.
    pub fn of(prepared: &[Prepared]) -> Sample {
        let mut seen = HashSet::new();
        let firsts: Vec<&Prepared> = prepared.iter().filter(|p| seen.insert(p.subject_id.clone())).collect();
        let step = firsts.len().div_ceil(2000).max(1);
        let picked: Vec<&Prepared> = firsts.into_iter().step_by(step).collect();
        let mut types: Vec<&'static str> =
            prepared.iter().map(|p| p.event_type).collect::<HashSet<_>>().into_iter().collect();
        types.sort();
        let step = prepared.len().div_ceil(2000).max(1);
        Sample {
            events: prepared.iter().step_by(step).map(|p| p.event_id).collect(),
            subjects: picked.iter().map(|p| p.subject.clone()).collect(),
            subject_ids: picked.iter().map(|p| p.subject_id.clone()).collect(),
            types,
        }
    }
}

/// The queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// One event by id (NOT_FOUND, like a missing one, if withheld).
    GetEvent,
    /// A subject's timeline, first page.
    Timeline,
    /// Events of one type, first page.
    Search,
}

impl Op {
    /// Every query, in the order they run.
    pub const ALL: [Op; 3] = [Op::GetEvent, Op::Timeline, Op::Search];

    fn name(self) -> &'static str {
        match self {
            Op::GetEvent => "GetEvent",
            Op::Timeline => "SubjectTimeline",
            Op::Search => "Search",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Op::GetEvent => "get",
            Op::Timeline => "timeline",
            Op::Search => "search",
        }
    }
}

/// What one run of concurrent clients did.
#[derive(Debug, Default)]
pub struct Load {
    /// Each call's latency, ms.
    pub latencies_ms: Vec<f64>,
    /// How long the run was, s.
    pub secs: f64,
    /// Events returned, over all calls.
    pub events: u64,
}

impl Load {
    fn merge(&mut self, other: Load) {
        self.latencies_ms.extend(other.latencies_ms);
        self.events += other.events;
    }
}

/// A small deterministic generator, so every system gets the same choices.
struct Picker(u64);

impl Picker {
    fn next(&mut self, len: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % len.max(1)
    }
}

/// Runs `clients` concurrent Concord clients for `secs` seconds.
pub async fn concord_load(
    addr: &str,
    token: &str,
    op: Op,
    sample: &Arc<Sample>,
    clients: usize,
    secs: f64,
) -> Result<Load> {
    let mut tasks = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    for c in 0..clients {
        let channel = concord::client::connect(addr).await?;
        let (sample, token) = (sample.clone(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut client = QueryServiceClient::new(channel);
            let mut picker = Picker(c as u64 + 1);
            let mut load = Load::default();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let page = match op {
                    Op::GetEvent => {
                        let event_id = sample.events[picker.next(sample.events.len())].to_string();
                        let request = pb::GetEventRequest { event_id };
                        match client.get_event(concord::client::authorized(request, &token)?).await {
                            Ok(view) => Ok(tonic::Response::new(pb::EventPage {
                                events: vec![view.into_inner()],
                                ..Default::default()
                            })),
                            // Withheld from this reader: an answer too.
                            Err(status) if status.code() == tonic::Code::NotFound => {
                                Ok(tonic::Response::new(pb::EventPage::default()))
                            }
                            Err(status) => Err(status),
                        }
                    }
                    Op::Timeline => {
                        let subject = sample.subjects[picker.next(sample.subjects.len())].clone();
                        let request = pb::SubjectTimelineRequest {
                            subject: Some(subject),
                            page_size: TIMELINE_PAGE,
                            ..Default::default()
                        };
                        client.subject_timeline(concord::client::authorized(request, &token)?).await
                    }
                    Op::Search => {
                        let event_type = sample.types[picker.next(sample.types.len())].to_string();
                        let request = pb::SearchRequest { event_type, page_size: SEARCH_PAGE, ..Default::default() };
                        client.search(concord::client::authorized(request, &token)?).await
                    }
                };
                let page = page.map_err(|s| anyhow!("{} failed: {:?}: {}", op.name(), s.code(), s.message()))?;
                load.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                load.events += page.into_inner().events.len() as u64;
            }
            Ok::<_, anyhow::Error>(load)
        }));
    }
    collect(tasks, started).await
}

/// Runs `clients` concurrent PostgreSQL clients for `secs` seconds, each on
/// its own connection, with the same query shape.
pub async fn postgres_load(pg: &Postgres, op: Op, sample: &Arc<Sample>, clients: usize, secs: f64) -> Result<Load> {
    let sql = match op {
        Op::GetEvent => "SELECT seq, payload FROM events WHERE event_id = $1".to_string(),
        Op::Timeline => {
            format!("SELECT seq, payload FROM events WHERE subject = $1 ORDER BY seq LIMIT {TIMELINE_PAGE}")
        }
        Op::Search => format!("SELECT seq, payload FROM events WHERE event_type = $1 ORDER BY seq LIMIT {SEARCH_PAGE}"),
    };
    let mut connections = Vec::new();
    for _ in 0..clients {
        let client = pg.connect().await?;
        let statement = client.prepare(&sql).await.context("preparing the query")?;
        connections.push((client, statement));
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, (client, statement)) in connections.into_iter().enumerate() {
        let sample = sample.clone();
        tasks.push(tokio::spawn(async move {
            let mut picker = Picker(c as u64 + 1);
            let mut load = Load::default();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let rows = match op {
                    Op::GetEvent => {
                        let event_id = &sample.events[picker.next(sample.events.len())];
                        client.query(&statement, &[event_id]).await
                    }
                    Op::Timeline => {
                        let subject = &sample.subject_ids[picker.next(sample.subject_ids.len())];
                        client.query(&statement, &[subject]).await
                    }
                    Op::Search => {
                        let event_type = &sample.types[picker.next(sample.types.len())];
                        client.query(&statement, &[event_type]).await
                    }
                }
                .context("querying PostgreSQL")?;
                load.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                load.events += rows.len() as u64;
            }
            Ok::<_, anyhow::Error>(load)
        }));
    }
    collect(tasks, started).await
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Result<Load>>>, started: Instant) -> Result<Load> {
    let mut total = Load::default();
    for task in tasks {
        total.merge(task.await.context("a client task failed")??);
    }
    total.secs = started.elapsed().as_secs_f64();
    Ok(total)
}

/// Adds a run's p50, p99 and throughput under `system` (e.g. `concord.redb`).
pub fn record(results: &mut Results, op: Op, system: &str, label: &str, load: &Load) {
    let id = |what: &str| format!("query.{}.{system}.{what}", op.id());
    let name = op.name();
    let p50 = percentile(&load.latencies_ms, 50.0);
    let p99 = percentile(&load.latencies_ms, 99.0);
    let rate = load.latencies_ms.len() as f64 / load.secs;
    results.add(&id("p50"), "query", &format!("{name} p50, {label}"), "ms", Better::Lower, p50);
    results.add(&id("p99"), "query", &format!("{name} p99, {label}"), "ms", Better::Lower, p99);
    results.add(&id("rate"), "query", &format!("{name} throughput, {label}"), "calls/s", Better::Higher, rate);
}

/// Names the PostgreSQL figures as the baselines of `system`'s.
pub fn compare(results: &mut Results, system: &str) {
    for op in Op::ALL {
        for what in ["p50", "p99", "rate"] {
            let id = format!("query.{}.{system}.{what}", op.id());
            results.compare(&id, &format!("query.{}.postgres.{what}", op.id()));
        }
    }
}

/// Warms up, then runs each query `runs` times, recording every run.
pub async fn runs<F, Fut>(
    results: &mut Results,
    say: &dyn Fn(String),
    runs: usize,
    system: &str,
    label: &str,
    secs: f64,
    mut load: F,
) -> Result<Vec<(Op, f64)>>
where
    F: FnMut(Op, f64) -> Fut,
    Fut: std::future::Future<Output = Result<Load>>,
{
    let mut per_call = Vec::new();
    for op in Op::ALL {
        say(format!("query: {} on {label}: warm-up", op.name()));
        load(op, WARM_UP.min(secs)).await?;
        let mut events = (0, 0);
        for run in 1..=runs {
            say(format!("query: {} on {label}: run {run}/{runs}", op.name()));
            let l = load(op, secs).await?;
            events = (events.0 + l.events, events.1 + l.latencies_ms.len() as u64);
            record(results, op, system, label, &l);
        }
        per_call.push((op, events.0 as f64 / events.1.max(1) as f64));
    }
    Ok(per_call)
}
