//! The directory: indexes the identities sealed in the log by keyed hashes
//! as the log grows, and answers searches with the subjects a reader may
//! see in full, best first.
//!
//! A subject is found only through identities in events the agreement lets
//! the reader see in full (`Decision::Show`): the reader could read those
//! very identifiers anyway. A subject the reader may see nothing about gives
//! no hit, and its absence changes nothing else in the answer: a reader
//! cannot tell it from a subject the directory does not hold. A duplicate
//! merged into another subject is found as the subject kept.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use concord_audit::access::{Tally, listed, shown};
use concord_core::SubjectId;
use concord_core::pb;
use concord_core::seal::SubjectKeys;
use concord_eventlog::{Cohort, Merges};
use concord_identity::Principal;
use concord_log::kv::Kv;
use concord_policy::Decision;
use concord_read::{Decoded, Views, storage_unavailable};
use tonic::Status;

use crate::candidates::gather;
use crate::index::{Index, Posting};
use crate::key::DirectoryKey;
use crate::newest::Newest;
use crate::profile::{Profile, Profiled};
use crate::query::Query;
use crate::score::score;
use crate::terms;

/// How many candidates are decided in one batch.
const BATCH: usize = 16;
/// How many log entries are indexed at a time.
const INDEX_BATCH: usize = 512;

/// What a search found, and what its access record lists.
#[derive(Debug, Default)]
pub struct Found {
    /// The subjects found, best first.
    pub hits: Vec<pb::DirectoryHit>,
    /// The events the hits were found through (by id, type and subjects).
    pub shown: Vec<pb::ShownEvent>,
    /// Entries decided and withheld on the way, and the agreement that decided.
    pub tally: Tally,
    /// The most a subject the search did not look at could score: one
    /// matching only terms too common to follow (0: none).
    pub missed_at_most: f64,
    /// The fields of those terms.
    pub too_common: Vec<pb::MatchField>,
}

/// A cohort's members and the newest events about them a reader may see.
#[derive(Debug, Default)]
pub struct CohortFeed {
    /// The members, as the cohort's events made them.
    pub members: Vec<pb::SubjectRef>,
    /// The newest events about them the reader may see, newest first.
    pub events: Vec<pb::EventView>,
    /// The events as the access record lists them.
    pub shown: Vec<pb::ShownEvent>,
    /// Entries decided and withheld on the way, and the agreement that decided.
    pub tally: Tally,
}

/// The partnership directory over one log.
pub struct Directory {
    views: Arc<Views>,
    index: Index,
    key: DirectoryKey,
    keys: Arc<dyn SubjectKeys>,
    /// Held while the index is written: one indexer moves the cursor at a
    /// time; true once the store's layout is checked.
    indexing: Mutex<bool>,
}

fn index_unavailable(e: crate::index::IndexError) -> Status {
    storage_unavailable(e)
}

impl Directory {
    /// A directory reading `views`' log, keeping its index in `kv`, hashing
    /// with `key`, and telling an erased subject (no key in `keys`) from others.
    pub fn new(views: Arc<Views>, kv: Arc<dyn Kv>, key: DirectoryKey, keys: Arc<dyn SubjectKeys>) -> Self {
        Directory { views, index: Index::new(kv), key, keys, indexing: Mutex::new(false) }
    }

    /// The key searches are hashed with (and recorded as).
    pub fn key(&self) -> &DirectoryKey {
        &self.key
    }

    /// Indexes the identities of up to `limit` log entries after those
    /// indexed so far; returns how many entries it went through (0: it has
    /// caught up with the log). Blocking.
    pub fn index_ahead(&self, limit: usize) -> Result<usize, Status> {
        let mut checked = self.indexing.lock().unwrap_or_else(PoisonError::into_inner);
        if !*checked {
            self.index.check_layout().map_err(index_unavailable)?;
            *checked = true;
        }
        let cursor = self.index.cursor().map_err(index_unavailable)?;
        let entries = self.views.log().read_from(cursor, limit).map_err(storage_unavailable)?;
        let Some(last) = entries.last().map(|e| e.position) else { return Ok(0) };
        let mut postings = Vec::new();
        for entry in &entries {
            let mut decoded = Decoded::of(entry.position, &entry.bytes)?;
            let event = &mut decoded.event;
            // Only identities are indexed: free text is not opened.
            event.sealed.retain(|s| s.part == pb::sealed::Part::Identity as i32);
            if event.sealed.is_empty() {
                continue;
            }
            // An erased subject's identity no longer opens: nothing is indexed.
            self.views.unseal(event)?;
            let identities = event.personal.take().map(|p| p.identities).unwrap_or_default();
            for identity in identities {
                let subject = event.subjects.iter().find(|s| s.key == identity.subject_key);
                let Some(subject) = subject.and_then(|s| SubjectId::from_ref(s).ok()) else { continue };
                for term in terms::of_identity(&identity) {
                    let token = self.key.token(term.label, &term.text);
                    postings.push(Posting { token, subject: subject.clone(), position: entry.position });
                }
            }
        }
        self.index.add(&postings, last).map_err(index_unavailable)?;
        Ok(entries.len())
    }

