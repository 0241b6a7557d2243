//! Unreadable is not unavailable: a sealed record that does not open (a
//! publisher's garbage, a damaged key) shows as unreadable in its event,
//! like an erased one, and never fails the rest of a read or ends a
//! subscription; a sealed record that is not even well formed never enters
//! the log.

use crate::common;

use std::time::Duration;

use common::{TestPlatform, agency, arrest, authorized};
use concord_bus::Outbound;
use concord_core::pb;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_core::sign::AgencyKey;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use futures::StreamExt;
use prost::Message;

/// Publishes `event` through police's node with its first sealed record
/// changed by `damage`, re-signed with police's own key (as a faulty or
/// malicious publisher would), straight onto the bus; returns the receipt.
async fn publish_damaged(t: &TestPlatform, event: pb::Event, damage: impl Fn(&mut pb::Sealed)) -> pb::Receipt {
    let police = agency("police.met.nw");
    let node = t.platform.node(&police).unwrap();
    let (id, outbound) = node.prepare(event).await.unwrap();
    let signed = pb::SignedEvent::decode(outbound.payload.as_ref()).unwrap();
    let mut inner = pb::Event::decode(signed.event.as_slice()).unwrap();
    damage(&mut inner.sealed[0]);
    let key = AgencyKey::load(police.clone(), &t.layout().agency_key(&police)).unwrap();
    let resigned = key.sign(&inner);
    let mut receipts = t.platform.bus.receipts(&police).await.unwrap();
    t.platform.bus.publish(Outbound { payload: resigned.encode_to_vec().into(), ..outbound }).await.unwrap();
    loop {
        let receipt = tokio::time::timeout(Duration::from_secs(10), receipts.next()).await.unwrap().unwrap();
        if receipt.event_id == id.to_string() {
            return receipt;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_that_does_not_open_is_unreadable_and_the_rest_still_reads() {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::Safeguarding);
    let mut client = QueryServiceClient::new(t.channel().await);
    let subject = pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-garbled1".into() };
    let request = pb::SubscribeRequest { subject: Some(subject.clone()), ..Default::default() };
    let mut live = client.subscribe(authorized(request, &police)).await.unwrap().into_inner();

    // The identity's ciphertext is altered (still well formed): the ledger cannot tell.
    let receipt = publish_damaged(&t, arrest("P-garbled1", "seen at the station"), |r| r.ciphertext[3] ^= 0x40).await;
    let Some(pb::receipt::Outcome::Position(position)) = receipt.outcome else { panic!("{receipt:?}") };
    let got = client.get_event(authorized(pb::GetEventRequest { event_id: receipt.event_id.clone() }, &police)).await;
    let view = got.expect("the read does not fail").into_inner();
    assert_eq!(view.position, position);
    assert_eq!(view.erased, 1, "one record is unreadable");
    let personal = view.event.unwrap().personal.unwrap();
    assert!(personal.identities.is_empty(), "the damaged identity is not shown");
    assert_eq!(personal.text.get("notes").map(String::as_str), Some("seen at the station"), "the rest reads");

    // The subscription delivers it and carries on with the next event.
    assert_eq!(next(&mut live).await.erased, 1);
    let mut client2 = common::platform_publish_client(&t).await;
    let good = arrest("P-garbled1", "later");
    client2
        .publish(authorized(pb::PublishRequest { event: Some(good), wait_for_ledger: true }, &police))
        .await
        .unwrap();
    let later = next(&mut live).await;
    assert_eq!((later.erased, later.event.unwrap().personal.unwrap().identities.len()), (0, 1));

    // A record that is not well formed (no one-time key of 32 bytes) never
    // enters the log: the ledger quarantines it with its reason.
    let size = t.platform.log.size();
    let quarantined = || t.platform.ledger.quarantine().counts().values().sum::<u64>();
    let before = quarantined();
    let police_id = agency("police.met.nw");
    let node = t.platform.node(&police_id).unwrap();
    let (_, outbound) = node.prepare(arrest("P-garbled1", "x")).await.unwrap();
    let signed = pb::SignedEvent::decode(outbound.payload.as_ref()).unwrap();
    let mut inner = pb::Event::decode(signed.event.as_slice()).unwrap();
    inner.sealed[0].ephemeral.truncate(7);
    let key = AgencyKey::load(police_id.clone(), &t.layout().agency_key(&police_id)).unwrap();
    let payload = key.sign(&inner).encode_to_vec().into();
    t.platform.bus.publish(Outbound { payload, ..outbound }).await.unwrap();
    for _ in 0..200 {
        if quarantined() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(quarantined(), before + 1, "the malformed record is quarantined");
    assert_eq!(t.platform.log.size(), size, "and not appended");
}

async fn next(live: &mut tonic::Streaming<pb::EventView>) -> pb::EventView {
    let item = tokio::time::timeout(Duration::from_secs(10), live.next()).await;
    item.expect("a delivery in time").expect("still open").expect("not an error")
}
