//! Published briefings, kept in a key-value store.
//!
//! A published briefing keeps only where its events are in the log (and who
//! it was for, its window and counts), never their content: retrieving it
//! decides every event again for the reader, so a consent withdrawn or a
//! subject erased since publication applies, and no personal data
//! outlives its subject's key here.
//!
//! Keys: `briefing/id/<uuid>` holds the record (JSON);
//! `briefing/agency/<agency>\0<window end><uuid>` lists an agency's
//! briefings by the end of their window.

use std::sync::Arc;

use concord_core::{sortable_time, timestamp};
use concord_log::kv::{Kv, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::BriefingError;
use crate::assemble::Kept;

const BY_ID: &[u8] = b"briefing/id/";
const BY_AGENCY: &[u8] = b"briefing/agency/";

/// A published briefing as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// UUIDv7.
    pub briefing_id: String,
    /// The recipient agency.
    pub recipient: String,
    /// The window, in milliseconds: `[from, to)`.
    pub from: i64,
    /// End of the window.
    pub to: i64,
    /// Start of the history before the window.
    pub history_from: i64,
    /// When it was generated.
    pub generated_at: i64,
    /// Who asked, or the schedule.
    pub generated_by: String,
    /// Log positions of the window's events shown.
    pub window: Vec<u64>,
    /// Log positions of the history events counted.
    pub history: Vec<u64>,
    /// Log positions of the briefing item events the open actions came from.
    pub items: Vec<u64>,
    /// Groups, events and open actions as published.
    pub counts: (u32, u32, u32),
    /// The boroughs it covers (empty: every borough).
    #[serde(default)]
    pub boroughs: Vec<String>,
}

impl Published {
    /// The events kept, by part.
    pub fn kept(&self) -> Kept {
        Kept { window: self.window.clone(), history: self.history.clone(), items: self.items.clone() }
    }
}

/// One page of an agency's briefings and the key to continue after.
pub type Page = (Vec<Published>, Option<Vec<u8>>);

/// The store of published briefings.
pub struct BriefingStore {
    kv: Arc<dyn Kv>,
}

fn id_key(id: &uuid::Uuid) -> Vec<u8> {
    [BY_ID, id.as_bytes().as_slice()].concat()
}

fn agency_prefix(agency: &str) -> Vec<u8> {
    [BY_AGENCY, agency.as_bytes(), &[0]].concat()
}

fn time_value(ms: i64) -> [u8; 8] {
    sortable_time(&timestamp(ms))
}

fn parse_id(id: &str) -> Result<uuid::Uuid, BriefingError> {
    uuid::Uuid::parse_str(id).map_err(|e| BriefingError::Corrupt { key: id.to_string(), reason: e.to_string() })
}

