//! Events named by their positions in the event log: how a replay batch's
//! record says what it showed in a bit per event over the range it read
//! ([`pb::ShownPositions`]), instead of an id and subjects per event, so the
//! audit log grows by bits, not by kilobytes, for each replayed event. Such
//! a record is indexed by each block of [`POSITION_BLOCK`] positions it
//! shows an event in ([`crate::BY_BLOCK`]), and the auditors' questions
//! about an event or a subject ([`About`]) are answered from these records as
//! from the records that list their events one by one.

use std::collections::BTreeSet;

use concord_core::{EventId, SubjectId, pb};
use concord_log::log::Log;
use prost::Message;

use crate::{AuditError, AuditLog, BY_BLOCK, BY_SUBJECT};

/// Positions per block of the [`BY_BLOCK`] index.
pub const POSITION_BLOCK: u64 = 4096;

/// The record of a batch that read positions `(after, through]` and showed
/// `shown` of them (ascending, each in that range), at `visibility`, with
/// these event types. A position outside the range is not recorded.
pub fn shown_positions(
    after: u64,
    through: u64,
    shown: &[u64],
    visibility: pb::Visibility,
    event_types: impl IntoIterator<Item = String>,
) -> pb::ShownPositions {
    let width = usize::try_from(through.saturating_sub(after)).unwrap_or(usize::MAX);
    let mut bits = vec![0u8; width.div_ceil(8)];
    for &position in shown.iter().filter(|&&p| p > after && p <= through) {
        let Ok(i) = usize::try_from(position - after - 1) else { continue };
        bits[i / 8] |= 1 << (i % 8);
    }
    // Trailing empty bytes say nothing.
    while bits.last() == Some(&0) {
        bits.pop();
    }
    let types: BTreeSet<String> = event_types.into_iter().collect();
    pb::ShownPositions { after, through, bits, visibility: visibility as i32, event_types: types.into_iter().collect() }
}

/// The positions `positions` shows, ascending.
pub fn shown(positions: &pb::ShownPositions) -> impl Iterator<Item = u64> + '_ {
    positions.bits.iter().enumerate().flat_map(move |(byte, &bits)| {
        (0..8u64).filter(move |bit| bits & (1 << bit) != 0).map(move |bit| positions.after + 1 + byte as u64 * 8 + bit)
    })
}

/// Whether `positions` shows the event at `position`.
pub fn shows(positions: &pb::ShownPositions, position: u64) -> bool {
    let Some(i) = position.checked_sub(positions.after + 1) else { return false };
    position <= positions.through
        && usize::try_from(i / 8)
            .ok()
            .and_then(|byte| positions.bits.get(byte))
            .is_some_and(|bits| bits & (1 << (i % 8)) != 0)
}

/// Checks that a stored or arriving record's positions are well formed: its
/// bits stay within its range.
pub(crate) fn check(positions: &pb::ShownPositions) -> Result<(), String> {
    let width = positions
        .through
        .checked_sub(positions.after)
        .ok_or_else(|| format!("shown_positions: through {} is before after {}", positions.through, positions.after))?;
    if positions.bits.len() as u64 > width.div_ceil(8) {
        return Err(format!(
            "shown_positions: {} bytes of bits for {width} positions (at most {})",
            positions.bits.len(),
            width.div_ceil(8)
        ));
    }
    if shown(positions).last().is_some_and(|last| last > positions.through) {
        return Err(format!("shown_positions: a bit is set beyond position {}", positions.through));
    }
    Ok(())
}

/// The [`BY_BLOCK`] index values of a record's positions: each block it shows
/// an event in, once.
pub(crate) fn blocks(positions: &pb::ShownPositions) -> BTreeSet<u64> {
    shown(positions).map(|p| p / POSITION_BLOCK).collect()
}

/// The [`BY_BLOCK`] index value of block `block`.
pub(crate) fn block_value(block: u64) -> Vec<u8> {
    block.to_be_bytes().to_vec()
}

/// What an auditor asks about (an event, or a subject), located in the event
/// log: records listing its events are found under its subjects
/// ([`BY_SUBJECT`]), records naming positions under the blocks of its
/// positions ([`BY_BLOCK`]).
#[derive(Debug, Clone)]
pub struct About {
    /// The subjects a record about it is indexed under.
    subjects: Vec<Vec<u8>>,
    /// For an event: the id a record must list (shown or added).
    event_id: Option<String>,
    /// Where its events are in the event log.
    positions: Vec<u64>,
}

impl About {
    /// The event `event_id`, located in `events` (the event log). An event
    /// the log does not hold was shown to nobody.
    pub fn event(events: &Log, event_id: &str) -> Result<About, AuditError> {
        let position = match EventId::parse(event_id) {
            Ok(id) => events.position_of(id.as_bytes())?,
            Err(_) => None,
        };
        let mut subjects = Vec::new();
        if let Some(entry) = position.map(|p| events.get(p)).transpose()?.flatten() {
            let corrupt =
                |e: prost::DecodeError| AuditError::Corrupt { position: entry.position, reason: e.to_string() };
            let signed = pb::SignedEvent::decode(entry.bytes.as_slice()).map_err(corrupt)?;
            let event = pb::Event::decode(signed.event.as_slice()).map_err(corrupt)?;
            let of = event.subjects.iter().filter_map(|s| SubjectId::from_ref(s).ok());
            subjects = of.map(|s| s.to_string().into_bytes()).collect::<BTreeSet<_>>().into_iter().collect();
        }
        Ok(About { subjects, event_id: Some(event_id.to_string()), positions: position.into_iter().collect() })
    }

