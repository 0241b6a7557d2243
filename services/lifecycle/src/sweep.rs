//! The retention sweep's plan: which subjects' retention has ended.
//!
//! One pass over the log gathers, for each subject, their last event and the
//! rules their events fall under; a subject is due once every one of those
//! rules' periods has ended. Dates of birth are read (unsealed) only for
//! subjects whose rules need one, and never leave this module.

use std::collections::{BTreeMap, BTreeSet};

use concord_core::seal::{self, SubjectKeys};
use concord_core::{SubjectId, millis, pb};
use concord_eventlog::decode_entry;
use concord_log::log::Log;
use jiff::civil::Date;

use crate::retention::{Clause, RetentionRules};

/// Why a sweep could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The log could not be read.
    #[error("the event log cannot be read: {0}")]
    Log(#[from] concord_log::log::LogError),
    /// An entry does not decode.
    #[error("log entry {position} does not decode: {reason}")]
    Corrupt {
        /// Where.
        position: u64,
        /// Why.
        reason: String,
    },
    /// The subject key store failed.
    #[error("{0}")]
    Keys(#[from] seal::SealError),
}

/// A subject whose retention has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Who.
    pub subject: SubjectId,
    /// The rule whose period ended last, as written.
    pub rule: String,
    /// When that period ended (milliseconds).
    pub at: i64,
}

/// What the rules say at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Subjects holding personal data (with a data key) that were examined.
    pub examined: usize,
    /// Subjects whose every period has ended, by subject.
    pub due: Vec<Due>,
    /// Subjects kept because a period needs a date of birth nobody recorded.
    pub undetermined: Vec<SubjectId>,
}

/// What one pass over the log learns about a subject.
#[derive(Default)]
struct Facts {
    /// The latest time of any of their events (occurred or recorded).
    last: i64,
    /// The rules their events fall under (indexes into the rules).
    rules: BTreeSet<usize>,
}

/// How many entries are read from the log at a time.
const BATCH: usize = 1024;

/// Which subjects' retention has ended at `at` (milliseconds), under `rules`.
/// Subjects without a data key (already erased, or never holding personal
/// data) have nothing to erase and are left out.
pub fn plan(log: &Log, rules: &RetentionRules, keys: &dyn SubjectKeys, at: i64) -> Result<Plan, SweepError> {
    let mut subjects: BTreeMap<SubjectId, Facts> = BTreeMap::new();
    let mut after = 0;
    loop {
        let entries = log.read_from(after, BATCH)?;
        let Some(last) = entries.last() else { break };
        after = last.position;
        for entry in entries {
            let (_, event) = decode_entry(&entry.bytes)
                .map_err(|e| SweepError::Corrupt { position: entry.position, reason: e.to_string() })?;
            let when = [&event.occurred_at, &event.recorded_at].into_iter().flatten().map(millis).max();
            let rule = rules.rule_for(&event).number - 1;
            for subject in &event.subjects {
                let Ok(subject) = SubjectId::from_ref(subject) else { continue };
                let facts = subjects.entry(subject).or_default();
                facts.last = facts.last.max(when.unwrap_or(i64::MIN));
                facts.rules.insert(rule);
            }
        }
    }
    let mut plan = Plan::default();
    for (subject, facts) in subjects {
        if keys.data_key(&subject)?.is_none() {
            continue;
        }
        plan.examined += 1;
        let person = subject.kind() == pb::SubjectKind::Person;
        let needs_birth = person
            && facts
                .rules
                .iter()
                .any(|&r| rules.rules()[r].keep.clauses().iter().any(|c| matches!(c, Clause::UntilAge(_))));
        let born = if needs_birth { date_of_birth(log, keys, &subject)? } else { None };
        let mut latest: Option<(i64, usize)> = None;
        let mut undetermined = false;
        for &r in &facts.rules {
            match rules.rules()[r].keep.ends(facts.last, born, person) {
                Some(end) => latest = latest.max(Some((end, r))),
                None => undetermined = true,
            }
        }
        match latest {
            _ if undetermined => plan.undetermined.push(subject),
            Some((end, r)) if end <= at => {
                plan.due.push(Due { subject, rule: rules.rules()[r].to_string(), at: end });
            }
            _ => {}
        }
    }
    Ok(plan)
}

/// The subject's date of birth as their most recent event that records one
/// gives it (a correction may have changed it), if any.
fn date_of_birth(log: &Log, keys: &dyn SubjectKeys, subject: &SubjectId) -> Result<Option<Date>, SweepError> {
    let mut born = None;
    let mut after = 0;
    loop {
        let versions = log.stream(&subject.stream(), after, BATCH)?;
        let Some(&(last, _)) = versions.last() else { break };
        after = last;
        for (_, position) in versions {
            let Some(entry) = log.get(position)? else { continue };
            let (_, mut event) =
                decode_entry(&entry.bytes).map_err(|e| SweepError::Corrupt { position, reason: e.to_string() })?;
            seal::unseal(&mut event, keys)?;
            let recorded = event.personal.iter().flat_map(|p| &p.identities).filter(|i| i.subject_key == subject.key());
            for identity in recorded {
                if let Ok(date) = identity.date_of_birth.trim().parse::<Date>() {
                    born = Some(date);
                }
            }
        }
    }
    Ok(born)
}
