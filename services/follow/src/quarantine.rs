//! Quarantine: where messages a follower will not apply go, with a reason.
//!
//! Garbage on the bus is never fatal. Each refused message is kept (its first
//! 64 KiB) in its own key-value store for investigation, counted by reason and
//! logged once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use concord_log::kv::{Kv, KvError, WriteBatch};
use serde::{Deserialize, Serialize};

/// How much of a refused payload is kept.
const KEEP_BYTES: usize = 64 * 1024;

/// One quarantined message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Quarantined {
    /// When it was refused (RFC 3339).
    pub at: String,
    /// Stable reason code, e.g. `bad_signature`.
    pub reason: String,
    /// The full explanation.
    pub detail: String,
    /// The subject it came on.
    pub subject: String,
    /// Its size in bytes.
    pub size: usize,
    /// Its first bytes, base64.
    pub payload: String,
}

/// The quarantine store and its counters.
pub struct Quarantine {
    kv: Arc<dyn Kv>,
    counts: Mutex<BTreeMap<String, u64>>,
    next: Mutex<u64>,
}

const PREFIX: &[u8] = b"q/";

impl Quarantine {
    /// Opens the quarantine over its own store.
    pub fn open(kv: Arc<dyn Kv>) -> Result<Self, KvError> {
        let last = kv.scan(PREFIX, Some(b"q0"), 1, true)?;
        let next = last
            .first()
            .and_then(|(k, _)| k.get(PREFIX.len()..)?.try_into().ok())
            .map(|b: [u8; 8]| u64::from_be_bytes(b) + 1)
            .unwrap_or(0);
        Ok(Quarantine { kv, counts: Mutex::default(), next: Mutex::new(next) })
    }

    /// Keeps a refused message and counts it. Logs one line with the reason.
    pub fn add(&self, reason: &str, detail: &str, subject: &str, payload: &[u8]) -> Result<(), KvError> {
        tracing::warn!(reason, detail, subject, size = payload.len(), "quarantined a message");
        let record = Quarantined {
            at: jiff::Timestamp::now().to_string(),
            reason: reason.to_string(),
            detail: detail.to_string(),
            subject: subject.chars().take(512).collect(),
            size: payload.len(),
            payload: B64.encode(&payload[..payload.len().min(KEEP_BYTES)]),
        };
        let value = serde_json::to_vec(&record).unwrap_or_default();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = PREFIX.to_vec();
        key.extend_from_slice(&next.to_be_bytes());
        let mut batch = WriteBatch::default();
        batch.put(key, value);
        self.kv.commit(batch)?;
        *next += 1;
        *self.counts.lock().unwrap_or_else(|e| e.into_inner()).entry(reason.to_string()).or_default() += 1;
        Ok(())
    }

    /// Messages quarantined since start, by reason.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The most recent quarantined messages, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<Quarantined>, KvError> {
        Ok(self
            .kv
            .scan(PREFIX, Some(b"q0"), limit, true)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect())
    }
}
