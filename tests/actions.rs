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

/// Item `item_id` about P-own01 by `by`, with A-1 owned by the police and
/// A-2 by the VCS, in these statuses; shared with nobody explicitly.
fn owned_item(by: &str, item_id: &str, statuses: [pb::ActionStatus; 2]) -> pb::Event {
    let mut event = arrest("P-own01", "");
    event.agency_id = by.into();
    event.agency_kind = concord_core::AgencyId::parse(by).unwrap().kind() as i32;
    event.personal = None;
    let action = |id: &str, owner: &str, status: pb::ActionStatus| pb::BriefingAction {
        action_id: id.into(),
        owner_agency_id: owner.into(),
        due: Some(pbjson_types::Timestamp { seconds: 1_790_086_400, nanos: 0 }),
        status: status as i32,
    };
    event.body = Some(pb::event::Body::VveBriefingItem(pb::VveBriefingItem {
        item_id: item_id.into(),
        area: "Wealdstone".into(),
        risk: pb::RiskLevel::High as i32,
        actions: vec![action("A-1", "police.met.nw", statuses[0]), action("A-2", "vcs.st-giles", statuses[1])],
    }));
    event
}

/// An agency given an action sees the item although it is not shared with
/// it, and updates its own action; changing another agency's action, an
/// item it has no action in, or creating an item is refused, naming the
/// field, and an item it has no part in is indistinguishable from none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_action_is_seen_and_updated_by_its_owner_and_by_no_one_else() {
    use pb::ActionStatus::{Done, InProgress, Open};
    let t = TestPlatform::start(Engine::Redb).await;
    let token = |agency: &str, role| t.token(agency, role, Purpose::Briefing);
    let (lead, police, vcs) = (
        token("childrens_services.harrow", Role::BriefingLead),
        token("police.met.nw", Role::Practitioner),
        token("vcs.st-giles", Role::Practitioner),
    );
    let mut publish = PublishServiceClient::new(t.channel().await);
    let mut send = async |event: pb::Event, token: &str| {
        let request = pb::PublishRequest { event: Some(event), wait_for_ledger: true };
        publish.publish(authorized(request, token)).await.map(drop)
    };
    send(owned_item("childrens_services.harrow", "VVE-10", [Open, Open]), &lead).await.unwrap();
    // VVE-11: the police's action only; nothing of the VCS's.
    let mut police_only = owned_item("childrens_services.harrow", "VVE-11", [Open, Open]);
    if let Some(pb::event::Body::VveBriefingItem(item)) = &mut police_only.body {
        item.actions.pop();
    }
    send(police_only, &lead).await.unwrap();

    // The VCS sees VVE-10 (its action's item), redacted, and not VVE-11.
    let mut query = QueryServiceClient::new(t.channel().await);
    let items = |views: Vec<pb::EventView>| -> Vec<(String, i32)> {
        views
            .into_iter()
            .filter_map(|v| match v.event.and_then(|e| e.body) {
                Some(pb::event::Body::VveBriefingItem(i)) => Some((i.item_id, v.visibility)),
                _ => None,
            })
            .collect()
    };
    let subject = pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-own01".into() };
    let request = || pb::SubjectTimelineRequest { subject: Some(subject.clone()), ..Default::default() };
    let seen = items(query.subject_timeline(authorized(request(), &vcs)).await.unwrap().into_inner().events);
    assert_eq!(seen, vec![("VVE-10".to_string(), pb::Visibility::ShowRedacted as i32)]);

    // The VCS updates its own action; then the police theirs, on the latest state.
    send(owned_item("vcs.st-giles", "VVE-10", [Open, InProgress]), &vcs).await.unwrap();
    send(owned_item("police.met.nw", "VVE-10", [Done, InProgress]), &police).await.unwrap();

    // The VCS closing the police's action is refused, naming the field.
    let refused = send(owned_item("vcs.st-giles", "VVE-10", [Open, Done]), &vcs).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("vve_briefing_item.actions[0].status"), "{}", refused.message());
    assert!(refused.message().contains("`A-1` is police.met.nw's action"), "{}", refused.message());
    // So is the police putting back the VCS's action to open (an update
    // made on a stale state changes someone else's action).
    let stale = send(owned_item("police.met.nw", "VVE-10", [Done, Open]), &police).await.unwrap_err();
    assert!(stale.message().contains("vve_briefing_item.actions[1].status"), "{}", stale.message());

    // An item the VCS has no action in is answered as one that does not exist.
    let mut not_theirs = owned_item("vcs.st-giles", "VVE-11", [Done, Done]);
    let mut missing = owned_item("vcs.st-giles", "VVE-404", [Done, Done]);
    for e in [&mut not_theirs, &mut missing] {
        if let Some(pb::event::Body::VveBriefingItem(item)) = &mut e.body {
            item.actions.pop();
        }
    }
    let (not_theirs, missing) = (send(not_theirs, &vcs).await.unwrap_err(), send(missing, &vcs).await.unwrap_err());
    assert!(not_theirs.message().contains("vve_briefing_item.item_id"), "{}", not_theirs.message());
    assert_eq!(
        not_theirs.message().replace("VVE-11", "VVE-?").split(": ").skip(1).collect::<Vec<_>>(),
        missing.message().replace("VVE-404", "VVE-?").split(": ").skip(1).collect::<Vec<_>>(),
    );
    // Only children's services create items.
    let created = send(owned_item("police.met.nw", "VVE-12", [Open, Open]), &police).await.unwrap_err();
    assert!(created.message().contains("vve_briefing_item.item_id"), "{}", created.message());

    // The lead sees the item's latest state: the police's action done, the VCS's in progress.
    let events = query.subject_timeline(authorized(request(), &lead)).await.unwrap().into_inner().events;
    let latest = events.iter().rev().find_map(|v| match v.event.as_ref().and_then(|e| e.body.as_ref()) {
        Some(pb::event::Body::VveBriefingItem(i)) if i.item_id == "VVE-10" => Some(i.clone()),
        _ => None,
    });
    let statuses: Vec<i32> = latest.unwrap().actions.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Done as i32, InProgress as i32]);
}
