//! Reading what a briefing is made of from the log, and deciding it for the
//! recipient: the window's events, its subjects' history, the briefing
//! items. Blocking: run it off the async runtime.

use std::collections::{BTreeMap, HashSet};

use concord_audit::access::Tally;
use concord_core::{EventType, SubjectId, millis, sortable_time, timestamp};
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

/// Briefing item events that happened in `[from, to)`, in log order.
fn items(views: &Views, from: i64, to: i64) -> Result<Vec<Stored>, Status> {
    let value = EventType::VveBriefingItem.as_str().as_bytes();
    let mut end = value.to_vec();
    end.push(0);
    let (mut out, mut after) = (Vec::new(), 0);
    loop {
        let found = views.log().scan_index(BY_TYPE, value, &end, after, CHUNK).map_err(storage_unavailable)?;
        let Some(&last) = found.last() else { break };
        after = last;
        for position in found {
            let bytes = views.stored(position)?;
            if happened_in(&bytes, position, from, to)? {
                out.push((position, bytes));
            }
        }
    }
    Ok(out)
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

/// Everything `principal` may see for a briefing over `window` in
/// `boroughs` (all, when empty), with its subjects' history from
/// `history_from` in every borough, and what the agreement withheld.
pub fn gather(
    views: &Views,
    principal: &Principal,
    window: Window,
    history_from: i64,
    boroughs: &[String],
) -> Result<(Parts, Tally), Status> {
    let mut tally = Tally::default();
    let mut positions = Vec::new();
    for position in window_positions(views, window)? {
        if in_boroughs(&views.stored(position)?, position, boroughs)? {
            positions.push(position);
        }
    }
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

    let items = views.decide(principal, items(views, history_from, window.to)?)?;
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
