//! Turning stored entries into what one reader may see.
//!
//! Entries are decoded, paired with the consent each relies on as it stands
//! now, decided in one batch by the policy, then shown
//! (personal data unsealed), redacted (personal data and health detail
//! removed) or dropped. Only shown events are ever unsealed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use concord_core::ids::{agency_stream, item_stream};
use concord_core::pb;
use concord_core::seal::{self, KeysOnce, OpenedKeys, SubjectKeys};
use concord_core::sensitivity::withhold_health_detail;
use concord_identity::Principal;

use concord_eventlog::{BY_CORRECTS, ConsentCache, decode_entry};
use concord_log::log::Log;
use tonic::Status;

use concord_audit::Recorder;
use concord_core::consent::Consent;
use concord_policy::{Decision, Explanation, Facts, Policy};

/// Everything needed to show events to readers.
pub struct Views {
    log: Arc<Log>,
    policy: RwLock<Arc<dyn Policy>>,
    keys: Arc<dyn SubjectKeys>,
    opened: OpenedKeys,
    recorder: Arc<Recorder>,
    consents: ConsentCache,
}

/// How many consents' histories readers keep at hand (a few events each).
const CONSENTS: usize = 4096;

/// How many sealed records' keys a reader remembers in memory unless told
/// where else (see [`Views::remembering`]): about 80 bytes each.
const OPENED_KEYS: usize = 100_000;

/// The visible part of a batch of entries.
#[derive(Debug, Default)]
pub struct Visible {
    /// Events shown, in the order asked.
    pub events: Vec<pb::EventView>,
    /// How many were withheld.
    pub withheld: usize,
    /// The agreement that decided (recorded with the read).
    pub policy_hash: String,
}

/// A log or store failure while reading, as a gRPC status.
pub fn storage_unavailable(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "read failed");
    Status::unavailable(format!("the event store is unavailable: {e}"))
}

impl Views {
    /// Views over a log, deciding with `policy`, unsealing with `keys` and
    /// recording every read with `recorder`.
    pub fn new(log: Arc<Log>, policy: Arc<dyn Policy>, keys: Arc<dyn SubjectKeys>, recorder: Arc<Recorder>) -> Self {
        let opened = OpenedKeys::new(Arc::new(seal::InMemory::new(OPENED_KEYS)));
        Views { log, policy: RwLock::new(policy), keys, opened, recorder, consents: ConsentCache::new(CONSENTS) }
    }

    /// Remembers the keys of the sealed records it opens in `opened` (e.g.
    /// on disk, [`concord_vault::OpenedStore`]) rather than in memory.
    pub fn remembering(mut self, opened: OpenedKeys) -> Self {
        self.opened = opened;
        self
    }

    /// Opens the sealed records of up to `limit` entries after those opened
    /// ahead so far, remembering their keys, so that readers find every
    /// record's key ready (no key agreement on any read); returns how many
    /// entries it went through (0: it has caught up with the log). Nothing
    /// is shown to anyone: no record is made.
    pub fn open_ahead(&self, limit: usize) -> Result<usize, Status> {
        let entries = self.log.read_from(self.opened.cursor(), limit).map_err(storage_unavailable)?;
        let keys = KeysOnce::new(self.keys.as_ref());
        for entry in &entries {
            let mut decoded = Decoded::of(entry.position, &entry.bytes)?;
            if !decoded.event.sealed.is_empty() {
                seal::unseal_remembering(&mut decoded.event, &keys, Some(&self.opened)).map_err(storage_unavailable)?;
            }
        }
        if let Some(last) = entries.last() {
            self.opened.set_cursor(last.position);
        }
        Ok(entries.len())
    }