impl BriefingStore {
    /// Briefings kept in `kv` (a store of their own, or one shared: keys
    /// start with `briefing/`).
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        BriefingStore { kv }
    }

    /// Stores `published` durably.
    pub fn put(&self, published: &Published) -> Result<(), BriefingError> {
        let id = parse_id(&published.briefing_id)?;
        let record = serde_json::to_vec(published)
            .map_err(|e| BriefingError::Corrupt { key: published.briefing_id.clone(), reason: e.to_string() })?;
        let mut batch = WriteBatch::new();
        batch.put(id_key(&id), record);
        let listing = [agency_prefix(&published.recipient), time_value(published.to).to_vec(), id.as_bytes().to_vec()];
        batch.put(listing.concat(), Vec::new());
        Ok(self.kv.commit(batch)?)
    }

    /// The briefing `id`, if stored.
    pub fn get(&self, id: &uuid::Uuid) -> Result<Option<Published>, BriefingError> {
        let Some(bytes) = self.kv.get(&id_key(id))? else { return Ok(None) };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BriefingError::Corrupt { key: id.to_string(), reason: e.to_string() })
    }

    /// `agency`'s briefings whose window ends in `[from, to)` (either open),
    /// oldest first, at most `limit`, continuing after the listing key
    /// `after` (from a previous page; it must be this agency's).
    pub fn list(
        &self,
        agency: &str,
        from: Option<i64>,
        to: Option<i64>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Page, BriefingError> {
        let prefix = agency_prefix(agency);
        let start = match after {
            Some(key) if key.starts_with(&prefix) => [key, &[0]].concat(),
            Some(key) => {
                return Err(BriefingError::Corrupt { key: hex::encode(key), reason: "not this agency's page".into() });
            }
            None => [prefix.as_slice(), &from.map(time_value).unwrap_or_default()].concat(),
        };
        let start = match from {
            Some(from) => start.max([prefix.as_slice(), &time_value(from)].concat()),
            None => start,
        };
        let end = match to {
            Some(to) => [prefix.as_slice(), &time_value(to)].concat(),
            None => [BY_AGENCY, agency.as_bytes(), &[1]].concat(),
        };
        let rows = self.kv.scan(&start, Some(&end), limit.saturating_add(1), false)?;
        let more = rows.len() > limit;
        let mut out = Vec::new();
        let mut last = None;
        for (key, _) in rows.into_iter().take(limit) {
            let id = key
                .get(key.len().saturating_sub(16)..)
                .and_then(|b| uuid::Uuid::from_slice(b).ok())
                .ok_or_else(|| BriefingError::Corrupt { key: hex::encode(&key), reason: "listing key".into() })?;
            let published = self.get(&id)?.ok_or_else(|| BriefingError::Corrupt {
                key: id.to_string(),
                reason: "listed but not stored".into(),
            })?;
            out.push(published);
            last = Some(key);
        }
        Ok((out, if more { last } else { None }))
    }

    /// Whether a briefing for `agency` whose window ends exactly at `to`,
    /// generated by `generated_by`, is stored.
    pub fn has_window_ending(&self, agency: &str, to: i64, generated_by: &str) -> Result<bool, BriefingError> {
        let (mut after, end) = (None, Some(to.saturating_add(1)));
        loop {
            let (page, next) = self.list(agency, Some(to), end, after.as_deref(), 100)?;
            if page.iter().any(|p| p.generated_by == generated_by) {
                return Ok(true);
            }
            match next {
                Some(next) => after = Some(next),
                None => return Ok(false),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_log::kv::Engine;

    fn published(agency: &str, to: i64) -> Published {
        Published {
            briefing_id: uuid::Uuid::now_v7().to_string(),
            recipient: agency.into(),
            from: to - 86_400_000,
            to,
            history_from: to - 400 * 86_400_000,
            generated_at: to + 1,
            generated_by: "tester".into(),
            window: vec![3, 5],
            history: vec![1],
            items: vec![],
            counts: (2, 2, 0),
            boroughs: vec!["Harrow".into()],
        }
    }

    #[test]
    fn briefings_are_kept_by_id_and_listed_per_agency_by_window_end() {
        for engine in Engine::ALL {
            let dir = tempfile::tempdir().unwrap();
            let store = BriefingStore::new(concord_log::kv::open(engine, dir.path()).unwrap());
            let day = 86_400_000;
            let briefings: Vec<Published> = (1..=5).map(|d| published("police.met.nw", d * day)).collect();
            for b in briefings.iter().rev() {
                store.put(b).unwrap();
            }
            store.put(&published("police.met.nwx", 3 * day)).unwrap();
            store.put(&published("yot.harrow", 3 * day)).unwrap();

            let id = uuid::Uuid::parse_str(&briefings[2].briefing_id).unwrap();
            assert_eq!(store.get(&id).unwrap().as_ref(), Some(&briefings[2]));
            assert_eq!(store.get(&uuid::Uuid::now_v7()).unwrap(), None);

            let ids = |page: &[Published]| page.iter().map(|p| p.to / day).collect::<Vec<_>>();
            let (all, more) = store.list("police.met.nw", None, None, None, 100).unwrap();
            assert_eq!((ids(&all), more), (vec![1, 2, 3, 4, 5], None), "another agency's are not listed");
            let (page, more) = store.list("police.met.nw", Some(2 * day), Some(5 * day), None, 2).unwrap();
            assert_eq!(ids(&page), [2, 3]);
            let (page, more) = store.list("police.met.nw", Some(2 * day), Some(5 * day), more.as_deref(), 2).unwrap();
            assert_eq!((ids(&page), more), (vec![4], None));
            let other = [agency_prefix("yot.harrow"), time_value(3 * day).to_vec()].concat();
            assert!(store.list("police.met.nw", None, None, Some(&other), 5).is_err(), "a page of another agency");
            assert!(store.has_window_ending("police.met.nw", 4 * day, "tester").unwrap());
            assert!(!store.has_window_ending("police.met.nw", 4 * day, "someone else").unwrap());
            assert!(!store.has_window_ending("police.met.nw", 4 * day + 1, "tester").unwrap());
        }
    }
}
