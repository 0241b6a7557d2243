//! The subjects' consent as the log records it, for the readers (whose
//! every decision takes the consent an event relies on as it stands now) and
//! for the ledger (which refuses an event whose only basis is a consent that
//! is not given, and answers nodes asking where a consent stands).

use std::sync::Arc;

use concord_core::consent::{self, Consent};
use concord_core::pb;
use concord_log::log::{Log, LogError};

use crate::schema::{BY_CONSENT, decode_entry};

/// The most consent events one consent id may have that are read back.
const MAX_HISTORY: usize = 10_000;

/// The consent events recorded under `consent_id`, in log order.
pub fn history(log: &Log, consent_id: &str) -> Result<Vec<pb::Event>, LogError> {
    Ok(read_after(log, consent_id, 0)?.1)
}

/// The consent events recorded under `consent_id` after position `after`,
/// in log order, and the last position read (or `after`).
fn read_after(log: &Log, consent_id: &str, after: u64) -> Result<(u64, Vec<pb::Event>), LogError> {
    let mut to = consent_id.as_bytes().to_vec();
    to.push(0);
    let positions = log.scan_index(BY_CONSENT, consent_id.as_bytes(), &to, after, MAX_HISTORY)?;
    let last = positions.last().copied().unwrap_or(after);
    let mut events = Vec::with_capacity(positions.len());
    for position in positions {
        let Some(entry) = log.get(position)? else { continue };
        // Entries were checked on the way in; one that does not decode cannot give consent.
        if let Ok((_, event)) = decode_entry(&entry.bytes) {
            events.push(event);
        }
    }
    Ok((last, events))
}

/// The consent `event` relies on (its `consent_ref`) as it stands at `now`
/// (milliseconds since the epoch), with `pending` consent events not yet in
/// the log applied after the log's. An event that does not rely on consent
/// gets [`Consent::none`].
pub fn consent_for(log: &Log, event: &pb::Event, pending: &[pb::Event], now: Option<i64>) -> Result<Consent, LogError> {
    if !consent::relies_on_consent(event) || event.consent_ref.is_empty() {
        return Ok(Consent::none());
    }
    let logged = history(log, &event.consent_ref)?;
    Ok(consent::fold(logged.iter().chain(pending), &event.consent_ref, &event.subjects, now))
}

/// Consent histories read from the log and kept for the readers, whose every
/// decision needs the consent its event relies on as it stands now.
///
/// Each history is kept with the log position it is complete through; a
/// lookup once the log has grown reads only the consent's events after that
/// position (usually none: one probe of the index), so a consent withdrawn a
/// moment ago applies to the next decision as before.
pub struct ConsentCache {
    histories: quick_cache::sync::Cache<String, Arc<History>>,
}

/// One consent's events, complete through log position `through`.
struct History {
    through: u64,
    events: Arc<Vec<pb::Event>>,
}

impl ConsentCache {
    /// Keeps the histories of up to `capacity` consents (least recently used
    /// first out).
    pub fn new(capacity: usize) -> Self {
        ConsentCache { histories: quick_cache::sync::Cache::new(capacity.max(1)) }
    }

    /// As [`consent_for`], with no pending events, from the kept history.
    pub fn consent_for(&self, log: &Log, event: &pb::Event, now: Option<i64>) -> Result<Consent, LogError> {
        if !consent::relies_on_consent(event) || event.consent_ref.is_empty() {
            return Ok(Consent::none());
        }
        let history = self.history(log, &event.consent_ref)?;
        Ok(consent::fold(history.events.iter(), &event.consent_ref, &event.subjects, now))
    }

    /// The consent's history as the log stands now.
    fn history(&self, log: &Log, consent_id: &str) -> Result<Arc<History>, LogError> {
        // Read before the index: everything up to `size` is then in what the
        // index gives (and whatever it gives past `size` is complete too).
        let size = log.size();
        let kept = self.histories.get(consent_id);
        if let Some(kept) = &kept
            && kept.through >= size
        {
            return Ok(kept.clone());
        }
        let after = kept.as_ref().map_or(0, |k| k.through);
        let (last, newer) = read_after(log, consent_id, after)?;
        let events = match kept {
            Some(kept) if newer.is_empty() => kept.events.clone(),
            Some(kept) => Arc::new(kept.events.iter().cloned().chain(newer).collect()),
            None => Arc::new(newer),
        };
        let history = Arc::new(History { through: size.max(last), events });
        self.histories.insert(consent_id.to_string(), history.clone());
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use concord_core::consent::ConsentStatus;
    use concord_core::pb::event::Body;
    use concord_log::kv::{self, Engine};
    use concord_log::log::NewEntry;
    use prost::Message;

    use super::*;

    fn person(key: &str) -> pb::SubjectRef {
        pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
    }

    fn consent_event(body: Body) -> pb::Event {
        pb::Event {
            agency_id: "camhs.nwl".into(),
            subjects: vec![person("P-1")],
            body: Some(body),
            ..Default::default()
        }
    }

    /// Appends `event` as the ledger would, indexed by its consent id if any.
    fn append(log: &Log, event: &pb::Event) {
        let signed = pb::SignedEvent { event: event.encode_to_vec(), ..Default::default() };
        let indexes = consent::consent_id_of(event)
            .map(|id| vec![(BY_CONSENT.to_string(), id.as_bytes().to_vec())])
            .unwrap_or_default();
        let entry = NewEntry {
            id: *uuid::Uuid::now_v7().as_bytes(),
            bytes: signed.encode_to_vec(),
            streams: vec![],
            expected: vec![],
            indexes,
        };
        log.append_batch_at(vec![entry], None).unwrap().pop().unwrap().unwrap();
    }

    /// A kept history follows the log: a withdrawal appended after it was
    /// read applies to the next decision, and nothing is counted twice.
    #[test]
    fn kept_consent_follows_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = kv::open(Engine::Redb, dir.path()).unwrap();
        let log = Log::open(store, "concord.test/consent", ed25519_dalek::SigningKey::from_bytes(&[7; 32])).unwrap();
        let relying = pb::Event {
            subjects: vec![person("P-1")],
            lawful_basis: vec![pb::LawfulBasis::Consent as i32],
            consent_ref: "C-1".into(),
            ..Default::default()
        };
        let cache = ConsentCache::new(16);
        let status = |cache: &ConsentCache| cache.consent_for(&log, &relying, None).unwrap().status;
        let fresh = || consent_for(&log, &relying, &[], None).unwrap().status;
        assert_eq!(status(&cache), ConsentStatus::None);

        append(
            &log,
            &consent_event(Body::ConsentRecorded(pb::ConsentRecorded {
                consent_id: "C-1".into(),
                given_by: pb::ConsentGiver::Child as i32,
                purposes: vec![pb::Purpose::Safeguarding as i32],
                ..Default::default()
            })),
        );
        assert_eq!((status(&cache), fresh()), (ConsentStatus::Given, ConsentStatus::Given));
        // Other events after it change nothing, read again or not.
        append(&log, &relying);
        assert_eq!(status(&cache), ConsentStatus::Given);
        assert_eq!(status(&cache), ConsentStatus::Given);

        append(&log, &consent_event(Body::ConsentWithdrawn(pb::ConsentWithdrawn { consent_id: "C-1".into() })));
        assert_eq!((status(&cache), fresh()), (ConsentStatus::Withdrawn, ConsentStatus::Withdrawn));
        let kept = cache.histories.get("C-1").unwrap();
        assert_eq!((kept.events.len(), kept.through), (2, log.size()), "each consent event once");
    }
}
