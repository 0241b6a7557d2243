//! Cohorts as the log records them: an agency's named list of people,
//! places or vehicles (its YOT caseload, an exploitation cohort, a hotspot
//! list), grown and shrunk by its own `cohort_changed` events. Another
//! agency's events never change it.

use std::collections::BTreeSet;

use concord_core::{AgencyId, EventType, SubjectId, pb};
use concord_log::log::{Log, LogError};

use crate::schema::{BY_TYPE, decode_entry};

/// One agency's cohort, as of the events applied to it.
#[derive(Debug, Clone)]
pub struct Cohort {
    agency: AgencyId,
    name: String,
    members: BTreeSet<SubjectId>,
}

impl Cohort {
    /// `agency`'s cohort `name` as the events at positions up to `upto` make it.
    pub fn read(log: &Log, agency: &AgencyId, name: &str, upto: u64) -> Result<Cohort, LogError> {
        let value = EventType::CohortChanged.as_str().as_bytes();
        let mut to = value.to_vec();
        to.push(0);
        let positions: Vec<u64> =
            log.scan_index(BY_TYPE, value, &to, 0, usize::MAX)?.into_iter().filter(|p| *p <= upto).collect();
        let mut cohort = Cohort { agency: agency.clone(), name: name.to_string(), members: BTreeSet::new() };
        for (position, entry) in positions.iter().zip(log.get_many(&positions)?) {
            let entry = entry.ok_or_else(|| LogError::Corrupt(format!("indexed entry {position} is missing")))?;
            let (_, event) = decode_entry(&entry.bytes)
                .map_err(|e| LogError::Corrupt(format!("entry {position} does not decode: {e}")))?;
            cohort.apply(&event);
        }
        Ok(cohort)
    }

    /// Applies `event` if it changes this cohort (its agency's, under its name).
    pub fn apply(&mut self, event: &pb::Event) {
        let Some(pb::event::Body::CohortChanged(change)) = &event.body else { return };
        if event.agency_id != self.agency.as_str() || change.cohort != self.name {
            return;
        }
        for subject in event.subjects.iter().filter_map(|s| SubjectId::from_ref(s).ok()) {
            if change.removed {
                self.members.remove(&subject);
            } else {
                self.members.insert(subject);
            }
        }
    }

    /// Whether any of `subjects` is a member.
    pub fn includes_any(&self, subjects: &[pb::SubjectRef]) -> bool {
        subjects.iter().filter_map(|s| SubjectId::from_ref(s).ok()).any(|s| self.members.contains(&s))
    }

    /// The members, in order.
    pub fn members(&self) -> impl Iterator<Item = &SubjectId> {
        self.members.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(agency: &str, cohort: &str, removed: bool, keys: &[&str]) -> pb::Event {
        pb::Event {
            agency_id: agency.into(),
            subjects: keys
                .iter()
                .map(|k| pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: (*k).into() })
                .collect(),
            body: Some(pb::event::Body::CohortChanged(pb::CohortChanged { cohort: cohort.into(), removed })),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_agencys_own_events_under_the_name_change_its_cohort() {
        let yot = AgencyId::parse("yot.harrow").unwrap();
        let mut cohort = Cohort { agency: yot, name: "caseload".into(), members: BTreeSet::new() };
        cohort.apply(&change("yot.harrow", "caseload", false, &["P-1", "P-2"]));
        cohort.apply(&change("police.met.nw", "caseload", false, &["P-3"]));
        cohort.apply(&change("yot.harrow", "exploitation", false, &["P-4"]));
        cohort.apply(&change("yot.harrow", "caseload", true, &["P-1"]));
        let keys: Vec<&str> = cohort.members().map(|s| s.key()).collect();
        assert_eq!(keys, ["P-2"]);
        let p = |k: &str| pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: k.into() };
        assert!(cohort.includes_any(&[p("P-9"), p("P-2")]));
        assert!(!cohort.includes_any(&[p("P-1"), p("P-3"), p("P-4")]));
    }
}
