//! The event log's schema: how an event becomes a log entry (its streams,
//! expected versions and index values) and how an entry decodes back,
//! shared by the ledger (which writes entries) and the readers.

use concord_core::ids::{agency_stream, item_stream};
use concord_core::pb;
use concord_core::sign::VerifiedEvent;
use concord_core::validate::Checked;
use concord_core::{AgencyId, EventId, EventType, SubjectId};
use concord_log::log::{Log, LogError, NewEntry};
use prost::Message;

/// Index of events by type; values are type names, e.g. `arrest`.
pub const BY_TYPE: &str = "type";
/// Index of events by publishing agency id.
pub const BY_AGENCY: &str = "agency";
/// Indexes earlier versions wrote and nothing reads: `ward` (events by
/// `borough/ward`; Search filters by ward as it scans).
pub const DROPPED: &[&str] = &["ward"];
/// Index of events by event time ([`time_value`]).
pub const BY_OCCURRED: &str = "occurred";
/// Index of events by report time ([`time_value`]).
pub const BY_RECORDED: &str = "recorded";
/// Index of consent events (recorded and withdrawn) by consent id.
pub const BY_CONSENT: &str = "consent";
/// Index of corrections by the id of the event they correct.
pub const BY_CORRECTS: &str = "corrects";

/// A timestamp as an index value that sorts in time order (milliseconds since
/// the epoch, big-endian with the sign bit flipped).
pub fn time_value(ts: &pbjson_types::Timestamp) -> [u8; 8] {
    concord_core::sortable_time(ts)
}

/// The log entry for a verified event: the signed bytes exactly as received,
/// its streams, expected versions and index values.
///
/// The event is in each of its subjects' streams (a subject's timeline) and,
/// for its publishing agency, in that agency's stream of each subject and of
/// its briefing item ([`agency_stream`]). Its expected versions are checked
/// against the agency's streams only, so optimistic concurrency never tells a
/// publisher about events of other agencies (see [`agency_stream`] for why).
pub fn entry_for(verified: &VerifiedEvent) -> NewEntry {
    let event = &verified.event;
    let checked = &verified.checked;
    let mut indexes = vec![
        (BY_TYPE.to_string(), checked.event_type.as_str().as_bytes().to_vec()),
        (BY_AGENCY.to_string(), checked.agency.as_str().as_bytes().to_vec()),
    ];
    if let Some(t) = &event.occurred_at {
        indexes.push((BY_OCCURRED.to_string(), time_value(t).to_vec()));
    }
    if let Some(t) = &event.recorded_at {
        indexes.push((BY_RECORDED.to_string(), time_value(t).to_vec()));
    }
    if let Some(id) = concord_core::consent::consent_id_of(event) {
        indexes.push((BY_CONSENT.to_string(), id.as_bytes().to_vec()));
    }
    if !event.corrects.is_empty() {
        indexes.push((BY_CORRECTS.to_string(), event.corrects.as_bytes().to_vec()));
    }
    let agency = checked.agency.as_str();
    let expected = event
        .expected_versions
        .iter()
        .filter_map(|ev| {
            if !ev.item_id.is_empty() {
                return Some((agency_stream(agency, &item_stream(&ev.item_id)), ev.version));
            }
            let subject = concord_core::SubjectId::from_ref(ev.subject.as_ref()?).ok()?;
            Some((agency_stream(agency, &subject.stream()), ev.version))
        })
        .collect();
    let mut streams: Vec<String> = checked.subjects.iter().map(|s| s.stream()).collect();
    streams.extend(checked.subjects.iter().map(|s| agency_stream(agency, &s.stream())));
    if let Some(pb::event::Body::VveBriefingItem(item)) = &event.body {
        streams.push(agency_stream(agency, &item_stream(&item.item_id)));
    }
    NewEntry { id: *checked.id.as_bytes(), bytes: verified.signed.encode_to_vec(), streams, expected, indexes }
}

/// Why a stored event cannot be read back into its log entry.
#[derive(Debug, thiserror::Error)]
pub enum StoredEventError {
    /// The bytes are not a signed event.
    #[error("not a signed event: {0}")]
    Decode(#[from] prost::DecodeError),
    /// An id the ledger parsed before appending it does not parse.
    #[error("{field}: {source}")]
    Id {
        /// Which field.
        field: &'static str,
        /// Why.
        source: concord_core::IdError,
    },
    /// The event has no body.
    #[error("the event has no body")]
    NoBody,
}

/// The log entry the ledger appended for a stored event, from its stored
/// bytes, by [`entry_for`] itself: what `concord audit verify` checks the
/// ids, streams and indexes against. The facts `entry_for` takes from
/// validation are read again with the same parsers, but the event is not
/// validated again: rules and schema versions change, and an event the
/// ledger accepted then must still verify.
pub fn entry_for_stored(bytes: &[u8]) -> Result<NewEntry, StoredEventError> {
    let (signed, event) = decode_entry(bytes)?;
    let id = |field| move |source| StoredEventError::Id { field, source };
    let checked = Checked {
        id: EventId::parse(&event.event_id).map_err(id("event_id"))?,
        agency: AgencyId::parse(&event.agency_id).map_err(id("agency_id"))?,
        event_type: EventType::of(event.body.as_ref().ok_or(StoredEventError::NoBody)?),
        subjects: event.subjects.iter().map(SubjectId::from_ref).collect::<Result<_, _>>().map_err(id("subjects"))?,
    };
    Ok(entry_for(&VerifiedEvent { event, signed, checked }))
}

/// Decodes a stored entry back into the signed event and the event.
pub fn decode_entry(bytes: &[u8]) -> Result<(pb::SignedEvent, pb::Event), prost::DecodeError> {
    let signed = pb::SignedEvent::decode(bytes)?;
    let event = pb::Event::decode(signed.event.as_slice())?;
    Ok((signed, event))
}

/// Brings a log an older version wrote up to date: removes the rows of the
/// [`DROPPED`] indexes (derived rows only: every entry, stream, proof and
/// checkpoint stays, and `concord audit verify` then finds the indexes as
/// [`entry_for`] makes them). Returns how many rows were removed.
pub fn upgrade(log: &Log) -> Result<u64, LogError> {
    let mut removed = 0;
    for index in DROPPED {
        removed += log.drop_index(index)?;
    }
    Ok(removed)
}
