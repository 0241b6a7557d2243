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

/// What the choice of briefing items needs of one item event: kept for
/// every item event in the log while choosing, so it is small (the events
/// themselves are read again only for the items kept).
#[derive(Debug, Clone, PartialEq)]
struct ItemEvent {
    /// Its log position.
    position: u64,
    /// The item it is an event of.
    item: String,
    /// When it happened (milliseconds), if it says.
    happened: Option<i64>,
    /// Whether it leaves one of the item's actions open or in progress.
    open: bool,
}

impl ItemEvent {
    /// The summary of `event`, at `position`; `None` if it is no briefing item.
    fn of(position: u64, event: &pb::Event) -> Option<ItemEvent> {
        let Some(Body::VveBriefingItem(item)) = &event.body else { return None };
        Some(ItemEvent {
            position,
            item: item.item_id.clone(),
            happened: event.occurred_at.as_ref().map(millis),
            open: item.actions.iter().any(|a| crate::actions::is_open(a.status)),
        })
    }
}

/// Briefing item events for a briefing whose history starts at `from` and
/// whose window ends at `to`, in log order (see [`briefing_items`]). Memory
/// grows with the number of item events only by their summaries: a log
/// with many briefing items (every day's, for years) is not held whole.
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
            all.extend(ItemEvent::of(position, &event));
        }
    }
    briefing_items(all, from, to).into_iter().map(|position| Ok((position, views.stored(position)?))).collect()
}

/// The positions of the briefing item events a briefing keeps, of `all`
/// (in log order): every event, up to `to`, of an item that has an event in
/// `[from, to)`, or whose latest event up to `to` still has an open or
/// in-progress action: an open action never drops out of the briefing
/// however old its item, until it is done or cancelled.
fn briefing_items(all: Vec<ItemEvent>, from: i64, to: i64) -> Vec<u64> {
    let before_end: Vec<ItemEvent> = all.into_iter().filter(|e| e.happened.is_some_and(|t| t < to)).collect();
    let mut keep: HashSet<&str> = HashSet::new();
    let mut latest: BTreeMap<&str, &ItemEvent> = BTreeMap::new();
    for event in &before_end {
        if event.happened.is_some_and(|t| from <= t) {
            keep.insert(&event.item);
        }
        latest.insert(&event.item, event);
    }
    keep.extend(latest.into_iter().filter(|(_, e)| e.open).map(|(item, _)| item));
    before_end.iter().filter(|e| keep.contains(e.item.as_str())).map(|e| e.position).collect()
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

    /// The summary of item `id`'s event at `position`, on `day`, leaving its action `status`.
    fn item(position: u64, id: &str, day: i64, status: pb::ActionStatus) -> ItemEvent {
        let event = pb::Event {
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
        };
        ItemEvent::of(position, &event).expect("a briefing item")
    }

    /// Rule 5 of #21: an open action stays in the briefing while open,
    /// however old its item.
    #[test]
    fn open_actions_of_old_items_stay_until_done() {
        use pb::ActionStatus::{Done, InProgress, Open};
        // History from day 400, window ending day 800.
        let all = vec![
            // Item A raised on day 10, still open: kept (positions 1, 2).
            item(1, "A", 10, Open),
            item(2, "A", 20, InProgress),
            // Item B raised on day 10, done on day 30: gone (3, 4).
            item(3, "B", 10, Open),
            item(4, "B", 30, Done),
            // Item C raised on day 500, done: in the history, kept (5).
            item(5, "C", 500, Done),
            // Item D's only event is after the window: not yet (6).
            item(6, "D", 900, Open),
            // Item E open on day 10, done on day 900 (after the window): as
            // at the window's end it was open, so kept, without the later event (7).
            item(7, "E", 10, Open),
            item(8, "E", 900, Done),
        ];
        let kept = briefing_items(all, 400 * DAY, 800 * DAY);
        assert_eq!(kept, vec![1, 2, 5, 7]);
    }
}
