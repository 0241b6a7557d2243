//! Briefing items and their actions are events; a change to an action is a
//! new event appended with the item's expected version, so two briefing leads
//! updating one action at once get one success and one clear conflict
//! (FAILED_PRECONDITION), never a lost update.

use crate::common;

use common::{TestPlatform, arrest, authorized};
use concord_core::pb;
use concord_core::pb::publish_service_client::PublishServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use tonic::Code;

fn item(item_id: &str, status: pb::ActionStatus, expected: Option<u64>) -> pb::Event {
    let mut event = arrest("P-item01", "");
    event.agency_id = "childrens_services.harrow".into();
    event.agency_kind = pb::AgencyKind::ChildrensServices as i32;
    event.personal = None;
    event.expected_versions = expected
        .map(|version| pb::ExpectedVersion { item_id: item_id.into(), version, ..Default::default() })
        .into_iter()
        .collect();
    event.body = Some(pb::event::Body::VveBriefingItem(pb::VveBriefingItem {
        item_id: item_id.into(),
        area: "Wealdstone".into(),
        risk: pb::RiskLevel::High as i32,
        actions: vec![pb::BriefingAction {
            action_id: "A-1".into(),
            owner_agency_id: "police.met.nw".into(),
            due: Some(pbjson_types::Timestamp { seconds: 1_790_086_400, nanos: 0 }),
            status: status as i32,
        }],
    }));
    event
}

async fn timeline(query: &mut QueryServiceClient<tonic::transport::Channel>, token: &str) -> Vec<pb::EventView> {
    let subject = pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-item01".into() };
    let request = pb::SubjectTimelineRequest { subject: Some(subject), ..Default::default() };
    query.subject_timeline(authorized(request, token)).await.unwrap().into_inner().events
}

fn status_of(view: &pb::EventView) -> i32 {
    match view.event.as_ref().and_then(|e| e.body.as_ref()) {
        Some(pb::event::Body::VveBriefingItem(i)) => i.actions[0].status,
        _ => panic!("not an item: {view:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_to_one_action_one_wins_the_other_gets_failed_precondition() {
    let t = TestPlatform::start(Engine::Redb).await;
    let lead = t.token("childrens_services.harrow", Role::BriefingLead, Purpose::Briefing);
    let mut publish = PublishServiceClient::new(t.channel().await);
    let send = |event: pb::Event| authorized(pb::PublishRequest { event: Some(event), wait_for_ledger: true }, &lead);

    // The item is created expecting an empty item stream.
    publish.publish(send(item("VVE-1", pb::ActionStatus::Open, Some(0)))).await.unwrap();
    let again = publish.publish(send(item("VVE-1", pb::ActionStatus::Open, Some(0)))).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "an item id can be created once: {again:?}");

    // Two leads, both having read version 1, change the same action at once.
    let (mut a, mut b) = (publish.clone(), publish.clone());
    let (first, second) = tokio::join!(
        a.publish(send(item("VVE-1", pb::ActionStatus::InProgress, Some(1)))),
        b.publish(send(item("VVE-1", pb::ActionStatus::Done, Some(1)))),
    );
    let outcomes = [first.map(|_| ()), second.map(|_| ())];
    let won = outcomes.iter().filter(|r| r.is_ok()).count();
    let conflicts: Vec<&tonic::Status> = outcomes.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(won, 1, "{outcomes:?}");
    assert_eq!(conflicts[0].code(), Code::FailedPrecondition);
    assert!(conflicts[0].message().contains("item/VVE-1"), "the conflict names the item: {}", conflicts[0].message());

    // Readers see each item event with its version; the loser retries on the latest.
    let mut query = QueryServiceClient::new(t.channel().await);
    let events = timeline(&mut query, &lead).await;
    assert_eq!(events.iter().map(|v| v.item_version).collect::<Vec<_>>(), vec![1, 2]);
    let latest = events.last().unwrap();
    publish.publish(send(item("VVE-1", pb::ActionStatus::Cancelled, Some(latest.item_version)))).await.unwrap();
    let events = timeline(&mut query, &lead).await;
    assert_eq!(events.len(), 3);
    assert_eq!(status_of(events.last().unwrap()), pb::ActionStatus::Cancelled as i32);

    // An open action past its due date heads the next briefing's actions.
    publish.publish(send(item("VVE-3", pb::ActionStatus::Open, Some(0)))).await.unwrap();
    let briefing = common::briefing_around_now(&t, &lead).await;
    let actions: Vec<(&str, bool)> = briefing.open_actions.iter().map(|a| (a.item_id.as_str(), a.overdue)).collect();
    assert_eq!(actions, vec![("VVE-3", true)], "VVE-1's action was cancelled; VVE-3's is overdue");
    assert!(briefing.markdown.contains("VVE-3"), "{}", briefing.markdown);

    // An expected version must name this event's own item.
    let mut wrong = item("VVE-2", pb::ActionStatus::Open, Some(0));
    wrong.expected_versions[0].item_id = "VVE-1".into();
    let refused = publish.publish(send(wrong)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(concord_core::status::field_of(&refused).as_deref(), Some("expected_versions[0].item_id"));
}
