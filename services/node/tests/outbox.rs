//! The outbox keeps events across restarts until they are receipted, and
//! sends them again after a restart.

use std::sync::Arc;
use std::time::Duration;

use concord_bus::{EmbeddedBus, EventBus, Outbound};
use concord_log::kv::{Engine, open};
use concord_node::Outbox;

fn outbound(i: u32) -> Outbound {
    Outbound {
        subject: format!("concord.events.police.police.met.nw.arrest.{i}"),
        msg_id: format!("id-{i}"),
        payload: vec![i as u8; 8].into(),
        traceparent: None,
    }
}

async fn drain(bus: &EmbeddedBus, n: usize) -> Vec<String> {
    let mut consumer = bus.consumer("test", None).await.unwrap();
    let mut ids = Vec::new();
    while ids.len() < n {
        let batch = consumer.next_batch(100, Duration::from_secs(5)).await.unwrap();
        assert!(!batch.is_empty(), "only {} of {n} arrived", ids.len());
        ids.extend(batch.iter().map(|d| d.subject.rsplit('.').next().unwrap().to_string()));
    }
    ids
}

#[tokio::test]
async fn events_survive_a_restart_until_receipted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let outbox = Outbox::open(open(Engine::Redb, dir.path()).unwrap()).unwrap();
        for i in 0..5 {
            outbox.put(outbound(i)).await.unwrap();
        }
        outbox.put(outbound(0)).await.unwrap();
        assert_eq!(outbox.stats().depth, 5, "a re-submitted event is stored once");
        let bus = Arc::new(EmbeddedBus::new());
        tokio::spawn(outbox.clone().run_publisher(bus.clone(), Duration::from_secs(60)));
        assert_eq!(drain(&bus, 5).await.len(), 5);
        outbox.retire(&["id-1".to_string(), "id-3".to_string()]).unwrap();
        assert_eq!(outbox.stats().depth, 3);
    }
    // "Restart": a new outbox over the same store sends what was not receipted.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let outbox = Outbox::open(open(Engine::Redb, dir.path()).unwrap()).unwrap();
    let stats = outbox.stats();
    assert_eq!(stats.depth, 3);
    assert!(stats.oldest.is_some());
    let bus = Arc::new(EmbeddedBus::new());
    tokio::spawn(outbox.clone().run_publisher(bus.clone(), Duration::from_secs(60)));
    let mut again = drain(&bus, 3).await;
    again.sort();
    assert_eq!(again, ["0", "2", "4"]);
}
