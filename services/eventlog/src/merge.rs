//! Merges as the log records them: a `subjects_merged` event says its second
//! subject (a duplicate) is its first (the subject kept), a later
//! `subjects_unmerged` of the same two says they are two again. Every reader
//! follows the same merges, read from the log itself, so a timeline and the
//! directory agree on which subject a duplicate now is.

use std::collections::HashMap;

use concord_core::{EventType, SubjectId, pb};
use concord_log::log::{Log, LogError};

use crate::schema::{BY_TYPE, decode_entry};

/// How many merges a chain is followed through (a duplicate merged into a
/// subject that was itself merged, ...); a longer chain, or a loop, stops there.
const CHAIN: usize = 8;

/// The merges in force: each duplicate and the subject it was merged into.
#[derive(Debug, Default, Clone)]
pub struct Merges {
    into: HashMap<SubjectId, SubjectId>,
}

/// Positions of every event of `event_type`.
fn of_type(log: &Log, event_type: EventType) -> Result<Vec<u64>, LogError> {
    let value = event_type.as_str().as_bytes();
    let mut to = value.to_vec();
    to.push(0);
    log.scan_index(BY_TYPE, value, &to, 0, usize::MAX)
}

impl Merges {
    /// The merges the log holds now.
    pub fn read(log: &Log) -> Result<Merges, LogError> {
        let mut positions = of_type(log, EventType::SubjectsMerged)?;
        positions.extend(of_type(log, EventType::SubjectsUnmerged)?);
        positions.sort_unstable();
        let mut merges = Merges::default();
        for (position, entry) in positions.iter().zip(log.get_many(&positions)?) {
            let entry = entry.ok_or_else(|| LogError::Corrupt(format!("indexed entry {position} is missing")))?;
            let (_, event) = decode_entry(&entry.bytes)
                .map_err(|e| LogError::Corrupt(format!("entry {position} does not decode: {e}")))?;
            merges.apply(&event);
        }
        Ok(merges)
    }

    /// Applies one merge or unmerge (any other event changes nothing).
    pub fn apply(&mut self, event: &pb::Event) {
        let [kept, duplicate] = event.subjects.as_slice() else { return };
        let (Ok(kept), Ok(duplicate)) = (SubjectId::from_ref(kept), SubjectId::from_ref(duplicate)) else { return };
        match event.body {
            Some(pb::event::Body::SubjectsMerged(_)) => {
                self.into.insert(duplicate, kept);
            }
            Some(pb::event::Body::SubjectsUnmerged(_)) if self.into.get(&duplicate) == Some(&kept) => {
                self.into.remove(&duplicate);
            }
            _ => {}
        }
    }

    /// The subject `subject` now is: itself, or the subject it was merged
    /// into. Subjects merged in a loop are each themselves.
    pub fn kept(&self, subject: &SubjectId) -> SubjectId {
        let mut now = subject;
        for _ in 0..CHAIN {
            match self.into.get(now) {
                Some(next) if next == subject => return subject.clone(),
                Some(next) => now = next,
                None => break,
            }
        }
        now.clone()
    }

    /// The subjects merged into `subject` (directly or through others), in order.
    pub fn duplicates_of(&self, subject: &SubjectId) -> Vec<SubjectId> {
        let mut duplicates: Vec<SubjectId> =
            self.into.keys().filter(|d| *d != subject && self.kept(d) == *subject).cloned().collect();
        duplicates.sort();
        duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(body: pb::event::Body, kept: &str, duplicate: &str) -> pb::Event {
        let subject = |key: &str| pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() };
        pb::Event { subjects: vec![subject(kept), subject(duplicate)], body: Some(body), ..Default::default() }
    }

    #[test]
    fn merges_chain_unmerge_and_never_loop() {
        let p = |key: &str| SubjectId::parse(&format!("person/{key}")).unwrap();
        let merged = || pb::event::Body::SubjectsMerged(pb::SubjectsMerged {});
        let unmerged = || pb::event::Body::SubjectsUnmerged(pb::SubjectsUnmerged {});
        let mut merges = Merges::default();
        merges.apply(&merge(merged(), "P-a", "P-b"));
        merges.apply(&merge(merged(), "P-b", "P-c"));
        assert_eq!((merges.kept(&p("P-b")), merges.kept(&p("P-c"))), (p("P-a"), p("P-a")));
        assert_eq!(merges.duplicates_of(&p("P-a")), [p("P-b"), p("P-c")]);
        // An unmerge of another pair changes nothing; of the pair, undoes it.
        merges.apply(&merge(unmerged(), "P-a", "P-c"));
        assert_eq!(merges.kept(&p("P-c")), p("P-a"));
        merges.apply(&merge(unmerged(), "P-a", "P-b"));
        assert_eq!((merges.kept(&p("P-b")), merges.kept(&p("P-c"))), (p("P-b"), p("P-b")));
        assert!(merges.duplicates_of(&p("P-a")).is_empty());
        // A loop stops.
        merges.apply(&merge(merged(), "P-c", "P-b"));
        assert_eq!(merges.kept(&p("P-b")), p("P-b"));
    }
}
