//! The platform over a real nats-server that the tests start themselves:
//! exactly-once delivery, replicas that agree, and nothing lost when the
//! server restarts or loses its whole store.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::nats::NatsServer;
use common::{TestPlatform, agency, arrest, authorized};
use concord_bus::{EventBus, NatsBus, NatsConfig};
use concord_core::pb;
use concord_core::pb::publish_service_client::PublishServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_core::sign::KeyRegistry;
use concord_identity::{Purpose, Role};
use concord_ledger::{Ledger, Quarantine, Role as LedgerRole};
use concord_log::kv::{Engine, open};
use concord_log::log::Log;

/// Ten subjects shared by many events, so the test measures the bus, not key creation.
fn event(i: usize) -> pb::Event {
    arrest(&format!("P-nats{:04}", i % 10), "")
}

async fn publish_direct(t: &TestPlatform, range: std::ops::Range<usize>) {
    let node = t.platform.node(&agency("police.met.nw")).unwrap().clone();
    for i in range {
        node.publish(event(i), None).await.unwrap();
    }
}

async fn outboxes_empty(t: &TestPlatform, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let depth: usize = t.platform.nodes.iter().map(|n| n.outbox_stats().depth).sum();
        if depth == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{depth} events never receipted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A query replica's follower: its own local log built from the stream.
async fn follower(t: &TestPlatform, url: &str, name: &str) -> (tempfile::TempDir, Arc<Log>) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::open(
            open(Engine::Redb, &dir.path().join("log")).unwrap(),
            "concord.local/events",
            t.layout().ledger_signing_key().unwrap(),
        )
        .unwrap(),
    );
    let quarantine = Arc::new(Quarantine::open(open(Engine::Redb, &dir.path().join("q")).unwrap()).unwrap());
    let bus: Arc<dyn EventBus> =
        Arc::new(NatsBus::connect(&NatsConfig { url: url.into(), replicas: 1, manage_streams: false }).await.unwrap());
    let registry = KeyRegistry::load(&t.layout().registry()).unwrap();
    let ledger = Arc::new(Ledger::new(log.clone(), registry, bus, quarantine, LedgerRole::Follower));
    let durable = name.to_string();
    tokio::spawn(async move { ledger.run(&durable).await });
    (dir, log)
}

async fn wait_for(log: &Log, size: u64, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while log.size() < size {
        assert!(tokio::time::Instant::now() < deadline, "log at {} of {size}", log.size());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_published_event_is_queryable_exactly_once() {
    let nats = NatsServer::start();
    let t = TestPlatform::start_nats(&nats.url()).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::CrimePrevention);
    let mut client = PublishServiceClient::new(t.channel().await);
    let mut ids = Vec::new();
    for i in 0..40 {
        let r = client
            .publish(authorized(pb::PublishRequest { event: Some(event(i)), wait_for_ledger: true }, &police))
            .await
            .unwrap()
            .into_inner();
        ids.push(r.event_id);
    }
    let mut query = QueryServiceClient::new(t.channel().await);
    let page = query
        .search(authorized(
            pb::SearchRequest { event_type: "arrest".into(), page_size: 100, ..Default::default() },
            &police,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut seen: Vec<_> = page.events.iter().map(|v| v.event.as_ref().unwrap().event_id.clone()).collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "each event exactly once");
    assert_eq!(t.platform.log.size(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_restart_during_publishing_loses_nothing_and_replicas_agree() {
    let mut nats = NatsServer::start();
    let url = nats.url();
    let t = TestPlatform::start_nats(&url).await;
    let (_a, replica_a) = follower(&t, &url, "serve-a").await;
    let (_b, replica_b) = follower(&t, &url, "serve-b").await;

    publish_direct(&t, 0..1500).await;
    nats.stop();
    // Publishing goes on into the outbox while the bus is down.
    publish_direct(&t, 1500..3000).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.restart();

    t.wait_for_size_within(3000, Duration::from_secs(90)).await;
    outboxes_empty(&t, Duration::from_secs(60)).await;
    assert_eq!(t.platform.log.size(), 3000, "nothing lost, nothing twice");
    for replica in [&replica_a, &replica_b] {
        wait_for(replica, 3000, Duration::from_secs(60)).await;
        assert_eq!(replica.size(), 3000);
        assert_eq!(
            replica.root_at(3000).unwrap(),
            t.platform.log.root_at(3000).unwrap(),
            "replicas build the same log"
        );
    }
}

/// Nodes publish into JetStream while no ledger runs; the server acknowledges
/// every event, is then killed and loses its whole store. When the platform
/// starts, the nodes' outboxes send everything again.
#[test]
fn a_nats_server_that_loses_its_store_loses_nothing_of_ours() {
    let mut nats = NatsServer::start();
    let url = nats.url();
    let dir = tempfile::tempdir().unwrap();
    let layout = concord::layout::Layout::new(dir.path());
    let police = agency("police.met.nw");

    // The node alone, in its own runtime (dropping it ends every task, like a stopped process).
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        layout.ensure_keys(std::slice::from_ref(&police)).unwrap();
        common::seal_key_service(&layout, &url, true).await;
        let node = common::nats_node(&layout, &police, &url).await;
        let client = concord_bus::nats::connect_client(&url, "test").await.unwrap();
        let js = async_nats::jetstream::new(client);
        for i in 0..1500 {
            node.publish(event(i), None).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mut stream = js.get_stream(concord_bus::nats::EVENTS_STREAM).await.unwrap();
            if stream.info().await.unwrap().state.messages == 1500 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "JetStream never acknowledged all events");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(node.outbox_stats().depth, 1500, "no receipts without a ledger");
    });

    nats.kill();
    nats.wipe_store();
    nats.restart();

    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let nats_config = NatsConfig { url: url.clone(), replicas: 1, manage_streams: true };
        let t = TestPlatform::start_in(dir, Engine::Redb, Some(nats_config)).await;
        t.wait_for_size_within(1500, Duration::from_secs(120)).await;
        outboxes_empty(&t, Duration::from_secs(60)).await;
        assert_eq!(t.platform.log.size(), 1500, "every event the server lost was sent again, once");
    });
}
