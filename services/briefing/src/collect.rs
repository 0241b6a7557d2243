//! Reading what a briefing is made of from the log, and deciding it for the
//! recipient: the window's events, its subjects' history, the briefing
//! items. Blocking: run it off the async runtime.

use std::collections::{BTreeMap, HashSet};

use concord_audit::access::Tally;
use concord_core::pb::{self, event::Body};
use concord_core::{EventType, SubjectId, millis, sortable_time, timestamp};
use concord_directory::Following;
use concord_eventlog::{BY_OCCURRED, BY_RECORDED, BY_TYPE, decode_entry};
use concord_identity::Principal;
use concord_read::{Views, storage_unavailable};
use tonic::Status;

use crate::assemble::{Kept, Parts};
use crate::group;
use crate::window::Window;

/// Index entries read per scan.
const CHUNK: usize = 1000;

/// An entry read from the log: its position and stored bytes.
type Stored = (u64, Vec<u8>);

fn time_value(ms: i64) -> [u8; 8] {
    sortable_time(&timestamp(ms))
}

/// Positions of the events that happened, or were recorded, in `window`,
/// ascending: a late report of an earlier incident is new to the briefing.
pub fn window_positions(views: &Views, window: Window) -> Result<Vec<u64>, Status> {
    let (from, to) = (time_value(window.from), time_value(window.to));
    let mut positions = Vec::new();
    for index in [BY_OCCURRED, BY_RECORDED] {
        let mut after = 0;
        loop {
            let found = views.log().scan_index(index, &from, &to, after, CHUNK).map_err(storage_unavailable)?;
            let Some(&last) = found.last() else { break };
            positions.extend(found);
            after = last;
        }
    }
    positions.sort_unstable();
    positions.dedup();
    Ok(positions)
}

/// Whether the stored entry happened in `[from, to)`.
fn happened_in(bytes: &[u8], position: u64, from: i64, to: i64) -> Result<bool, Status> {
    let (_, event) =
        decode_entry(bytes).map_err(|e| storage_unavailable(format!("entry {position} does not decode: {e}")))?;
    Ok(event.occurred_at.as_ref().map(millis).is_some_and(|t| from <= t && t < to))
}

/// Entries about `subject` that happened in `[from, to)`, oldest first.
fn about(views: &Views, subject: &SubjectId, from: i64, to: i64) -> Result<Vec<Stored>, Status> {
    let (mut out, mut after) = (Vec::new(), 0);
    loop {
        let versions = views.log().stream(&subject.stream(), after, CHUNK).map_err(storage_unavailable)?;
        let Some(&(last, _)) = versions.last() else { break };
        after = last;
        for (_, position) in versions {
            let bytes = views.stored(position)?;
            if happened_in(&bytes, position, from, to)? {
                out.push((position, bytes));
            }
        }
    }
    Ok(out)
}

/// Briefing item events for a briefing whose history starts at `from` and
/// whose window ends at `to`, in log order (see [`briefing_items`]).
fn items(views: &Views, from: i64, to: i64) -> Result<Vec<Stored>, Status> {
    let value = EventType::VveBriefingItem.as_str().as_bytes();
    let mut end = value.to_vec();
    end.push(0);
    let (mut all, mut after) = (Vec::new(), 0);
    loop {
        let found = views.log().scan_index(BY_TYPE, value, &end, after, CHUNK).map_err(storage_unavailable)?;
        let Some(&last) = found.last() else { break };
        after = last;
        for position in found {
            let bytes = views.stored(position)?;
            let (_, event) = decode_entry(&bytes)
                .map_err(|e| storage_unavailable(format!("entry {position} does not decode: {e}")))?;
            all.push((position, bytes, event));
        }
    }
    Ok(briefing_items(all, from, to))
}

/// The briefing item events a briefing keeps, of `all` (position, stored
/// bytes, decoded event, in log order): every event, up to `to`, of an item
/// that has an event in `[from, to)`, or whose latest event up to `to` still
/// has an open or in-progress action: an open action never drops out of the
/// briefing however old its item, until it is done or cancelled.
fn briefing_items(all: Vec<(u64, Vec<u8>, pb::Event)>, from: i64, to: i64) -> Vec<Stored> {
    let item_of = |event: &pb::Event| match &event.body {
        Some(Body::VveBriefingItem(item)) => Some(item.item_id.clone()),
        _ => None,
    };
    let happened = |event: &pb::Event| event.occurred_at.as_ref().map(millis);
    let before_end: Vec<_> = all.into_iter().filter(|(_, _, e)| happened(e).is_some_and(|t| t < to)).collect();
    let mut keep: HashSet<String> = HashSet::new();
    let mut latest: BTreeMap<String, &pb::Event> = BTreeMap::new();
    for (_, _, event) in &before_end {
        let Some(item) = item_of(event) else { continue };
        if happened(event).is_some_and(|t| from <= t) {
            keep.insert(item.clone());
        }
        latest.insert(item, event);
    }
    for (item, event) in latest {
        if let Some(Body::VveBriefingItem(i)) = &event.body
            && i.actions.iter().any(|a| crate::actions::is_open(a.status))
        {
            keep.insert(item);
        }
    }
    before_end
        .into_iter()
        .filter(|(_, _, e)| item_of(e).is_some_and(|i| keep.contains(&i)))
        .map(|(position, bytes, _)| (position, bytes))
        .collect()
}