    /// Opens `event`'s sealed records in place, with the keys of records
    /// opened before (see [`Views::open_ahead`]). For the read side's own
    /// derived indexes (the directory's keyed hashes), never for a reader:
    /// what a reader gets goes through [`Views::decide`].
    pub fn unseal(&self, event: &mut pb::Event) -> Result<seal::Unsealed, Status> {
        let keys = KeysOnce::new(self.keys.as_ref());
        seal::unseal_remembering(event, &keys, Some(&self.opened)).map_err(storage_unavailable)
    }

    /// Where every read is recorded before it is released.
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// The log read from.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// The policy deciding now.
    pub fn policy(&self) -> Arc<dyn Policy> {
        // A poisoned lock still holds a whole policy: it is only ever swapped.
        self.policy.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts a new agreement in force: every decision from now on, live
    /// subscriptions included, is made by it.
    pub fn set_policy(&self, policy: Arc<dyn Policy>) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    /// The stored bytes of the entry at `position`, which must exist.
    pub fn stored(&self, position: u64) -> Result<Vec<u8>, Status> {
        let entry = self
            .log
            .get(position)
            .map_err(storage_unavailable)?
            .ok_or_else(|| storage_unavailable(format!("position {position} is missing")))?;
        Ok(entry.bytes)
    }

    /// The stored bytes of the entries at `positions`, read together (in
    /// one read transaction); a missing one makes the store unavailable.
    pub fn stored_many(&self, positions: &[u64]) -> Result<Vec<(u64, Vec<u8>)>, Status> {
        let entries = self.log.get_many(positions).map_err(storage_unavailable)?;
        positions
            .iter()
            .zip(entries)
            .map(|(&position, entry)| {
                let entry = entry.ok_or_else(|| storage_unavailable(format!("position {position} is missing")))?;
                Ok((position, entry.bytes))
            })
            .collect()
    }

    /// Loads the entries at `positions` and returns what `principal` may see.
    pub fn load(&self, principal: &Principal, positions: &[u64]) -> Result<Visible, Status> {
        let stored = self.stored_many(positions)?;
        self.decide(principal, stored)
    }

    /// How the agreement decides the event at `position` for `principal`,
    /// with the consent it relies on as it stands now.
    pub fn explain(&self, principal: &Principal, position: u64) -> Result<(Explanation, pb::Event, Consent), Status> {
        let (_, event) = decode_entry(&self.stored(position)?)
            .map_err(|e| storage_unavailable(format!("entry {position} does not decode: {e}")))?;
        let consent = self
            .consents
            .consent_for(&self.log, &event, Some(concord_core::now_millis()))
            .map_err(storage_unavailable)?;
        let explanation = self.policy().explain(principal, Facts { event: &event, consent: &consent });
        Ok((explanation, event, consent))
    }

    /// Decides and shapes already-read entries `(position, bytes)`; a
    /// correction the reader sees comes with what it changed, from → to, if
    /// the reader may see the corrected event too.
    ///
    /// Nothing in a view tells the reader about an event it may not see:
    /// `superseded_by` names only a correction the reader may see; `corrects`
    /// and a re-offence's `original_event_id` are cleared unless the reader
    /// may see the event they name (an event withheld and one not in the log
    /// read the same); `item_version` counts only the item's events the
    /// reader may see, and only for the publishing agency's readers (see
    /// [`Views::item_version`]).
    pub fn decide(&self, principal: &Principal, stored: Vec<(u64, Vec<u8>)>) -> Result<Visible, Status> {
        let decoded =
            stored.into_iter().map(|(position, bytes)| Decoded::of(position, &bytes)).collect::<Result<_, _>>()?;
        self.decide_decoded(principal, decoded)
    }

    /// [`Views::decide`] for entries already decoded.
    pub fn decide_decoded(&self, principal: &Principal, decoded: Vec<Decoded>) -> Result<Visible, Status> {
        let mut visible = self.shape_decoded(principal, decoded, Shaping::Reader)?;
        for view in &mut visible.events {
            view.superseded_by = self.superseded_by(principal, view)?.unwrap_or_default();
            view.item_version = self.item_version(principal, view)?;
            let Some(event) = view.event.as_mut() else { continue };
            self.hide_unseen_original(principal, event)?;
            if event.corrects.is_empty() {
                continue;
            }
            let original = match self.position_of(&event.corrects)? {
                Some(position) => self.load_shaped(principal, position)?.and_then(|v| v.event),
                None => None,
            };
            match original {
                Some(from) => view.changes = crate::correction::changes(&from, event),
                None => event.corrects.clear(),
            }
        }
        Ok(visible)
    }

    /// The position of the event with id `id`, if it is in the log.
    fn position_of(&self, id: &str) -> Result<Option<u64>, Status> {
        let Ok(id) = concord_core::EventId::parse(id) else { return Ok(None) };
        self.log.position_of(id.as_bytes()).map_err(storage_unavailable)
    }

    /// Whether `principal` may see the event with id `id`: decided, never
    /// unsealed. An event not in the log is not seen either.
    fn may_see(&self, principal: &Principal, id: &str) -> Result<bool, Status> {
        let Some(position) = self.position_of(id)? else { return Ok(false) };
        let decided = self.shape(principal, vec![(position, self.stored(position)?)], Shaping::Replay)?;
        Ok(!decided.events.is_empty())
    }

    /// Clears an event's links to other events (a re-offence's original and
    /// proving outcomes, a release's sentence) unless `principal` may see
    /// the event linked to.
    fn hide_unseen_original(&self, principal: &Principal, event: &mut pb::Event) -> Result<(), Status> {
        let links = match &mut event.body {
            Some(pb::event::Body::Reoffence(r)) => vec![&mut r.original_event_id, &mut r.proven_by_event_id],
            Some(pb::event::Body::ReleaseFromCustody(r)) => vec![&mut r.sentence_event_id],
            _ => return Ok(()),
        };
        for link in links {
            if !link.is_empty() && !self.may_see(principal, link)? {
                link.clear();
            }
        }
        Ok(())
    }

    /// A briefing item event's version among the item's events that
    /// `principal` may see, in its publishing agency's stream of the item (0
    /// for other events, and for readers of other agencies, who cannot append
    /// to that stream). A reader who sees all of the item's events gets the
    /// version to pass as its expected version; one who does not gets a
    /// smaller number (and a conflict, on its own agency's stream) rather
    /// than a count of events it may not see.
    fn item_version(&self, principal: &Principal, view: &pb::EventView) -> Result<u64, Status> {
        let Some(event) = view.event.as_ref() else { return Ok(0) };
        let Some(pb::event::Body::VveBriefingItem(item)) = event.body.as_ref() else { return Ok(0) };
        if event.agency_id != principal.agency.as_str() {
            return Ok(0);
        }
        let stream = agency_stream(&event.agency_id, &item_stream(&item.item_id));
        // An item has a handful of events: its stream is read whole.
        let versions = self.log.stream(&stream, 0, usize::MAX).map_err(storage_unavailable)?;
        let mut upto = Vec::new();
        for (_, position) in versions {
            if position > view.position {
                break;
            }
            upto.push((position, self.stored(position)?));
        }
        let seen = self.shape(principal, upto, Shaping::Replay)?.events;
        if !seen.iter().any(|v| v.position == view.position) {
            return Ok(0);
        }
        Ok(seen.len() as u64)
    }

    /// The latest correction of `view`'s event that `principal` may see.
    fn superseded_by(&self, principal: &Principal, view: &pb::EventView) -> Result<Option<String>, Status> {
        let Some(event) = &view.event else { return Ok(None) };
        let id = event.event_id.as_bytes();
        let mut to = id.to_vec();
        to.push(0);
        let corrections = self.log.scan_index(BY_CORRECTS, id, &to, 0, 100).map_err(storage_unavailable)?;
        for &position in corrections.iter().rev() {
            // Only whether the reader may see it matters: decided, never unsealed.
            let decided = self.shape(principal, vec![(position, self.stored(position)?)], Shaping::Replay)?;
            if let Some(correction) = decided.events.into_iter().next().and_then(|v| v.event) {
                return Ok(Some(correction.event_id));
            }
        }
        Ok(None)
    }

    fn load_shaped(&self, principal: &Principal, position: u64) -> Result<Option<pb::EventView>, Status> {
        Ok(self.shape(principal, vec![(position, self.stored(position)?)], Shaping::Reader)?.events.pop())
    }

    /// Decides already-read entries for an analyst's replay: what the
    /// agreement lets `principal` see, always redacted (never unsealed), for
    /// the replay to pseudonymise.
    /// As for readers, a correction's `corrects` and a re-offence's
    /// `original_event_id` are cleared unless the analyst may see the event
    /// they name.
    pub fn decide_for_replay(&self, principal: &Principal, decoded: Vec<Decoded>) -> Result<Visible, Status> {
        let mut visible = self.shape_decoded(principal, decoded, Shaping::Replay)?;
        for event in visible.events.iter_mut().filter_map(|v| v.event.as_mut()) {
            self.hide_unseen_original(principal, event)?;
            if !event.corrects.is_empty() && !self.may_see(principal, &event.corrects)? {
                event.corrects.clear();
            }
        }
        Ok(visible)
    }

    /// Decides and shapes stored entries, without corrections' changes.
    fn shape(&self, principal: &Principal, stored: Vec<(u64, Vec<u8>)>, shaping: Shaping) -> Result<Visible, Status> {
        let decoded =
            stored.into_iter().map(|(position, bytes)| Decoded::of(position, &bytes)).collect::<Result<_, _>>()?;
        self.shape_decoded(principal, decoded, shaping)
    }

    /// How the agreement decides each decoded entry for `principal`, with
    /// the consent each relies on as it stands now, and the agreement's
    /// hash. Nothing is unsealed or shown, so nothing is recorded here: a
    /// caller that releases anything it learnt records it (e.g. the
    /// directory, which finds only subjects a reader may see in full).
    pub fn decisions(&self, principal: &Principal, decoded: &[Decoded]) -> Result<(Vec<Decision>, String), Status> {
        let consents = self.consents_for(decoded, Shaping::Reader)?;
        let facts: Vec<Facts<'_>> =
            decoded.iter().zip(&consents).map(|(Decoded { event, .. }, consent)| Facts { event, consent }).collect();
        let policy = self.policy();
        Ok((policy.decide(principal, &facts), policy.policy_hash().to_string()))
    }

    /// The consent each decoded entry relies on, as it stands now.
    fn consents_for(&self, decoded: &[Decoded], shaping: Shaping) -> Result<Vec<Consent>, Status> {
        let now = concord_core::now_millis();
        // Events in one batch often rely on the same consent: read each once.
        let mut looked_up: HashMap<(&str, &[pb::SubjectRef]), Consent> = HashMap::new();
        let mut consents = Vec::with_capacity(decoded.len());
        for Decoded { event, .. } in decoded {
            let key = (event.consent_ref.as_str(), event.subjects.as_slice());
            let consent = match looked_up.get(&key) {
                Some(c) => c.clone(),
                None => {
                    // A replay sweeps the whole log once: its consents would
                    // only push the ones readers keep asking about out of the cache.
                    let c = match shaping {
                        Shaping::Reader => self.consents.consent_for(&self.log, event, Some(now)),
                        Shaping::Replay => concord_eventlog::consent_for(&self.log, event, &[], Some(now)),
                    }
                    .map_err(storage_unavailable)?;
                    looked_up.insert(key, c.clone());
                    c
                }
            };
            consents.push(consent);
        }
        Ok(consents)
    }

    /// Decides and shapes decoded entries, without corrections' changes.
    fn shape_decoded(&self, principal: &Principal, decoded: Vec<Decoded>, shaping: Shaping) -> Result<Visible, Status> {
        let consents = self.consents_for(&decoded, shaping)?;
        let facts: Vec<Facts<'_>> =
            decoded.iter().zip(&consents).map(|(Decoded { event, .. }, consent)| Facts { event, consent }).collect();
        let policy = self.policy();
        let decisions = policy.decide(principal, &facts);
        // Each subject's key is fetched once for the batch, and for every event
        // shown; the keys of the records to open are recalled together.
        let keys = KeysOnce::new(self.keys.as_ref());
        let opened = match shaping {
            Shaping::Reader => self.opened.recalling(
                decoded.iter().zip(&decisions).filter(|(_, d)| **d == Decision::Show).map(|(d, _)| &d.event),
            ),
            Shaping::Replay => self.opened.clone(),
        };
        let mut visible = Visible {
            // Events are large: grown by doubling, they were copied again and again.
            events: Vec::with_capacity(decoded.len()),
            policy_hash: policy.policy_hash().to_string(),
            ..Visible::default()
        };
        for (Decoded { position, key_id, mut event }, decision) in decoded.into_iter().zip(decisions) {
            // Withholdings are not counted: a reader who can read the metrics
            // would learn from the count how many events were kept from it.
            let outcome = match decision {
                Decision::Show => Some("show"),
                Decision::ShowRedacted => Some("show_redacted"),
                Decision::Withhold => None,
            };
            if let Some(outcome) = outcome {
                metrics::counter!(concord_core::metric::POLICY_DECISIONS, "outcome" => outcome).increment(1);
            }
            let mut erased = 0;
            let visibility = match decision {
                Decision::Withhold => {
                    visible.withheld += 1;
                    continue;
                }
                Decision::Show | Decision::ShowRedacted if shaping == Shaping::Replay => {
                    redact(&mut event);
                    pb::Visibility::Pseudonymised
                }
                Decision::Show => {
                    let unsealed = seal::unseal_remembering(&mut event, &keys, Some(&opened)).map_err(|e| {
                        storage_unavailable(format!("personal data of entry {position} cannot be unsealed: {e}"))
                    })?;
                    erased = u32::try_from(unsealed.unreadable).unwrap_or(u32::MAX);
                    pb::Visibility::Show
                }
                Decision::ShowRedacted => {
                    redact(&mut event);
                    pb::Visibility::ShowRedacted
                }
            };
            visible.events.push(pb::EventView {
                position,
                event: Some(event),
                visibility: visibility as i32,
                key_id,
                changes: Vec::new(),
                erased,
                superseded_by: String::new(),
                item_version: 0,
            });
        }
        Ok(visible)
    }
}

/// A stored entry, decoded.
#[derive(Debug)]
pub struct Decoded {
    /// Its position in the log.
    pub position: u64,
    /// The key its publisher signed it with.
    pub key_id: String,
    /// The event.
    pub event: pb::Event,
}

impl Decoded {
    /// Decodes the entry stored at `position`; a stored entry that does not
    /// decode makes the store unavailable.
    pub fn of(position: u64, bytes: &[u8]) -> Result<Self, Status> {
        let (signed, event) =
            decode_entry(bytes).map_err(|e| storage_unavailable(format!("entry {position} does not decode: {e}")))?;
        Ok(Decoded { position, key_id: signed.key_id, event })
    }
}

/// How decided events are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shaping {
    /// For a reader: shown (unsealed) or redacted as decided.
    Reader,
    /// For a replay: redacted whatever the decision, never unsealed.
    Replay,
}

/// Removes free text, identifiers and health detail (in every event type:
/// see [`withhold_health_detail`] for which fields are health detail).
pub fn redact(event: &mut pb::Event) {
    seal::redact(event);
    withhold_health_detail(event);
}
