//! Fault tests over real nats-servers with the deploy configs: the ledger
//! SIGKILLed again and again during an ingest of tens of thousands of events,
//! and a server of the three-node cluster killed mid-ingest. Each time every
//! event ends up in the log exactly once and the Merkle history only grows.

use crate::common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::nats::{NatsCluster, NatsServer};
use common::process::Proc;
use common::{agency, arrest, nats_node, publish_many, wait_outbox_empty};
use concord::layout::Layout;
use concord_bus::nats::EVENTS_STREAM;
use concord_log::log::Log;

/// Events about a few hundred children, as a borough's police would publish.
fn event(i: usize) -> concord_core::pb::Event {
    arrest(&format!("P-fault{:03}", i % 300), "")
}

/// The ledger's log, opened while the ledger is not running.
fn open_log(data: &Path, keys: &Layout) -> Log {
    Log::open(
        concord_log::kv::open(concord_log::kv::Engine::DEFAULT, &data.join("log")).unwrap(),
        concord::platform::EVENT_LOG_ORIGIN,
        keys.ledger_signing_key().unwrap(),
    )
    .unwrap()
}

/// Every event id in the log, checking none is there twice.
fn ids_once(log: &Log) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut after = 0;
    loop {
        let entries = log.read_from(after, 1000).unwrap();
        let Some(last) = entries.last() else { break };
        after = last.position;
        for entry in &entries {
            let (_, event) = concord_eventlog::decode_entry(&entry.bytes).unwrap();
            assert!(ids.insert(event.event_id.clone()), "{} is in the log twice", event.event_id);
        }
    }
    assert_eq!(ids.len() as u64, log.size());
    ids
}

/// A checkpoint (size, root) the log had; checks that `log` extends it.
fn check_extends(log: &Log, before: Option<(u64, [u8; 32])>) -> (u64, [u8; 32]) {
    let size = log.size();
    let root = log.root_at(size).unwrap();
    if let Some((old, old_root)) = before {
        assert!(size >= old, "the log shrank from {old} to {size}");
        assert_eq!(log.root_at(old).unwrap(), old_root, "history at {old} changed");
        let proof = log.consistency_proof(old, size).unwrap();
        concord_log::verify::verify_consistency(old, size, &old_root, &root, &proof).unwrap();
    }
    (size, root)
}

fn ledger_args(data: &Path, keys: &Path, url: String, replicas: usize) -> Vec<String> {
    vec![
        "ledger".into(),
        "--data".into(),
        data.display().to_string(),
        "--keys".into(),
        keys.display().to_string(),
        "--nats".into(),
        url,
        "--replicas".into(),
        replicas.to_string(),
    ]
}

#[test]
fn the_ledger_killed_again_and_again_mid_ingest_loses_and_duplicates_nothing() {
    const EVENTS: usize = 20_000;
    let nats = NatsServer::start_deploy();
    let work = tempfile::tempdir().unwrap();
    let keys = Layout::new(work.path().join("partnership"));
    keys.ensure_keys(&common::agencies()).unwrap();
    let data = work.path().join("ledger");
    let mut ledger = Proc::spawn("ledger", work.path(), &ledger_args(&data, &keys.keys(), nats.url_as("ledger"), 1));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let police = agency("police.met.nw");
    rt.block_on(common::seal_key_service(&keys, &nats.url_as("serve-1"), false));
    let node = rt.block_on(nats_node(&keys, &police, &nats.url_as("police.met.nw")));
    let publishing = rt.spawn({
        let node = node.clone();
        async move { publish_many(&node, EVENTS, 64, event).await }
    });

    let mut checkpoint = None;
    let mut kills = 0;
    let mut mid_ingest = 0;
    while !publishing.is_finished() || kills < 4 {
        std::thread::sleep(Duration::from_millis(700 + 300 * (kills % 3)));
        ledger.kill();
        kills += 1;
        let log = open_log(&data, &keys);
        checkpoint = Some(check_extends(&log, checkpoint));
        if log.size() < EVENTS as u64 {
            mid_ingest += 1;
        }
        ids_once(&log);
        drop(log);
        ledger.start();
    }
    let published: HashSet<String> = rt.block_on(publishing).unwrap().into_iter().collect();
    assert_eq!(published.len(), EVENTS);
    assert!(mid_ingest >= 3, "only {mid_ingest} of {kills} kills came before the log was complete");
    rt.block_on(wait_outbox_empty(&node, Duration::from_secs(180)));
    // The last start must be up (its SIGTERM handler in place) before it is
    // stopped cleanly: each start says how many events it found.
    let started = std::time::Instant::now();
    while (ledger.output().matches("events in the log").count() as u64) < kills + 1 {
        assert!(started.elapsed() < Duration::from_secs(60), "the ledger did not start:\n{}", ledger.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    ledger.stop();

    let log = open_log(&data, &keys);
    check_extends(&log, checkpoint);
    assert_eq!(ids_once(&log), published, "every event once, after {kills} kills");
}

#[test]
fn a_cluster_that_loses_a_server_mid_ingest_loses_nothing() {
    const EVENTS: usize = 4_000;
    let mut cluster = NatsCluster::start_deploy();
    let work = tempfile::tempdir().unwrap();
    let keys = Layout::new(work.path().join("partnership"));
    keys.ensure_keys(&common::agencies()).unwrap();
    let data = work.path().join("ledger");
    let mut ledger = Proc::spawn("ledger", work.path(), &ledger_args(&data, &keys.keys(), cluster.url_as("ledger"), 3));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let police = agency("police.met.nw");
    rt.block_on(common::seal_key_service(&keys, &cluster.url_as("serve-1"), false));
    let node = rt.block_on(nats_node(&keys, &police, &cluster.url_as("police.met.nw")));
    let publishing = rt.spawn({
        let node = node.clone();
        async move { publish_many(&node, EVENTS, 32, event).await }
    });
    // Kill a server once ingest is under way, and before it is over.
    let stream_size = || {
        rt.block_on(async {
            let client = concord_bus::nats::connect_client(&cluster.url_as("ledger"), "test").await.unwrap();
            let mut stream = async_nats::jetstream::new(client).get_stream(EVENTS_STREAM).await.unwrap();
            stream.info().await.unwrap().state.messages
        })
    };
    while stream_size() < (EVENTS / 5) as u64 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!publishing.is_finished(), "ingest was over before the kill");
    cluster.servers[1].kill();
    let published: HashSet<String> = rt.block_on(publishing).unwrap().into_iter().collect();
    rt.block_on(wait_outbox_empty(&node, Duration::from_secs(180)));
    ledger.stop();

    let log = open_log(&data, &keys);
    assert_eq!(ids_once(&log), published, "every event once with one server of three gone");
}
