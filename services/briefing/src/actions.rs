//! The open actions of the VVE briefing: for each briefing item, the latest
//! event the recipient may see says where its actions stand; those still
//! open or in progress are listed, overdue first.

use std::collections::BTreeMap;

use concord_core::millis;
use concord_core::pb::{self, event::Body};

/// Whether a status leaves an action open (open or in progress).
pub fn is_open(status: i32) -> bool {
    matches!(pb::ActionStatus::try_from(status), Ok(pb::ActionStatus::Open | pb::ActionStatus::InProgress))
}

/// The open actions as at `as_at` (milliseconds) from `items` (briefing
/// item events the recipient may see), and the ids of the item events they
/// come from. An action's description is the latest one the recipient may
/// read: an update by an agency that saw the item redacted carries none,
/// and does not blank it.
pub fn open_actions(items: &[pb::EventView], as_at: i64) -> (Vec<pb::OpenAction>, Vec<String>) {
    let mut by_position: Vec<&pb::EventView> = items.iter().collect();
    by_position.sort_by_key(|v| v.position);
    let mut descriptions: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for view in by_position {
        let Some(event) = &view.event else { continue };
        let Some(Body::VveBriefingItem(item)) = &event.body else { continue };
        let Some(text) = event.personal.as_ref().map(|p| &p.text) else { continue };
        for action in &item.actions {
            if let Some(description) = text.get(&format!("action.{}", action.action_id)).filter(|d| !d.is_empty()) {
                descriptions.insert((&item.item_id, &action.action_id), description);
            }
        }
    }
    // The latest visible event of each item: the item's stream is in log order.
    let mut latest: BTreeMap<&str, (&pb::EventView, &pb::Event, &pb::VveBriefingItem)> = BTreeMap::new();
    for view in items {
        let Some(event) = &view.event else { continue };
        let Some(Body::VveBriefingItem(item)) = &event.body else { continue };
        match latest.get(item.item_id.as_str()) {
            Some((kept, _, _)) if kept.position > view.position => {}
            _ => {
                latest.insert(&item.item_id, (view, event, item));
            }
        }
    }
    let mut actions = Vec::new();
    let mut sources = Vec::new();
    for (view, event, item) in latest.into_values() {
        let before = actions.len();
        for action in item.actions.iter().filter(|a| is_open(a.status)) {
            let description = descriptions
                .get(&(item.item_id.as_str(), action.action_id.as_str()))
                .map(|d| d.to_string())
                .unwrap_or_default();
            actions.push(pb::OpenAction {
                item_id: item.item_id.clone(),
                action_id: action.action_id.clone(),
                owner_agency_id: action.owner_agency_id.clone(),
                due: action.due,
                status: action.status,
                overdue: action.due.as_ref().is_some_and(|d| millis(d) < as_at),
                area: item.area.clone(),
                risk: item.risk,
                subjects: event.subjects.clone(),
                description,
                event_id: event.event_id.clone(),
                item_version: view.item_version,
            });
        }
        if actions.len() > before {
            sources.push(event.event_id.clone());
        }
    }
    // Overdue first, then soonest due (none last), then by id.
    actions
        .sort_by_key(|a| (!a.overdue, a.due.as_ref().map_or(i64::MAX, millis), a.item_id.clone(), a.action_id.clone()));
    (actions, sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(id: &str, due: i64, status: pb::ActionStatus) -> pb::BriefingAction {
        pb::BriefingAction {
            action_id: id.into(),
            owner_agency_id: "police.met.nw".into(),
            due: Some(pbjson_types::Timestamp { seconds: due, nanos: 0 }),
            status: status as i32,
        }
    }

    fn item(position: u64, item_id: &str, actions: Vec<pb::BriefingAction>) -> pb::EventView {
        let mut text = std::collections::HashMap::new();
        text.insert("action.A1".to_string(), "Home visit".to_string());
        pb::EventView {
            position,
            item_version: position,
            event: Some(pb::Event {
                event_id: format!("e{position}"),
                personal: Some(pb::Personal { identities: vec![], text }),
                body: Some(Body::VveBriefingItem(pb::VveBriefingItem {
                    item_id: item_id.into(),
                    area: "Wealdstone".into(),
                    risk: pb::RiskLevel::High as i32,
                    actions,
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_latest_status_of_each_item_counts_and_overdue_comes_first() {
        use pb::ActionStatus::{Done, InProgress, Open};
        let items = vec![
            item(1, "VVE-1", vec![action("A1", 500, Open), action("A2", 100, Open)]),
            item(2, "VVE-2", vec![action("B1", 50, Open)]),
            item(3, "VVE-1", vec![action("A1", 500, InProgress), action("A2", 100, Done)]),
            item(4, "VVE-3", vec![action("C1", 900, Open), action("C2", 300, InProgress)]),
            item(5, "VVE-2", vec![action("B1", 50, Done)]),
        ];
        let (actions, sources) = open_actions(&items, 400_000);
        let listed: Vec<(&str, bool)> = actions.iter().map(|a| (a.action_id.as_str(), a.overdue)).collect();
        assert_eq!(listed, [("C2", true), ("A1", false), ("C1", false)]);
        assert_eq!(actions[1].status, InProgress as i32, "the later event's status");
        assert_eq!(actions[1].description, "Home visit");
        assert_eq!((actions[1].event_id.as_str(), actions[1].item_version), ("e3", 3));
        assert_eq!(sources, ["e3", "e4"], "items whose actions are all done are not shown");
    }

    #[test]
    fn an_update_that_carries_no_description_keeps_the_last_one_read() {
        use pb::ActionStatus::{InProgress, Open};
        let mut redacted = item(2, "VVE-1", vec![action("A1", 500, InProgress)]);
        if let Some(event) = &mut redacted.event {
            event.personal = None;
        }
        let mut blank = item(3, "VVE-1", vec![action("A1", 500, InProgress)]);
        if let Some(pb::Event { personal: Some(personal), .. }) = &mut blank.event {
            personal.text.insert("action.A1".into(), String::new());
        }
        let items = vec![item(1, "VVE-1", vec![action("A1", 500, Open)]), blank, redacted];
        let (actions, _) = open_actions(&items, 0);
        assert_eq!((actions[0].description.as_str(), actions[0].event_id.as_str()), ("Home visit", "e3"));
    }
}
