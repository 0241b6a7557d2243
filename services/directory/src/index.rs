//! The directory's index in its own key-value store: for each token, the
//! subjects indexed under it and the log position of the event that said
//! so; for each subject, its tokens (so erasure removes them all); and how
//! far through the log it has indexed. Only tokens and pseudonymous keys
//! are stored: no name, date or identifier in plaintext.
//!
//! Rows (`|` is concatenation, positions are big-endian u64):
//! - `p | token | subject | 0 | position` → empty: a posting;
//! - `s | subject | 0 | token | position` → empty: the same, by subject;
//! - `c` → position: the last log entry indexed.

use std::sync::Arc;

use concord_core::SubjectId;
use concord_log::kv::{Kv, KvError, WriteBatch};

use crate::key::Token;

const POSTING: u8 = b'p';
const BY_SUBJECT: u8 = b's';
const CURSOR: &[u8] = b"c";

/// One entry of the index: `subject` is known under `token` by the event at `position`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// The keyed hash of a term.
    pub token: Token,
    /// The subject.
    pub subject: SubjectId,
    /// The log position of the event that identified the subject so.
    pub position: u64,
}

/// Why the index could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The store failed.
    #[error("the directory store is unavailable: {0}")]
    Store(#[from] KvError),
    /// A stored row does not parse.
    #[error("the directory store holds a damaged row: {0}")]
    Corrupt(String),
}

/// The index over a key-value store.
pub struct Index {
    kv: Arc<dyn Kv>,
}

fn posting_key(token: &Token, subject: &str, position: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 16 + subject.len() + 1 + 8);
    key.push(POSTING);
    key.extend_from_slice(&token.0);
    key.extend_from_slice(subject.as_bytes());
    key.push(0);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

fn subject_prefix(subject: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + subject.len() + 1 + 16 + 8);
    key.push(BY_SUBJECT);
    key.extend_from_slice(subject.as_bytes());
    key.push(0);
    key
}

/// The key just past every key starting with `prefix`.
fn end_of(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    end.push(0xff);
    end
}

fn position_of(bytes: &[u8]) -> Result<u64, IndexError> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| IndexError::Corrupt("a position is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(bytes))
}

impl Index {
    /// The index kept in `kv`.
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Index { kv }
    }

    /// The last log position indexed (0: none).
    pub fn cursor(&self) -> Result<u64, IndexError> {
        self.kv.get(CURSOR)?.map_or(Ok(0), |bytes| position_of(&bytes))
    }

    /// Adds `postings` and moves the cursor to `cursor`, together (one
    /// durable batch).
    pub fn add(&self, postings: &[Posting], cursor: u64) -> Result<(), IndexError> {
        let mut batch = WriteBatch::new();
        for p in postings {
            let subject = p.subject.stream();
            batch.put(posting_key(&p.token, &subject, p.position), Vec::new());
            let mut by_subject = subject_prefix(&subject);
            by_subject.extend_from_slice(&p.token.0);
            by_subject.extend_from_slice(&p.position.to_be_bytes());
            batch.put(by_subject, Vec::new());
        }
        batch.put(CURSOR.to_vec(), cursor.to_be_bytes().to_vec());
        Ok(self.kv.commit(batch)?)
    }

    /// The subjects indexed under `token`, with the positions that said
    /// so, at most `limit`.
    pub fn postings(&self, token: &Token, limit: usize) -> Result<Vec<(SubjectId, u64)>, IndexError> {
        let mut prefix = vec![POSTING];
        prefix.extend_from_slice(&token.0);
        let rows = self.kv.scan(&prefix, Some(&end_of(&prefix)), limit, false)?;
        rows.into_iter()
            .map(|(key, _)| {
                let rest = &key[prefix.len()..];
                let split = rest.len().checked_sub(9).filter(|i| rest[*i] == 0);
                let split = split.ok_or_else(|| IndexError::Corrupt("a posting without a position".into()))?;
                let subject = std::str::from_utf8(&rest[..split])
                    .ok()
                    .and_then(|s| SubjectId::parse(s).ok())
                    .ok_or_else(|| IndexError::Corrupt("a posting's subject does not parse".into()))?;
                Ok((subject, position_of(&rest[split + 1..])?))
            })
            .collect()
    }

    /// Removes every entry about `subject`; returns how many postings it had.
    pub fn forget(&self, subject: &SubjectId) -> Result<usize, IndexError> {
        let stream = subject.stream();
        let prefix = subject_prefix(&stream);
        let rows = self.kv.scan(&prefix, Some(&end_of(&prefix)), usize::MAX, false)?;
        let mut batch = WriteBatch::new();
        for (key, _) in &rows {
            let rest = &key[prefix.len()..];
            let token: [u8; 16] = rest
                .get(..16)
                .and_then(|t| t.try_into().ok())
                .ok_or_else(|| IndexError::Corrupt("a subject's row without a token".into()))?;
            let position = position_of(&rest[16..])?;
            batch.delete(posting_key(&Token(token), &stream, position));
            batch.delete(key.clone());
        }
        if !batch.is_empty() {
            self.kv.commit(batch)?;
        }
        Ok(rows.len())
    }
}

#[cfg(test)]
mod tests {
    use concord_log::kv::{Engine, open};

    use super::*;

    #[test]
    fn postings_are_found_by_token_and_forgotten_by_subject() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::new(open(Engine::Redb, dir.path()).unwrap());
        assert_eq!(index.cursor().unwrap(), 0);
        let (a, b) = (SubjectId::parse("person/P-1").unwrap(), SubjectId::parse("person/P-12").unwrap());
        let (t1, t2) = (Token([1; 16]), Token([2; 16]));
        let posting = |token, subject: &SubjectId, position| Posting { token, subject: subject.clone(), position };
        index.add(&[posting(t1, &a, 3), posting(t1, &b, 4), posting(t2, &a, 3)], 4).unwrap();
        assert_eq!(index.cursor().unwrap(), 4);
        assert_eq!(index.postings(&t1, 10).unwrap(), vec![(a.clone(), 3), (b.clone(), 4)]);
        assert_eq!(index.postings(&t1, 1).unwrap().len(), 1);
        assert_eq!(index.forget(&a).unwrap(), 2);
        assert_eq!(index.postings(&t1, 10).unwrap(), vec![(b, 4)]);
        assert!(index.postings(&t2, 10).unwrap().is_empty());
        assert_eq!(index.forget(&a).unwrap(), 0);
    }
}
