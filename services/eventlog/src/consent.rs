//! The subjects' consent as the log records it, for the readers (whose
//! every decision takes the consent an event relies on as it stands now) and
//! for the ledger (which refuses an event whose only basis is a consent that
//! is not given, and answers nodes asking where a consent stands).

use concord_core::consent::{self, Consent};
use concord_core::pb;
use concord_log::log::{Log, LogError};

use crate::schema::{BY_CONSENT, decode_entry};

/// The most consent events one consent id may have that are read back.
const MAX_HISTORY: usize = 10_000;

/// The consent events recorded under `consent_id`, in log order.
pub fn history(log: &Log, consent_id: &str) -> Result<Vec<pb::Event>, LogError> {
    let mut to = consent_id.as_bytes().to_vec();
    to.push(0);
    let positions = log.scan_index(BY_CONSENT, consent_id.as_bytes(), &to, 0, MAX_HISTORY)?;
    let mut events = Vec::with_capacity(positions.len());
    for position in positions {
        let Some(entry) = log.get(position)? else { continue };
        // Entries were checked on the way in; one that does not decode cannot give consent.
        if let Ok((_, event)) = decode_entry(&entry.bytes) {
            events.push(event);
        }
    }
    Ok(events)
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