    /// Indexes everything the log holds now. Blocking.
    pub fn catch_up(&self) -> Result<(), Status> {
        while self.index_ahead(INDEX_BATCH)? > 0 {}
        Ok(())
    }

    /// Removes every entry about `subject` (it was erased); returns how
    /// many it had. Blocking.
    pub fn forget(&self, subject: &SubjectId) -> Result<usize, Status> {
        let _one = self.indexing.lock().unwrap_or_else(PoisonError::into_inner);
        self.index.forget(subject).map_err(index_unavailable)
    }

    /// The subjects matching `query` that `principal` may see in full
    /// through at least one matching identity, best first. The index is
    /// brought up to date first, so everything in the log now is found.
    /// Blocking.
    pub fn find(&self, principal: &Principal, query: &Query) -> Result<Found, Status> {
        self.catch_up()?;
        // A duplicate merged into another subject is found as that subject.
        let merges = Merges::read(self.views.log()).map_err(storage_unavailable)?;
        let candidates = gather(&self.index, &self.key, query, &merges).map_err(index_unavailable)?;
        let ranked = candidates.ranked;
        let mut found =
            Found { missed_at_most: candidates.missed_at_most, too_common: candidates.too_common, ..Found::default() };
        let mut listed_ids = BTreeSet::new();
        for batch in ranked.chunks(BATCH) {
            // Candidates come best first by what they could score: once
            // `limit` hits score at least that, no later one can displace them.
            if found.hits.len() >= query.limit {
                let mut scores: Vec<f64> = found.hits.iter().map(|h| h.score).collect();
                scores.sort_by(|a, b| b.total_cmp(a));
                if scores[query.limit - 1] >= batch[0].0 {
                    break;
                }
            }
            let positions: BTreeSet<u64> = batch.iter().flat_map(|(_, _, m)| m.iter().map(|(_, p)| *p)).collect();
            let positions: Vec<u64> = positions.into_iter().collect();
            let decoded = self
                .views
                .stored_many(&positions)?
                .into_iter()
                .map(|(position, bytes)| Decoded::of(position, &bytes))
                .collect::<Result<Vec<_>, _>>()?;
            let (decisions, policy_hash) = self.views.decisions(principal, &decoded)?;
            let shown: HashMap<u64, &pb::Event> = decoded
                .iter()
                .zip(&decisions)
                .filter(|(_, d)| **d == Decision::Show)
                .map(|(d, _)| (d.position, &d.event))
                .collect();
            found.tally.add(decoded.len() - shown.len(), &policy_hash);
            for (_, subject, matches) in batch {
                let visible: Vec<&(usize, u64)> = matches.iter().filter(|(_, p)| shown.contains_key(p)).collect();
                let matched: Vec<usize> = visible.iter().map(|(i, _)| *i).collect();
                let Some((score, reasons)) = score(query, &matched) else { continue };
                found.hits.push(pb::DirectoryHit { subject: Some(subject.to_ref()), score, reasons });
                for (_, position) in visible {
                    let event = shown[position];
                    if listed_ids.insert(event.event_id.clone()) {
                        found.shown.push(listed(event, pb::Visibility::Show as i32));
                    }
                }
            }
        }
        found.hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        // The best hits, but not an erased subject's (whose entries go now).
        let mut hits = Vec::with_capacity(query.limit);
        for hit in std::mem::take(&mut found.hits) {
            let Some(subject) = hit.subject.as_ref().and_then(|s| SubjectId::from_ref(s).ok()) else { continue };
            if hits.len() < query.limit && !self.erased(&subject)? {
                hits.push(hit);
            }
        }
        found.hits = hits;
        let kept: Vec<&pb::SubjectRef> = found.hits.iter().filter_map(|h| h.subject.as_ref()).collect();
        found.shown.retain(|e| e.subjects.iter().any(|s| kept.contains(&s)));
        Ok(found)
    }