    /// Every event about `subject` in `events` (the event log).
    pub fn subject(events: &Log, subject: &SubjectId) -> Result<About, AuditError> {
        let positions = events.stream(&subject.stream(), 0, usize::MAX)?.into_iter().map(|(_, p)| p).collect();
        Ok(About { subjects: vec![subject.to_string().into_bytes()], event_id: None, positions })
    }

    /// Whether `record`, found under one of the subjects, is about this.
    fn listed_in(&self, record: &pb::AccessRecord) -> bool {
        self.event_id.as_ref().is_none_or(|id| record.shown.iter().chain(&record.added).any(|s| s.event_id == *id))
    }
}

impl AuditLog {
    /// Records that showed (or added, erased or asked about) what `about`
    /// names, after audit position `after`, oldest first, at most `limit`.
    pub fn find_about(
        &self,
        about: &About,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::AccessRecord)>, AuditError> {
        let mut found = Vec::new();
        for subject in &about.subjects {
            found.extend(self.matching(BY_SUBJECT, subject, after, limit, |r| about.listed_in(r))?);
        }
        let mut blocks: Vec<(u64, Vec<u64>)> = Vec::new();
        for &position in &about.positions {
            let block = position / POSITION_BLOCK;
            match blocks.last_mut() {
                Some((b, in_block)) if *b == block => in_block.push(position),
                _ => blocks.push((block, vec![position])),
            }
        }
        for (block, in_block) in blocks {
            let shows_one = |record: &pb::AccessRecord| {
                record.shown_positions.as_ref().is_some_and(|shown| in_block.iter().any(|&p| shows(shown, p)))
            };
            found.extend(self.matching(BY_BLOCK, &block_value(block), after, limit, shows_one)?);
        }
        // Each source gave its oldest `limit`: the oldest `limit` of them all
        // are the answer.
        found.sort_by_key(|(position, _)| *position);
        found.dedup_by_key(|(position, _)| *position);
        found.truncate(limit);
        Ok(found)
    }

