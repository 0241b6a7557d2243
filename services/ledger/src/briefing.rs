//! Updates of VVE briefing items by the agencies that own their actions.
//!
//! Children's services (the VVE team) create briefing items and may change
//! them as they like. Any other agency may publish an item only as an update
//! of one in the log in which it owns an action, and may change only its own
//! actions' statuses: everything else (the item's subjects, area and risk,
//! which actions it has, who owns each and when it is due, the other
//! agencies' actions' statuses) stays as the item's latest state in the log
//! says. The ledger checks this before it appends ([`refusal`]), so what
//! every replica holds obeys it.

use concord_core::pb::{self, event::Body};
use concord_core::{AgencyId, SubjectId};
use concord_follow::FollowError;
use concord_log::log::Log;

/// Stream entries read at a time while looking for an item's latest state.
const PAGE: usize = 1000;

fn item_of(event: &pb::Event) -> Option<&pb::VveBriefingItem> {
    match &event.body {
        Some(Body::VveBriefingItem(item)) => Some(item),
        _ => None,
    }
}

/// Whether `event` is a briefing item published by an agency other than
/// children's services: an update this module's rule restricts.
pub fn restricted(event: &pb::Event) -> bool {
    item_of(event).is_some()
        && !AgencyId::parse(&event.agency_id).is_ok_and(|a| a.kind() == pb::AgencyKind::ChildrensServices)
}

/// Why `update` (an event) may not enter the log, given its item's latest
/// state in the log, `latest` (`None`: the log has no such item): the field
/// at fault and why, as `field: reason`. `None` when it may, and always for
/// an event that is not a briefing item or is published by children's
/// services. A publisher holding no action in the item is told the same as
/// for an item that does not exist: it learns nothing about items it has no
/// part in.
pub fn refusal(update: &pb::Event, latest: Option<&pb::Event>) -> Option<String> {
    let new = item_of(update).filter(|_| restricted(update))?;
    let publisher = update.agency_id.as_str();
    let owns = |item: &pb::VveBriefingItem| item.actions.iter().any(|a| a.owner_agency_id == publisher);
    let Some((latest, old)) = latest.and_then(|e| item_of(e).map(|i| (e, i))).filter(|(_, i)| owns(i)) else {
        return Some(format!(
            "vve_briefing_item.item_id: no briefing item `{}` with an action of {publisher}'s is in the log; \
             only children's services create briefing items, and other agencies update only their own actions",
            new.item_id
        ));
    };
    let unchanged = "stays as the item's latest state says: only children's services change it";
    if update.subjects != latest.subjects {
        return Some(format!("subjects: the item's subjects {unchanged}"));
    }
    if new.area != old.area {
        return Some(format!("vve_briefing_item.area: {unchanged}"));
    }
    if new.risk != old.risk {
        return Some(format!("vve_briefing_item.risk: {unchanged}"));
    }
    if new.actions.len() != old.actions.len() {
        return Some(format!(
            "vve_briefing_item.actions: {} actions, where the item has {}: the list of actions {unchanged}",
            new.actions.len(),
            old.actions.len()
        ));
    }
    for (i, (a, b)) in new.actions.iter().zip(&old.actions).enumerate() {
        if (&a.action_id, &a.owner_agency_id, &a.due) != (&b.action_id, &b.owner_agency_id, &b.due) {
            return Some(format!("vve_briefing_item.actions[{i}]: the action, its owner and due date {unchanged}"));
        }
        if a.status != b.status && b.owner_agency_id != publisher {
            return Some(format!(
                "vve_briefing_item.actions[{i}].status: `{}` is {}'s action: an agency updates only its own actions",
                b.action_id, b.owner_agency_id
            ));
        }
    }
    None
}