/// Whether the stored entry is in one of `boroughs` (any, when empty).
fn in_boroughs(bytes: &[u8], position: u64, boroughs: &[String]) -> Result<bool, Status> {
    if boroughs.is_empty() {
        return Ok(true);
    }
    let (_, event) =
        decode_entry(bytes).map_err(|e| storage_unavailable(format!("entry {position} does not decode: {e}")))?;
    Ok(boroughs.iter().any(|b| b.eq_ignore_ascii_case(event.borough.trim())))
}

/// Of `entries` (ascending), those about members of `principal`'s
/// agency's cohort `name` as it stands at each; all of them if no cohort
/// is asked for. INVALID_ARGUMENT (field `cohort`) if the agency has none so named.
fn in_cohort(
    views: &Views,
    principal: &Principal,
    name: Option<&str>,
    entries: Vec<Stored>,
) -> Result<Vec<Stored>, Status> {
    let Some(name) = name else { return Ok(entries) };
    let mut following = Following::read(views.log(), &principal.agency, name, 0)?;
    let mut kept = Vec::new();
    for (position, bytes) in entries {
        let (_, event) =
            decode_entry(&bytes).map_err(|e| storage_unavailable(format!("entry {position} does not decode: {e}")))?;
        if following.admits_at(position, &event) {
            kept.push((position, bytes));
        }
    }
    Ok(kept)
}

/// Everything `principal` may see for a briefing over `window` in
/// `boroughs` (all, when empty) about members of its agency's `cohort`
/// (everyone, when `None`), with its subjects' history from `history_from`
/// in every borough, and what the agreement withheld.
pub fn gather(
    views: &Views,
    principal: &Principal,
    window: Window,
    history_from: i64,
    boroughs: &[String],
    cohort: Option<&str>,
) -> Result<(Parts, Tally), Status> {
    let mut tally = Tally::default();
    let mut entries = Vec::new();
    for position in window_positions(views, window)? {
        let bytes = views.stored(position)?;
        if in_boroughs(&bytes, position, boroughs)? {
            entries.push((position, bytes));
        }
    }
    let positions: Vec<u64> = in_cohort(views, principal, cohort, entries)?.into_iter().map(|(p, _)| p).collect();
    let in_window: HashSet<u64> = positions.iter().copied().collect();
    let shown = views.load(principal, &positions)?;
    tally.add(shown.withheld, &shown.policy_hash);

    // The history of the subjects the recipient sees in the window; an event
    // about two of them is read once.
    let mut before: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for subject in group::subjects(&shown.events) {
        for (position, bytes) in about(views, &subject, history_from, window.from)? {
            if !in_window.contains(&position) {
                before.insert(position, bytes);
            }
        }
    }
    let history = views.decide(principal, before.into_iter().collect())?;
    tally.add(history.withheld, &history.policy_hash);

    let items =
        views.decide(principal, in_cohort(views, principal, cohort, items(views, history_from, window.to)?)?)?;
    tally.add(items.withheld, &items.policy_hash);
    let parts =
        Parts { window: shown.events, history: history.events, items: items.events, policy_hash: items.policy_hash };
    Ok((parts, tally))
}

/// What `principal` may see now of the events a published briefing kept.
pub fn reload(views: &Views, principal: &Principal, kept: &Kept) -> Result<(Parts, Tally), Status> {
    let mut tally = Tally::default();
    let mut load = |positions: &[u64]| -> Result<Vec<concord_core::pb::EventView>, Status> {
        let visible = views.load(principal, positions)?;
        tally.add(visible.withheld, &visible.policy_hash);
        Ok(visible.events)
    };
    let parts = Parts {
        window: load(&kept.window)?,
        history: load(&kept.history)?,
        items: load(&kept.items)?,
        policy_hash: String::new(),
    };
    let policy_hash = tally.policy_hash.clone();
    Ok((Parts { policy_hash, ..parts }, tally))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn item(id: &str, day: i64, status: pb::ActionStatus) -> pb::Event {
        pb::Event {
            occurred_at: Some(timestamp(day * DAY)),
            body: Some(Body::VveBriefingItem(pb::VveBriefingItem {
                item_id: id.into(),
                actions: vec![pb::BriefingAction {
                    action_id: format!("{id}-1"),
                    owner_agency_id: "police.met.nw".into(),
                    status: status as i32,
                    ..Default::default()
                }],
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    /// Rule 5 of #21: an open action stays in the briefing while open,
    /// however old its item.
    #[test]
    fn open_actions_of_old_items_stay_until_done() {
        use pb::ActionStatus::{Done, InProgress, Open};
        // History from day 400, window ending day 800.
        let all = vec![
            // Item A raised on day 10, still open: kept (positions 1, 2).
            (1, vec![1], item("A", 10, Open)),
            (2, vec![2], item("A", 20, InProgress)),
            // Item B raised on day 10, done on day 30: gone (3, 4).
            (3, vec![3], item("B", 10, Open)),
            (4, vec![4], item("B", 30, Done)),
            // Item C raised on day 500, done: in the history, kept (5).
            (5, vec![5], item("C", 500, Done)),
            // Item D's only event is after the window: not yet (6).
            (6, vec![6], item("D", 900, Open)),
            // Item E open on day 10, done on day 900 (after the window): as
            // at the window's end it was open, so kept, without the later event (7).
            (7, vec![7], item("E", 10, Open)),
            (8, vec![8], item("E", 900, Done)),
        ];
        let kept: Vec<u64> = briefing_items(all, 400 * DAY, 800 * DAY).into_iter().map(|(p, _)| p).collect();
        assert_eq!(kept, vec![1, 2, 5, 7]);
    }
}
