//! Turning stored entries into what one reader may see.
//!
//! Entries are decoded, decided in one batch by the policy, then shown
//! (personal data unsealed), redacted (personal data and health detail
//! removed) or dropped. Only shown events are ever unsealed.

use std::sync::Arc;

use concord_core::pb;
use concord_core::seal::{self, SubjectKeys};
use concord_identity::Principal;
use concord_ledger::index::decode_entry;
use concord_log::log::Log;
use tonic::Status;

use crate::policy::{Decision, Policy};

/// Everything needed to show events to readers.
pub struct Views {
    log: Arc<Log>,
    policy: Arc<dyn Policy>,
    keys: Arc<dyn SubjectKeys>,
}

/// The visible part of a batch of entries.
#[derive(Debug, Default)]
pub struct Visible {
    /// Events shown, in the order asked.
    pub events: Vec<pb::EventView>,
    /// How many were withheld.
    pub withheld: usize,
}

/// A log or store failure while reading, as a gRPC status.
pub fn storage_unavailable(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "read failed");
    Status::unavailable(format!("the event store is unavailable: {e}"))
}

impl Views {
    /// Views over a log, deciding with `policy` and unsealing with `keys`.
    pub fn new(log: Arc<Log>, policy: Arc<dyn Policy>, keys: Arc<dyn SubjectKeys>) -> Self {
        Views { log, policy, keys }
    }

    /// The log read from.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// The policy deciding.
    pub fn policy(&self) -> &Arc<dyn Policy> {
        &self.policy
    }

    /// Loads the entries at `positions` and returns what `principal` may see.
    pub fn load(&self, principal: &Principal, positions: &[u64]) -> Result<Visible, Status> {
        let mut stored = Vec::with_capacity(positions.len());
        for &position in positions {
            let entry = self
                .log
                .get(position)
                .map_err(storage_unavailable)?
                .ok_or_else(|| storage_unavailable(format!("position {position} is missing")))?;
            stored.push((position, entry.bytes));
        }
        self.decide(principal, stored)
    }

    /// Decides and shapes already-read entries `(position, bytes)`.
    pub fn decide(&self, principal: &Principal, stored: Vec<(u64, Vec<u8>)>) -> Result<Visible, Status> {
        let mut decoded = Vec::with_capacity(stored.len());
        for (position, bytes) in stored {
            let (signed, event) = decode_entry(&bytes)
                .map_err(|e| storage_unavailable(format!("entry {position} does not decode: {e}")))?;
            decoded.push((position, signed.key_id, event));
        }
        let refs: Vec<&pb::Event> = decoded.iter().map(|(_, _, e)| e).collect();
        let decisions = self.policy.decide(principal, &refs);
        let mut visible = Visible::default();
        for ((position, key_id, mut event), decision) in decoded.into_iter().zip(decisions) {
            let visibility = match decision {
                Decision::Withhold => {
                    visible.withheld += 1;
                    continue;
                }
                Decision::Show => {
                    seal::unseal(&mut event, self.keys.as_ref()).map_err(|e| {
                        storage_unavailable(format!("personal data of entry {position} cannot be unsealed: {e}"))
                    })?;
                    pb::Visibility::Show
                }
                Decision::ShowRedacted => {
                    redact(&mut event);
                    pb::Visibility::ShowRedacted
                }
            };
            visible.events.push(pb::EventView { position, event: Some(event), visibility: visibility as i32, key_id });
        }
        Ok(visible)
    }
}

/// Removes free text, identifiers and health detail.
pub fn redact(event: &mut pb::Event) {
    seal::redact(event);
    if let Some(pb::event::Body::CamhsContact(contact)) = &mut event.body {
        // The reader learns that a contact exists, not what it was.
        *contact = pb::CamhsContact::default();
    }
}
