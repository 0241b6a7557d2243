//! A timeline across merged subjects. A subject merged into another shows
//! only its merge events (where its timeline went); a subject others were
//! merged into shows its own events and theirs, in log order. An unmerge
//! ends it: each subject has its own timeline again.

use std::collections::BTreeSet;

use concord_audit::access::Tally;
use concord_core::{SubjectId, pb};
use concord_eventlog::{Merges, decode_entry};
use concord_identity::Principal;
use concord_read::{Views, storage_unavailable};
use tonic::Status;

/// One page of a merged timeline: the events, where the next page starts
/// (`None`: this is the last), and what the agreement withheld.
pub struct Page {
    /// The events shown, in log order.
    pub events: Vec<pb::EventView>,
    /// The log position the next page starts after, if there is one.
    pub next: Option<u64>,
    /// What was withheld on the way.
    pub tally: Tally,
}

/// Whether any merge involves `subject`.
pub fn involves(merges: &Merges, subject: &SubjectId) -> bool {
    merges.kept(subject) != *subject || !merges.duplicates_of(subject).is_empty()
}

/// The positions of `subject`'s timeline as the merges make it.
fn positions(views: &Views, merges: &Merges, subject: &SubjectId) -> Result<BTreeSet<u64>, Status> {
    let log = views.log();
    let stream = |s: &SubjectId| log.stream(&s.stream(), 0, usize::MAX).map_err(storage_unavailable);
    let mut positions = BTreeSet::new();
    if merges.kept(subject) != *subject {
        let own: Vec<u64> = stream(subject)?.into_iter().map(|(_, p)| p).collect();
        for (position, bytes) in views.stored_many(&own)? {
            let (_, event) = decode_entry(&bytes).map_err(storage_unavailable)?;
            if matches!(event.body, Some(pb::event::Body::SubjectsMerged(_) | pb::event::Body::SubjectsUnmerged(_))) {
                positions.insert(position);
            }
        }
        return Ok(positions);
    }
    for s in std::iter::once(subject.clone()).chain(merges.duplicates_of(subject)) {
        positions.extend(stream(&s)?.into_iter().map(|(_, p)| p));
    }
    Ok(positions)
}

/// Up to `limit` events of `subject`'s merged timeline after log position
/// `after` that `principal` may see, examining at most `budget` entries.
pub fn page(
    views: &Views,
    principal: &Principal,
    merges: &Merges,
    subject: &SubjectId,
    after: u64,
    limit: usize,
    budget: usize,
) -> Result<Page, Status> {
    let all = positions(views, merges, subject)?;
    let pending: Vec<u64> = all.range(after.saturating_add(1)..).copied().collect();
    let (mut events, mut tally, mut cursor, mut scanned) = (Vec::new(), Tally::default(), after, 0);
    let mut rest = pending.as_slice();
    while events.len() < limit && !rest.is_empty() && scanned < budget {
        let (chunk, tail) = rest.split_at((limit - events.len()).min(rest.len()));
        let visible = views.load(principal, chunk)?;
        tally.add(visible.withheld, &visible.policy_hash);
        events.extend(visible.events);
        cursor = chunk.last().copied().unwrap_or(cursor);
        scanned += chunk.len();
        rest = tail;
    }
    Ok(Page { events, next: (!rest.is_empty()).then_some(cursor), tally })
}