    /// Subjects likely to be `subject`, best first: for each name (with its
    /// date of birth) of `subject` in events `principal` may see in full, a
    /// search by them, without `subject` itself and what was merged into it.
    /// The events whose identities were read are listed as shown. Blocking.
    pub fn duplicates(&self, principal: &Principal, subject: &SubjectId, limit: usize) -> Result<Found, Status> {
        let stream = self.views.log().stream(&subject.stream(), 0, usize::MAX).map_err(storage_unavailable)?;
        let positions: Vec<u64> = stream.into_iter().map(|(_, position)| position).collect();
        let visible = self.views.load(principal, &positions)?;
        let mut found = Found::default();
        found.tally.add(visible.withheld, &visible.policy_hash);
        let mut searches = BTreeSet::new();
        for view in visible.events.iter().filter(|v| v.visibility == pb::Visibility::Show as i32) {
            let Some(event) = &view.event else { continue };
            let identities = event.personal.iter().flat_map(|p| &p.identities);
            let named: Vec<&pb::Identity> =
                identities.filter(|i| i.subject_key == subject.key() && !i.name.trim().is_empty()).collect();
            if !named.is_empty() {
                found.shown.push(listed(event, view.visibility));
            }
            searches.extend(named.into_iter().map(|i| (i.name.clone(), i.date_of_birth.clone())));
        }
        let kept = Merges::read(self.views.log()).map_err(storage_unavailable)?.kept(subject);
        let mut best: HashMap<SubjectId, pb::DirectoryHit> = HashMap::new();
        for (name, date_of_birth) in searches {
            let request = pb::FindRequest {
                kind: subject.kind() as i32,
                name,
                date_of_birth,
                limit: limit as u32,
                ..Default::default()
            };
            // A date of birth recorded malformed is left out of the search.
            let without_date = pb::FindRequest { date_of_birth: String::new(), ..request.clone() };
            let Ok(query) = Query::from_request(&request).or_else(|_| Query::from_request(&without_date)) else {
                continue;
            };
            let more = self.find(principal, &query)?;
            found.tally.add(more.tally.withheld, &more.tally.policy_hash);
            found.missed_at_most = found.missed_at_most.max(more.missed_at_most);
            found.too_common.extend(more.too_common);
            found.shown.extend(more.shown);
            for hit in more.hits {
                let Some(other) = hit.subject.as_ref().and_then(|s| SubjectId::from_ref(s).ok()) else { continue };
                let better = best.get(&other).is_none_or(|b| b.score < hit.score);
                if other != kept && better {
                    best.insert(other, hit);
                }
            }
        }
        found.too_common.sort();
        found.too_common.dedup();
        found.hits = best.into_values().collect();
        found.hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        found.hits.truncate(limit);
        let mut seen = BTreeSet::new();
        found.shown.retain(|e| seen.insert(e.event_id.clone()));
        Ok(found)
    }

    /// `subject`'s profile as `principal` may see it, from its events and
    /// those of every subject merged into it; `None` if the reader may see
    /// nothing about it (as for a subject nobody holds). Blocking.
    pub fn profile(&self, principal: &Principal, subject: &SubjectId) -> Result<Profiled, Status> {
        let merges = Merges::read(self.views.log()).map_err(storage_unavailable)?;
        let merged = merges.duplicates_of(subject);
        let mut profile = Profile::new(subject, &merges.kept(subject), &merged);
        for s in std::iter::once(subject).chain(&merged) {
            let stream = self.views.log().stream(&s.stream(), 0, usize::MAX).map_err(storage_unavailable)?;
            let positions: Vec<u64> = stream.into_iter().map(|(_, position)| position).collect();
            let visible = self.views.load(principal, &positions)?;
            profile.tally.add(visible.withheld, &visible.policy_hash);
            profile.add(&visible.events, &[s.key()]);
        }
        Ok(profile.finish())
    }

    /// The members of `principal`'s agency's cohort `name` now, and the
    /// newest `newest` events about them (as merges make them now) that
    /// `principal` may see, newest first, each once. Each member's stream
    /// (and its duplicates') is read back only as far as needed; an event
    /// withheld is passed over, so it changes nothing else shown. Blocking.
    pub fn cohort(&self, principal: &Principal, name: &str, newest: usize) -> Result<CohortFeed, Status> {
        let log = self.views.log();
        let cohort = Cohort::read(log, &principal.agency, name, log.size()).map_err(storage_unavailable)?;
        let mut feed =
            CohortFeed { members: cohort.members().map(SubjectId::to_ref).collect(), ..CohortFeed::default() };
        if newest == 0 {
            return Ok(feed);
        }
        let merges = Merges::read(log).map_err(storage_unavailable)?;
        let kept: BTreeSet<SubjectId> = cohort.members().map(|m| merges.kept(m)).collect();
        let subjects: BTreeSet<SubjectId> =
            kept.iter().flat_map(|k| std::iter::once(k.clone()).chain(merges.duplicates_of(k))).collect();
        let mut positions = Newest::of(log, subjects)?;
        while feed.events.len() < newest {
            // At least a batch at a time: many withheld cost few reads.
            let batch = positions.take((newest - feed.events.len()).max(BATCH))?;
            if batch.is_empty() {
                break;
            }
            let visible = self.views.load(principal, &batch)?;
            feed.tally.add(visible.withheld, &visible.policy_hash);
            feed.events.extend(visible.events);
        }
        feed.events.truncate(newest);
        feed.shown = feed.events.iter().flat_map(shown).collect();
        Ok(feed)
    }

    /// Whether `subject` was erased (its key destroyed): its entries are
    /// removed now if an erasure on another replica left them here.
    fn erased(&self, subject: &SubjectId) -> Result<bool, Status> {
        let has_key = self.keys.data_key(subject).map_err(storage_unavailable)?.is_some();
        if !has_key {
            self.forget(subject)?;
        }
        Ok(!has_key)
    }
}
