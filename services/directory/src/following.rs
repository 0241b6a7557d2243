//! Following one of an agency's cohorts through the log: which events are
//! about its members, membership as it stands at each event and each
//! subject as merges make it then, so a live feed, alerts and a briefing can
//! keep to the cohort (a duplicate merged into a member is the member; a
//! member merged into another subject brings that subject in).

use std::collections::{BTreeSet, VecDeque};

use concord_core::status::invalid_argument;
use concord_core::{AgencyId, EventType, SubjectId, pb};
use concord_eventlog::{BY_TYPE, Cohort, Merges, decode_entry};
use concord_log::log::Log;
use concord_read::storage_unavailable;
use tonic::Status;

/// An agency's cohort, followed event by event.
#[derive(Debug)]
pub struct Following {
    cohort: Cohort,
    merges: Merges,
    /// The members as merges make them now.
    kept: BTreeSet<SubjectId>,
    /// Changes to the cohort, and merges, after the position it was read
    /// at, in log order: applied as the events pass.
    ahead: VecDeque<(u64, pb::Event)>,
}

/// Positions of every event of `event_type`.
fn of_type(log: &Log, event_type: EventType) -> Result<Vec<u64>, Status> {
    let value = event_type.as_str().as_bytes();
    let mut to = value.to_vec();
    to.push(0);
    log.scan_index(BY_TYPE, value, &to, 0, usize::MAX).map_err(storage_unavailable)
}

impl Following {
    /// `agency`'s cohort `name` as the events at positions up to `at` make
    /// it. INVALID_ARGUMENT naming the field `cohort` if the agency has no
    /// cohort of that name (another agency's is not the caller's). Blocking.
    pub fn read(log: &Log, agency: &AgencyId, name: &str, at: u64) -> Result<Following, Status> {
        let mut positions = Vec::new();
        for event_type in [EventType::CohortChanged, EventType::SubjectsMerged, EventType::SubjectsUnmerged] {
            positions.extend(of_type(log, event_type)?);
        }
        positions.sort_unstable();
        let mut following = Following {
            cohort: Cohort::read(log, agency, name, 0).map_err(storage_unavailable)?,
            merges: Merges::default(),
            kept: BTreeSet::new(),
            ahead: VecDeque::new(),
        };
        let mut known = false;
        let entries = log.get_many(&positions).map_err(storage_unavailable)?;
        for (position, entry) in positions.into_iter().zip(entries) {
            let entry = entry.ok_or_else(|| storage_unavailable(format!("indexed entry {position} is missing")))?;
            let (_, event) = decode_entry(&entry.bytes).map_err(storage_unavailable)?;
            if let Some(pb::event::Body::CohortChanged(change)) = &event.body {
                known |= event.agency_id == agency.as_str() && change.cohort == name;
            }
            if position <= at {
                following.apply(&event);
            } else {
                following.ahead.push_back((position, event));
            }
        }
        if !known {
            return Err(invalid_argument("cohort", "your agency has no cohort of that name"));
        }
        following.remember();
        Ok(following)
    }

    fn apply(&mut self, event: &pb::Event) {
        self.cohort.apply(event);
        self.merges.apply(event);
    }

    /// Works out the members as merges make them, after a change.
    fn remember(&mut self) {
        self.kept = self.cohort.members().map(|m| self.merges.kept(m)).collect();
    }

    fn includes_any(&self, subjects: &[pb::SubjectRef]) -> bool {
        let ids = subjects.iter().filter_map(|s| SubjectId::from_ref(s).ok());
        ids.map(|s| self.merges.kept(&s)).any(|s| self.kept.contains(&s))
    }

    /// Whether `event`, the next in log order of a live feed, is about a
    /// member as it stands at the event (one that takes a member out, or
    /// merges a subject into a member, is about them).
    pub fn admits(&mut self, event: &pb::Event) -> bool {
        if self.ahead.front().is_some_and(|(_, e)| e.event_id == event.event_id) {
            self.ahead.pop_front();
        }
        self.pass(event)
    }

    /// Whether `event`, at `position`, is about a member as it stands at
    /// the event; the changes before it are applied first. Positions must
    /// ascend from one call to the next.
    pub fn admits_at(&mut self, position: u64, event: &pb::Event) -> bool {
        let mut changed = false;
        while let Some((at, _)) = self.ahead.front()
            && *at <= position
        {
            let (at, change) = self.ahead.pop_front().expect("a front");
            if at < position {
                self.apply(&change);
                changed = true;
            }
        }
        if changed {
            self.remember();
        }
        self.pass(event)
    }

    fn pass(&mut self, event: &pb::Event) -> bool {
        let was = self.includes_any(&event.subjects);
        let changes = matches!(
            event.body,
            Some(
                pb::event::Body::CohortChanged(_)
                    | pb::event::Body::SubjectsMerged(_)
                    | pb::event::Body::SubjectsUnmerged(_)
            )
        );
        if changes {
            self.apply(event);
            self.remember();
        }
        was || self.includes_any(&event.subjects)
    }
}
