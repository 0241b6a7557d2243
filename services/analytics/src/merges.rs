//! Merges as a replay shows them: a `subjects_merged` event says its second
//! person (a duplicate) is its first (the one kept), a later
//! `subjects_unmerged` of the same two says they are two again. Both come
//! pseudonymised like every other subject, with the same pseudonyms, so a
//! projection counts a merged pair as one person and an unmerged pair as
//! two, as the merges stand at the end of what it was given.

use std::collections::BTreeMap;

use concord_core::pb::{self, event::Body};
use serde::{Deserialize, Serialize};

/// How many merges a chain is followed through (a duplicate merged into a
/// person who was itself merged, ...); a longer chain, or a loop, stops there.
const CHAIN: usize = 8;

/// The merges in force: each duplicate's pseudonym and the one it was merged into.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merges {
    into: BTreeMap<String, String>,
}

impl Merges {
    /// Applies one merge or unmerge of two people (any other event changes nothing).
    pub fn apply(&mut self, event: &pb::Event) {
        let [kept, duplicate] = event.subjects.as_slice() else { return };
        let person = pb::SubjectKind::Person as i32;
        if kept.kind != person || duplicate.kind != person {
            return;
        }
        match event.body {
            Some(Body::SubjectsMerged(_)) => {
                self.into.insert(duplicate.key.clone(), kept.key.clone());
            }
            Some(Body::SubjectsUnmerged(_)) if self.into.get(&duplicate.key) == Some(&kept.key) => {
                self.into.remove(&duplicate.key);
            }
            _ => {}
        }
    }

    /// The person `key` now is: itself, or the one it was merged into.
    /// People merged in a loop are each themselves.
    pub fn kept<'a>(&'a self, key: &'a str) -> &'a str {
        let mut now = key;
        for _ in 0..CHAIN {
            match self.into.get(now) {
                Some(next) if next == key => return key,
                Some(next) => now = next,
                None => break,
            }
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: Body, kept: &str, duplicate: &str) -> pb::Event {
        let person = |key: &str| pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() };
        pb::Event { subjects: vec![person(kept), person(duplicate)], body: Some(body), ..Default::default() }
    }

    #[test]
    fn merges_chain_unmerge_and_never_loop() {
        let (merged, unmerged) =
            (|| Body::SubjectsMerged(pb::SubjectsMerged {}), || Body::SubjectsUnmerged(pb::SubjectsUnmerged {}));
        let mut merges = Merges::default();
        merges.apply(&event(merged(), "a", "b"));
        merges.apply(&event(merged(), "b", "c"));
        assert_eq!((merges.kept("b"), merges.kept("c"), merges.kept("d")), ("a", "a", "d"));
        merges.apply(&event(unmerged(), "a", "c"));
        assert_eq!(merges.kept("c"), "a", "an unmerge of another pair changes nothing");
        merges.apply(&event(unmerged(), "a", "b"));
        assert_eq!((merges.kept("b"), merges.kept("c")), ("b", "b"));
        merges.apply(&event(merged(), "c", "b"));
        assert_eq!(merges.kept("b"), "b", "a loop stops");
    }
}