    /// The first `limit` records after `after` under `value` of `index` that
    /// `keep` keeps, oldest first.
    fn matching(
        &self,
        index: &str,
        value: &[u8],
        mut after: u64,
        limit: usize,
        keep: impl Fn(&pb::AccessRecord) -> bool,
    ) -> Result<Vec<(u64, pb::AccessRecord)>, AuditError> {
        let mut found = Vec::new();
        while found.len() < limit {
            let candidates = self.find(index, value, after, 256)?;
            let Some(&(last, _)) = candidates.last() else { break };
            found.extend(candidates.into_iter().filter(|(_, record)| keep(record)));
            after = last;
        }
        found.truncate(limit);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use concord_log::kv::{Engine, open};
    use concord_log::log::NewEntry;
    use prost::Message;

    use super::*;
    use crate::{AUDIT_LOG_ORIGIN, Recorder};

    #[test]
    fn positions_are_a_bit_each_and_read_back_exactly() {
        let shown_at = [3, 4, 10, 4_500, 4_501];
        let positions = shown_positions(2, 5_000, &shown_at, pb::Visibility::Pseudonymised, ["arrest".into()]);
        assert_eq!(super::shown(&positions).collect::<Vec<_>>(), shown_at);
        for p in 0..5_100 {
            assert_eq!(shows(&positions, p), shown_at.contains(&p), "position {p}");
        }
        assert_eq!(blocks(&positions).into_iter().collect::<Vec<_>>(), [0, 1]);
        check(&positions).unwrap();
        // Outside the range: not recorded.
        let outside = shown_positions(10, 20, &[5, 10, 21], pb::Visibility::Pseudonymised, []);
        assert_eq!(super::shown(&outside).count(), 0);
        // Malformed: bits beyond the range, a range ending before it starts.
        let beyond = pb::ShownPositions { after: 0, through: 4, bits: vec![0b1_0000], ..Default::default() };
        assert!(check(&beyond).unwrap_err().contains("beyond"));
        let backwards = pb::ShownPositions { after: 9, through: 4, ..Default::default() };
        assert!(check(&backwards).unwrap_err().contains("before"));
    }

    #[test]
    fn a_batch_of_thousands_of_events_is_recorded_in_a_few_hundred_bytes() {
        // What a replay batch of 4,500 events shown out of 5,000 read costs.
        let shown_at: Vec<u64> = (1..=5_000).filter(|p| p % 10 != 0).collect();
        let types = ["arrest", "missing_episode", "outcome"].map(String::from);
        let record = pb::AccessRecord {
            shown_positions: Some(shown_positions(0, 5_000, &shown_at, pb::Visibility::Pseudonymised, types)),
            ..Default::default()
        };
        let bytes = record.encoded_len();
        assert!(bytes <= 5_000 / 8 + 64, "{bytes} bytes for 4,500 events");
        let entry = crate::entry_for(&crate::complete(record)).unwrap();
        let by_block = entry.indexes.iter().filter(|(index, _)| index == BY_BLOCK).count();
        assert_eq!(by_block, 2, "one index entry per block of {POSITION_BLOCK} positions");
    }

    fn person(key: &str) -> pb::SubjectRef {
        pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
    }

    /// An event log of `size` events, about person P-1 at the positions
    /// `of_p1` and about P-2 elsewhere.
    fn event_log(dir: &std::path::Path, size: u64, of_p1: &[u64]) -> (Log, Vec<EventId>) {
        let log = Log::open(open(Engine::Redb, dir).unwrap(), "concord.local/test", key()).unwrap();
        let ids: Vec<EventId> = (0..size).map(|_| EventId::new_v7()).collect();
        let entries = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let key = if of_p1.contains(&(i as u64 + 1)) { "P-1" } else { "P-2" };
                let event = pb::Event { event_id: id.to_string(), subjects: vec![person(key)], ..Default::default() };
                let signed = pb::SignedEvent { event: event.encode_to_vec(), ..Default::default() };
                NewEntry {
                    id: *id.as_bytes(),
                    bytes: signed.encode_to_vec(),
                    streams: vec![format!("person/{key}")],
                    ..Default::default()
                }
            })
            .collect();
        log.append_batch(entries).unwrap();
        (log, ids)
    }

    fn key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[7; 32])
    }

    #[tokio::test]
    async fn auditors_find_records_by_event_and_subject_whether_they_list_events_or_name_positions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("events")).unwrap();
        std::fs::create_dir(dir.path().join("audit")).unwrap();
        let (events, ids) = event_log(&dir.path().join("events"), 10_000, &[5, 9_000]);
        let audit = AuditLog::new(Arc::new(
            Log::open(open(Engine::Redb, &dir.path().join("audit")).unwrap(), AUDIT_LOG_ORIGIN, key()).unwrap(),
        ));
        let recorder = Recorder::local(&audit);
        let listing = |event: usize| pb::ShownEvent {
            event_id: ids[event - 1].to_string(),
            subjects: vec![person("P-1")],
            ..Default::default()
        };
        let replayed = |after, through, shown: &[u64]| pb::AccessRecord {
            shown_positions: Some(shown_positions(after, through, shown, pb::Visibility::Pseudonymised, [])),
            ..Default::default()
        };
        // Audit positions 1..=6: a timeline listing event 5; a replay batch
        // showing every position of 1..=5000 but 5; one showing 5; a
        // replay of 5001..=10000 showing 9000; one withholding it; a
        // timeline listing P-1's other event, 9000.
        let all_but_5: Vec<u64> = (1..=5_000).filter(|&p| p != 5).collect();
        let records = [
            pb::AccessRecord { shown: vec![listing(5)], ..Default::default() },
            replayed(0, 5_000, &all_but_5),
            replayed(0, 5_000, &[5]),
            replayed(5_000, 10_000, &[9_000]),
            replayed(5_000, 10_000, &[8_999, 9_001]),
            pb::AccessRecord { shown: vec![listing(9_000)], ..Default::default() },
        ];
        for record in records {
            recorder.record(record).await.unwrap();
        }
        let positions = |found: Vec<(u64, pb::AccessRecord)>| found.into_iter().map(|(p, _)| p).collect::<Vec<_>>();

        let about_5 = About::event(&events, &ids[4].to_string()).unwrap();
        assert_eq!(positions(audit.find_about(&about_5, 0, 100).unwrap()), [1, 3]);
        let about_9000 = About::event(&events, &ids[8_999].to_string()).unwrap();
        assert_eq!(positions(audit.find_about(&about_9000, 0, 100).unwrap()), [4, 6]);
        let about_p1 = About::subject(&events, &SubjectId::from_ref(&person("P-1")).unwrap()).unwrap();
        assert_eq!(positions(audit.find_about(&about_p1, 0, 100).unwrap()), [1, 3, 4, 6]);
        // Paged: after a position, and at most `limit`.
        assert_eq!(positions(audit.find_about(&about_p1, 1, 1).unwrap()), [3]);
        assert_eq!(positions(audit.find_about(&about_p1, 3, 100).unwrap()), [4, 6]);
        // P-2's events were shown by the replay batches 2 and 5.
        let about_p2 = About::subject(&events, &SubjectId::from_ref(&person("P-2")).unwrap()).unwrap();
        assert_eq!(positions(audit.find_about(&about_p2, 0, 100).unwrap()), [2, 5]);
        // An event the log does not hold was shown to nobody.
        let unknown = About::event(&events, "not-an-event").unwrap();
        assert!(audit.find_about(&unknown, 0, 100).unwrap().is_empty());
    }
}