/// The latest state of the briefing item `update` publishes: the last event
/// of that item among `pending` (accepted earlier in this batch), else in
/// the log, found in the stream of the update's first subject (an update
/// naming other subjects than the item's finds nothing, and is refused).
pub fn latest_state(log: &Log, update: &pb::Event, pending: &[pb::Event]) -> Result<Option<pb::Event>, FollowError> {
    let Some(item_id) = item_of(update).map(|i| i.item_id.as_str()) else { return Ok(None) };
    let same_item = |e: &pb::Event| item_of(e).is_some_and(|i| i.item_id == item_id);
    if let Some(event) = pending.iter().rev().find(|e| same_item(e)) {
        return Ok(Some(event.clone()));
    }
    let Some(subject) = update.subjects.first().and_then(|s| SubjectId::from_ref(s).ok()) else { return Ok(None) };
    let stream = subject.stream();
    let (mut after, mut latest) = (0, None);
    loop {
        let page = log.stream(&stream, after, PAGE)?;
        let Some(&(last, _)) = page.last() else { break };
        let positions: Vec<u64> = page.iter().map(|(_, position)| *position).collect();
        for entry in log.get_many(&positions)?.into_iter().flatten() {
            if let Ok((_, event)) = concord_eventlog::decode_entry(&entry.bytes)
                && same_item(&event)
            {
                latest = Some(event);
            }
        }
        after = last;
    }
    Ok(latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICE: &str = "police.met.nw";
    const YOT: &str = "yot.harrow";
    const VCS: &str = "vcs.st-giles";
    const CS: &str = "childrens_services.harrow";

    fn action(id: &str, owner: &str, status: pb::ActionStatus) -> pb::BriefingAction {
        pb::BriefingAction {
            action_id: id.into(),
            owner_agency_id: owner.into(),
            due: Some(concord_core::timestamp(1_790_086_400_000)),
            status: status as i32,
        }
    }

    /// VVE-1 about P-1: A-1 police's, A-2 the YOT's, both open.
    fn item(by: &str, statuses: [pb::ActionStatus; 2]) -> pb::Event {
        pb::Event {
            agency_id: by.into(),
            agency_kind: AgencyId::parse(by).unwrap().kind() as i32,
            subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-1".into() }],
            body: Some(Body::VveBriefingItem(pb::VveBriefingItem {
                item_id: "VVE-1".into(),
                area: "Wealdstone".into(),
                risk: pb::RiskLevel::High as i32,
                actions: vec![action("A-1", POLICE, statuses[0]), action("A-2", YOT, statuses[1])],
            })),
            ..Default::default()
        }
    }

    fn field(refusal: Option<String>) -> Option<String> {
        refusal.map(|r| r.split(':').next().unwrap_or_default().to_string())
    }

    use pb::ActionStatus::{Done, InProgress, Open};

    #[test]
    fn an_owner_may_change_its_own_actions_status_and_nothing_else() {
        let latest = item(CS, [Open, Open]);
        assert_eq!(refusal(&item(POLICE, [Done, Open]), Some(&latest)), None);
        assert_eq!(refusal(&item(YOT, [Open, InProgress]), Some(&latest)), None);
        // Changing nothing is no harm.
        assert_eq!(refusal(&item(POLICE, [Open, Open]), Some(&latest)), None);
        // The police closing the YOT's action.
        let refused = refusal(&item(POLICE, [Open, Done]), Some(&latest));
        assert_eq!(field(refused.clone()).as_deref(), Some("vve_briefing_item.actions[1].status"));
        assert!(refused.unwrap().contains("`A-2` is yot.harrow's action"));
        // Against the latest state: after the YOT's own update, a police
        // update that puts A-2 back to open changes the YOT's action.
        let after_yot = item(YOT, [Open, InProgress]);
        assert_eq!(
            field(refusal(&item(POLICE, [Done, Open]), Some(&after_yot))).as_deref(),
            Some("vve_briefing_item.actions[1].status")
        );
        assert_eq!(refusal(&item(POLICE, [Done, InProgress]), Some(&after_yot)), None);
    }

    #[test]
    fn an_owner_may_not_reassign_reschedule_add_or_drop_actions_or_change_the_item() {
        let latest = item(CS, [Open, Open]);
        let changed = |f: &dyn Fn(&mut pb::Event, &mut pb::VveBriefingItem)| {
            let mut e = item(POLICE, [Open, Open]);
            let Some(Body::VveBriefingItem(mut i)) = e.body.take() else { unreachable!() };
            f(&mut e, &mut i);
            e.body = Some(Body::VveBriefingItem(i));
            field(refusal(&e, Some(&latest)))
        };
        let field = |f: &str| Some(f.to_string());
        assert_eq!(changed(&|_, i| i.actions[0].owner_agency_id = VCS.into()), field("vve_briefing_item.actions[0]"));
        assert_eq!(changed(&|_, i| i.actions[0].due = None), field("vve_briefing_item.actions[0]"));
        assert_eq!(changed(&|_, i| i.actions[1].action_id = "A-9".into()), field("vve_briefing_item.actions[1]"));
        assert_eq!(changed(&|_, i| i.actions.push(action("A-3", POLICE, Open))), field("vve_briefing_item.actions"));
        assert_eq!(changed(&|_, i| drop(i.actions.pop())), field("vve_briefing_item.actions"));
        assert_eq!(changed(&|_, i| i.risk = pb::RiskLevel::Low as i32), field("vve_briefing_item.risk"));
        assert_eq!(changed(&|_, i| i.area = "Kenton".into()), field("vve_briefing_item.area"));
        assert_eq!(changed(&|e, _| e.subjects[0].key = "P-2".into()), field("subjects"));
    }

    #[test]
    fn an_agency_without_an_action_learns_nothing_about_the_item() {
        let latest = item(CS, [Open, Open]);
        // The VCS owns nothing in VVE-1: told as if it did not exist.
        let theirs = refusal(&item(VCS, [Done, Done]), Some(&latest));
        let none = refusal(&item(VCS, [Done, Done]), None);
        assert_eq!(theirs, none);
        assert_eq!(field(theirs).as_deref(), Some("vve_briefing_item.item_id"));
        // Nor may an owner create an item.
        assert_eq!(field(refusal(&item(POLICE, [Open, Open]), None)).as_deref(), Some("vve_briefing_item.item_id"));
        // Children's services may change anything, and create items.
        assert_eq!(refusal(&item(CS, [Done, Done]), Some(&latest)), None);
        assert_eq!(refusal(&item(CS, [Open, Open]), None), None);
        // Other events are not this rule's business.
        let arrest =
            pb::Event { agency_id: VCS.into(), body: Some(Body::Arrest(pb::Arrest::default())), ..Default::default() };
        assert_eq!(refusal(&arrest, None), None);
    }
}
