//! What the projections keep of each event, and how corrections and replays
//! are handled (crate-internal).
//!
//! A projection keeps one small record per relevant event, keyed by the
//! event's (pseudonymous) id, and computes its figures from the records when
//! asked. Keeping records rather than running totals is what lets a window
//! roll, lets one person be counted once, and lets a correction take back what
//! the corrected event contributed:
//!
//! - an event whose `corrects` names an earlier event replaces that event's
//!   record (the pseudonymiser is assumed to map `corrects` with the same
//!   mapping as `event_id`);
//! - an event corrected before it arrives is ignored when it does;
//! - an event applied twice (same id) is counted once.

use std::collections::{BTreeMap, BTreeSet};

use concord_core::pb;
use serde::{Deserialize, Serialize};

/// Records keyed by event id, with the ids already corrected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Records<T> {
    /// One record per event still in force.
    pub(crate) by_key: BTreeMap<String, T>,
    /// Event ids corrected by a later event.
    superseded: BTreeSet<String>,
    /// Events without an id seen so far (each gets a key of its own).
    unkeyed: u64,
}

impl<T> Default for Records<T> {
    fn default() -> Self {
        Records { by_key: BTreeMap::new(), superseded: BTreeSet::new(), unkeyed: 0 }
    }
}

impl<T> Records<T> {
    /// Applies one event: `extract` makes its record, or `None` when the
    /// projection does not keep this kind of event.
    pub(crate) fn apply(&mut self, event: &pb::Event, extract: impl FnOnce(&pb::Event, &str) -> Option<T>) {
        let key = if event.event_id.is_empty() {
            self.unkeyed += 1;
            format!("#unkeyed-{}", self.unkeyed)
        } else {
            event.event_id.clone()
        };
        if self.superseded.contains(&key) {
            return;
        }
        if !event.corrects.is_empty() && event.corrects != key {
            self.by_key.remove(&event.corrects);
            self.superseded.insert(event.corrects.clone());
        }
        match extract(event, &key) {
            Some(record) => {
                self.by_key.insert(key, record);
            }
            None => {
                self.by_key.remove(&key);
            }
        }
    }

    /// The records in force.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.by_key.iter()
    }
}

/// A timestamp as milliseconds since the epoch.
pub(crate) fn millis(ts: Option<&pbjson_types::Timestamp>) -> Option<i64> {
    ts.map(concord_core::millis)
}

/// The keys of the event's subjects of one kind, in order, without repeats.
pub(crate) fn subjects_of(event: &pb::Event, kind: pb::SubjectKind) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &event.subjects {
        if s.kind == kind as i32 && !s.key.is_empty() && !out.contains(&s.key) {
            out.push(s.key.clone());
        }
    }
    out
}

/// The event's first person subject, if any.
pub(crate) fn first_person(event: &pb::Event) -> Option<String> {
    event.subjects.iter().find(|s| s.kind == pb::SubjectKind::Person as i32 && !s.key.is_empty()).map(|s| s.key.clone())
}

/// Whether an event's borough matches a borough filter (`None`: every borough).
pub(crate) fn in_borough(event_borough: &str, filter: Option<&str>) -> bool {
    filter.is_none_or(|b| b.trim().eq_ignore_ascii_case(event_borough.trim()))
}

/// A proto enum's value name without its prefix, lowercased: e.g.
/// `DISPOSAL_YOUTH_CAUTION` with prefix `DISPOSAL_` gives `youth_caution`.
pub(crate) fn enum_label(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase()
}

/// The label of a disposal value (`youth_caution`, ...; `unknown` if out of range).
pub(crate) fn disposal_label(value: i32) -> String {
    pb::Disposal::try_from(value).map_or_else(|_| "unknown".into(), |d| enum_label(d.as_str_name(), "DISPOSAL_"))
}

/// Disposals that are a caution or conviction: they make a child a first-time
/// entrant and put them in a reoffending cohort. Triage and community
/// resolution are diversion, not cautions; remand is not a disposal.
pub fn is_caution_or_conviction(disposal: pb::Disposal) -> bool {
    matches!(
        disposal,
        pb::Disposal::YouthCaution
            | pb::Disposal::YouthConditionalCaution
            | pb::Disposal::ReferralOrder
            | pb::Disposal::YouthRehabilitationOrder
            | pb::Disposal::Custody
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, corrects: &str) -> pb::Event {
        pb::Event { event_id: id.into(), corrects: corrects.into(), ..Default::default() }
    }

    #[test]
    fn corrections_replace_and_replays_count_once() {
        let mut r: Records<u32> = Records::default();
        r.apply(&event("a", ""), |_, _| Some(1));
        r.apply(&event("a", ""), |_, _| Some(1));
        assert_eq!(r.by_key.len(), 1);
        r.apply(&event("b", "a"), |_, _| Some(2));
        assert_eq!(r.by_key.keys().collect::<Vec<_>>(), vec!["b"]);
        // The corrected event arriving again changes nothing.
        r.apply(&event("a", ""), |_, _| Some(1));
        assert_eq!(r.by_key.keys().collect::<Vec<_>>(), vec!["b"]);
        // Events without ids are kept apart.
        r.apply(&event("", ""), |_, _| Some(3));
        r.apply(&event("", ""), |_, _| Some(3));
        assert_eq!(r.by_key.len(), 3);
        // A correction into an event the projection does not keep removes the original.
        r.apply(&event("c", "b"), |_, _| None);
        assert!(!r.by_key.contains_key("b"));
    }

    #[test]
    fn labels() {
        assert_eq!(disposal_label(pb::Disposal::YouthConditionalCaution as i32), "youth_conditional_caution");
        assert_eq!(disposal_label(99), "unknown");
        assert!(is_caution_or_conviction(pb::Disposal::Custody));
        assert!(!is_caution_or_conviction(pb::Disposal::Triage));
        assert!(!is_caution_or_conviction(pb::Disposal::CommunityResolution));
        assert!(!is_caution_or_conviction(pb::Disposal::Remand));
        assert!(in_borough("Harrow", Some(" harrow")) && !in_borough("Brent", Some("Harrow")));
    }
}
