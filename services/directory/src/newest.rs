//! The newest entries of several subjects' streams, newest first: each
//! stream is read back from its last version a chunk at a time, only as far
//! as asked, never whole.

use std::collections::BinaryHeap;

use concord_core::SubjectId;
use concord_log::log::Log;
use concord_read::storage_unavailable;
use tonic::Status;

/// Stream entries read at a time.
const CHUNK: u64 = 64;

/// One stream, read backwards.
struct Backwards {
    stream: String,
    /// Versions below this one are not read yet (1 is a stream's first).
    below: u64,
    /// Positions read and not yet taken, ascending (taken from the end).
    read: Vec<u64>,
}

impl Backwards {
    /// The stream's next position going back, reading a chunk if needed.
    fn next(&mut self, log: &Log) -> Result<Option<u64>, Status> {
        if self.read.is_empty() && self.below > 1 {
            let after = self.below.saturating_sub(1 + CHUNK);
            let limit = usize::try_from(self.below - 1 - after).unwrap_or(usize::MAX);
            let chunk = log.stream(&self.stream, after, limit).map_err(storage_unavailable)?;
            self.read = chunk.into_iter().map(|(_, position)| position).collect();
            self.below = after + 1;
        }
        Ok(self.read.pop())
    }
}

/// The positions of some subjects' events, newest (highest) first, each
/// once even when it is in several of their streams.
pub struct Newest<'a> {
    log: &'a Log,
    streams: Vec<Backwards>,
    /// The next position of each stream not yet taken: (position, stream).
    heads: BinaryHeap<(u64, usize)>,
    last: Option<u64>,
}

impl<'a> Newest<'a> {
    /// The events about `subjects` in `log`, from the newest. Blocking.
    pub fn of(log: &'a Log, subjects: impl IntoIterator<Item = SubjectId>) -> Result<Self, Status> {
        let mut newest = Newest { log, streams: Vec::new(), heads: BinaryHeap::new(), last: None };
        for subject in subjects {
            let stream = subject.stream();
            let version = log.stream_version(&stream).map_err(storage_unavailable)?;
            let mut backwards = Backwards { stream, below: version.saturating_add(1), read: Vec::new() };
            if let Some(position) = backwards.next(log)? {
                newest.heads.push((position, newest.streams.len()));
            }
            newest.streams.push(backwards);
        }
        Ok(newest)
    }

    /// Up to `limit` more positions, newest first (none: all were taken).
    /// Blocking.
    pub fn take(&mut self, limit: usize) -> Result<Vec<u64>, Status> {
        let mut positions = Vec::with_capacity(limit);
        while positions.len() < limit {
            let Some((position, stream)) = self.heads.pop() else { break };
            if let Some(next) = self.streams[stream].next(self.log)? {
                self.heads.push((next, stream));
            }
            if self.last != Some(position) {
                self.last = Some(position);
                positions.push(position);
            }
        }
        Ok(positions)
    }
}

#[cfg(test)]
mod tests {
    use concord_core::sign::load_or_create_signing_key;
    use concord_log::kv::{self, Engine};
    use concord_log::log::NewEntry;

    use super::*;

    /// Entries 1..=150: odd ones in `person/P-a`'s stream, multiples of
    /// three in `person/P-b`'s (some in both), the rest in neither.
    #[test]
    fn several_streams_come_newest_first_each_entry_once() {
        let dir = tempfile::tempdir().unwrap();
        let signer = load_or_create_signing_key(&dir.path().join("key")).unwrap();
        let log =
            Log::open(kv::open(Engine::Redb, &dir.path().join("log")).unwrap(), "concord.test/n", signer).unwrap();
        let (a, b): (SubjectId, SubjectId) = ("person/P-a".parse().unwrap(), "person/P-b".parse().unwrap());
        let mut expected = Vec::new();
        for i in 1..=150u64 {
            let mut streams = Vec::new();
            if i % 2 == 1 {
                streams.push(a.stream());
            }
            if i % 3 == 0 {
                streams.push(b.stream());
            }
            if !streams.is_empty() {
                expected.push(i);
            }
            let mut id = [0; 16];
            id[..8].copy_from_slice(&i.to_be_bytes());
            let entry = NewEntry { id, bytes: vec![1], streams, expected: vec![], indexes: vec![] };
            log.append_batch(vec![entry]).unwrap().pop().unwrap().unwrap();
        }
        expected.reverse();
        let mut newest = Newest::of(&log, [a.clone(), b.clone()]).unwrap();
        let mut taken = Vec::new();
        loop {
            let some = newest.take(7).unwrap();
            if some.is_empty() {
                break;
            }
            assert!(some.len() == 7 || taken.len() + some.len() == expected.len());
            taken.extend(some);
        }
        assert_eq!(taken, expected);
        // Asked for three, three: the newest.
        assert_eq!(Newest::of(&log, [a, b]).unwrap().take(3).unwrap(), [150, 149, 147]);
        // A subject with no stream gives nothing.
        assert!(Newest::of(&log, ["person/P-none".parse().unwrap()]).unwrap().take(5).unwrap().is_empty());
    }
}
